"""EmoBox's published folds of a corpus, as our fold/split CSV (``serlib split --protocol emobox``).

EmoBox (github.com/emo-box/EmoBox) publishes, per corpus, the files
``data/<corpus>/fold_<k>/<corpus>_{train,test}_fold_<k>.jsonl``: one JSON object a line with
the keys ``key`` (``"<corpus>-<file stem>"``), ``wav``, ``emo``, ``length``, ``sample_rate``,
``channel`` and ``dataset``. :func:`emobox_folds` maps every entry to the manifest utterance
with the same audio file stem, and turns fold ``k`` (numbered 0..K-1 here, in EmoBox's fold
order) into train/dev/test: EmoBox's test part is our test part, and a dev part (stratified by
label, seeded, :data:`DEV_FRACTION` of it) is taken from EmoBox's training part.

The result has the columns of :data:`EMOBOX_COLUMNS`, one row per utterance and fold it belongs
to, and is saved beside the manifest as ``<manifest stem>.split-emobox-seed<k>.csv`` (the format
shared with the other cross-validation protocols). The labels are the manifest's canonical ones.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import pandas as pd
from sklearn.model_selection import train_test_split

from serlib.common.errors import SerlibError
from serlib.common.files import write_csv_atomically
from serlib.data.corpora.manifest import read_manifest

EMOBOX_COLUMNS = ("utterance_id", "speaker", "label", "fold", "split")
DEV_FRACTION = 0.2
EXAMPLES_SHOWN = 5
FOLD_FOLDER = re.compile(r"fold_(\d+)")


@dataclass
class EmoBoxFolds:
    """The folds as a table plus what a user should know about them.

    ``untested`` lists manifest utterances that no fold tests (not in any EmoBox test file);
    ``speaker_independent`` says whether every fold keeps its test speakers out of training;
    ``shared_speakers`` gives, per fold, how many test speakers also appear in its training part.
    """

    table: pd.DataFrame
    corpus: str
    untested: list[str] = field(default_factory=list)
    speaker_independent: bool = True
    shared_speakers: dict[int, int] = field(default_factory=dict)

    def summary(self) -> str:
        """A few lines for the terminal: folds, sizes, speaker independence, untested utterances."""
        lines = []
        for fold, part in self.table.groupby("fold", sort=True):
            sizes = part["split"].value_counts()
            lines.append(f"  fold {fold}: train {sizes.get('train', 0)}, dev {sizes.get('dev', 0)}, "
                         f"test {sizes.get('test', 0)}")
        if self.speaker_independent:
            lines.append(f"  the {self.corpus} folds are speaker-independent "
                         "(no test speaker in its fold's training part)")
        else:
            shared = ", ".join(f"fold {fold}: {count}" for fold, count in self.shared_speakers.items()
                               if count)
            lines.append(f"  the {self.corpus} folds are NOT speaker-independent: test speakers also "
                         f"in training ({shared}); compare only with results on the same folds")
        if self.untested:
            shown = ", ".join(self.untested[:EXAMPLES_SHOWN])
            more = f" and {len(self.untested) - EXAMPLES_SHOWN} more" if len(self.untested) > EXAMPLES_SHOWN else ""
            lines.append(f"  {len(self.untested)} manifest utterance(s) are tested by no fold: {shown}{more}")
        return "\n".join(lines)


def emobox_path(manifest_path: str | Path, seed: int) -> Path:
    """``<manifest stem>.split-emobox-seed<k>.csv`` next to the manifest."""
    manifest_path = Path(manifest_path)
    return manifest_path.with_name(f"{manifest_path.stem}.split-emobox-seed{seed}.csv")


def emobox_folds(
    manifest: pd.DataFrame,
    emobox_data: str | Path,
    corpus: str | None = None,
    seed: int = 0,
    dev_fraction: float = DEV_FRACTION,
) -> EmoBoxFolds:
    """Map EmoBox's folds of ``corpus`` (default: the manifest's corpus) onto ``manifest``."""
    corpus = corpus or _manifest_corpus(manifest)
    fold_files = _fold_files(Path(emobox_data), corpus)
    utterance_of_stem = _utterances_by_stem(manifest)
    by_id = manifest.set_index("utterance_id")
    rows, tested = [], set()
    for fold, (train_file, test_file) in enumerate(fold_files):
        train_ids = _matched_ids(train_file, utterance_of_stem)
        test_ids = _matched_ids(test_file, utterance_of_stem)
        tested.update(test_ids)
        train_ids, dev_ids = _dev_from_train(train_ids, by_id, seed, dev_fraction, train_file)
        for split, ids in (("train", train_ids), ("dev", dev_ids), ("test", test_ids)):
            rows.extend({"utterance_id": uid, "speaker": by_id.at[uid, "speaker"],
                         "label": by_id.at[uid, "label"], "fold": fold, "split": split} for uid in ids)
    table = pd.DataFrame(rows, columns=list(EMOBOX_COLUMNS))
    shared = {
        fold: len(set(part.loc[part["split"] != "test", "speaker"])
                  & set(part.loc[part["split"] == "test", "speaker"]))
        for fold, part in table.groupby("fold", sort=True)
    }
    return EmoBoxFolds(
        table=table,
        corpus=corpus,
        untested=sorted(set(manifest["utterance_id"]) - tested),
        speaker_independent=not any(shared.values()),
        shared_speakers=shared,
    )


def load_or_create_emobox_split(
    manifest_path: str | Path, emobox_data: str | Path, corpus: str | None = None, seed: int = 0
) -> EmoBoxFolds:
    """Build the EmoBox folds of a manifest file and save them beside it (rebuilt on every call,
    since EmoBox's files may change; the result is deterministic for a seed)."""
    folds = emobox_folds(read_manifest(manifest_path), emobox_data, corpus=corpus, seed=seed)
    write_csv_atomically(folds.table, emobox_path(manifest_path, seed))
    return folds


def _manifest_corpus(manifest: pd.DataFrame) -> str:
    corpora = sorted(set(manifest["corpus"]))
    if len(corpora) != 1:
        raise SerlibError(f"the manifest holds the corpora {corpora}; EmoBox folds are per corpus, "
                          "so pass one corpus's manifest or name the EmoBox corpus (--emobox-corpus)")
    return corpora[0]


def _fold_files(data: Path, corpus: str) -> list[tuple[Path, Path]]:
    """(train, test) jsonl files of each fold, in fold order; missing files raise SerlibError."""
    folder = data / corpus
    if not folder.is_dir():
        available = sorted(p.name for p in data.iterdir() if p.is_dir()) if data.is_dir() else []
        raise SerlibError(
            f"no EmoBox folder {folder}; pass --emobox-data PATH/TO/EmoBox/data (the folder that "
            f"holds one folder per corpus; found: {', '.join(available) or 'nothing'}) and, if "
            "EmoBox names the corpus differently, --emobox-corpus NAME"
        )
    numbers = sorted(int(m.group(1)) for p in folder.iterdir()
                     if p.is_dir() and (m := FOLD_FOLDER.fullmatch(p.name)))
    if not numbers:
        raise SerlibError(f"EmoBox folder {folder} holds no fold_<k> folders")
    pairs = []
    for number in numbers:
        pair = tuple(folder / f"fold_{number}" / f"{corpus}_{part}_fold_{number}.jsonl"
                     for part in ("train", "test"))
        missing = [str(path) for path in pair if not path.is_file()]
        if missing:
            raise SerlibError(f"EmoBox fold file(s) missing: {', '.join(missing)}; "
                              "get the complete data/ folder of EmoBox")
        pairs.append(pair)
    return pairs


def _utterances_by_stem(manifest: pd.DataFrame) -> dict[str, str]:
    stems = manifest["utterance_id"].map(lambda uid: PurePath(uid).name)
    duplicated = sorted(set(stems[stems.duplicated()]))
    if duplicated:
        raise SerlibError(
            f"the manifest has several utterances with the same file stem ({', '.join(duplicated[:EXAMPLES_SHOWN])}), "
            "so EmoBox entries cannot be matched by file stem; use a manifest of one corpus"
        )
    return dict(zip(stems, manifest["utterance_id"]))


def _matched_ids(path: Path, utterance_of_stem: dict[str, str]) -> list[str]:
    """The manifest utterance ids of a fold file's entries; any unmatched entry raises."""
    ids, unmatched = [], []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                stem = PurePath(str(entry["wav"]).replace("\\", "/")).stem
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise SerlibError(f"{path} line {line_number}: not an EmoBox entry ({error!r}); "
                                  "each line must be a JSON object with 'key' and 'wav'") from None
            if stem in utterance_of_stem:
                ids.append(utterance_of_stem[stem])
            else:
                unmatched.append(str(entry.get("key", stem)))
    if unmatched:
        shown = ", ".join(unmatched[:EXAMPLES_SHOWN])
        more = f" and {len(unmatched) - EXAMPLES_SHOWN} more" if len(unmatched) > EXAMPLES_SHOWN else ""
        raise SerlibError(
            f"{len(unmatched)} entr(ies) of {path} match no manifest utterance by file stem: "
            f"{shown}{more}. Build the manifest from the complete corpus (the same files EmoBox uses)"
        )
    return ids


def _dev_from_train(
    train_ids: list[str], by_id: pd.DataFrame, seed: int, dev_fraction: float, source: Path
) -> tuple[list[str], list[str]]:
    labels = by_id.loc[train_ids, "label"].to_numpy()
    try:
        train, dev = train_test_split(train_ids, test_size=dev_fraction, stratify=labels,
                                      random_state=seed)
    except ValueError as error:
        raise SerlibError(f"cannot take a stratified dev part from the training part of {source} "
                          f"({error}); each label needs at least two training utterances") from None
    return sorted(train), sorted(dev)
