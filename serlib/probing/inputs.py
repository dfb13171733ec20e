"""What probes read: a finished feature folder and the labelled parts of a split.

Probing reads feature stores only through :mod:`serlib.features.store`'s readers (never a
model). Importable without torch, so that layer selection and the command line stay light.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from serlib.common.errors import SerlibError
from serlib.features.store import FRAMES_FILE, FrameReader, load_pooled
from serlib.probing.kinds import ProbeKind

SPLIT_COLUMNS = ("utterance_id", "speaker", "label", "split")


# --------------------------------------------------------------------------- feature store


@dataclass
class FeatureFolder:
    """One finished ``<out>/<model slug>/<corpus>/`` folder of the feature store, read through
    :mod:`serlib.features.store` (see docs/architecture.md for the format)."""

    path: Path
    pooled: np.ndarray  # float32 [N, S, D]
    utterance_ids: list[str]
    index: dict
    frames: FrameReader | None = None  # memory-mapped float16 frames, reader[i] -> [T_i, S, D]

    @property
    def num_hidden_states(self) -> int:
        return int(self.pooled.shape[1])

    @property
    def dim(self) -> int:
        return int(self.pooled.shape[2])

    def input_dim(self, kind: ProbeKind) -> int:
        """Feature width a probe of ``kind`` sees (pooled may be 2D wide with mean+std pooling)."""
        if kind.input == "frames" and self.frames is not None:
            return int(self.frames.frames.shape[-1])
        return self.dim


def load_feature_folder(path: str | Path) -> FeatureFolder:
    """Open a finished feature folder: pooled features, utterance ids, index and, when the folder
    has ``frames.npy``, a memory-mapped frame reader."""
    folder = Path(path)
    pooled, utterance_ids, index = load_pooled(folder)
    if pooled.ndim != 3 or len(utterance_ids) != pooled.shape[0]:
        raise SerlibError(f"{folder}: pooled.npy has shape {pooled.shape} but utterances.csv has "
                          f"{len(utterance_ids)} rows; expected [N, L+1, D]; re-run 'serlib extract'")
    frames = FrameReader(folder) if (folder / FRAMES_FILE).is_file() else None
    return FeatureFolder(folder, pooled, utterance_ids, index, frames)


# --------------------------------------------------------------------------- labelled splits


@dataclass
class LabelledSplit:
    """Feature rows and integer labels of the train, dev and test parts (of one fold)."""

    class_names: list[str]
    rows: dict[str, np.ndarray]  # split name -> feature-row indices
    labels: dict[str, np.ndarray]  # split name -> int64 labels (index into class_names)
    speakers: dict[str, np.ndarray] | None = None  # split name -> speaker of each row


def read_split_table(split: str | Path | pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """A split CSV (or table) with its columns checked, and where it came from.

    A table without a ``fold`` column is one fold (fold 0)."""
    where = str(split) if not isinstance(split, pd.DataFrame) else "the split table"
    if isinstance(split, pd.DataFrame):
        table = split.copy()
    else:
        split_path = Path(split)
        if not split_path.is_file():
            raise SerlibError(f"{split_path}: split CSV not found; create it with 'serlib split'")
        table = pd.read_csv(split_path, dtype={"utterance_id": str, "label": str, "split": str,
                                               "speaker": str}, keep_default_na=False)
    missing_columns = [column for column in SPLIT_COLUMNS if column not in table.columns]
    if missing_columns:
        raise SerlibError(f"{where}: missing columns {missing_columns}; a split CSV has "
                          f"columns {', '.join(SPLIT_COLUMNS)} (and fold, for several folds)")
    if "fold" not in table.columns:
        table["fold"] = 0
    return table, where


def join_split(folder: FeatureFolder, split: str | Path | pd.DataFrame,
               fold: int | None = None) -> LabelledSplit:
    """Join one fold of a split (CSV or table: utterance_id, speaker, label, split[, fold]) to
    the feature rows by utterance_id. ``fold`` may be left out when the split has one fold."""
    table, where = read_split_table(split)
    folds = sorted(table["fold"].unique())
    if fold is None:
        if len(folds) > 1:
            raise SerlibError(f"{where} has {len(folds)} folds; say which one (fold=)")
        fold = folds[0]
    table = table[table["fold"] == fold]
    if table.empty:
        raise SerlibError(f"{where} has no fold {fold}; it has folds {folds}")
    row_of = {utterance_id: row for row, utterance_id in enumerate(folder.utterance_ids)}
    unknown = [u for u in table["utterance_id"] if u not in row_of]
    if unknown:
        raise SerlibError(f"{where}: {len(unknown)} utterances have no features in "
                          f"{folder.path} (first: {unknown[0]!r}); extract features for the same "
                          "manifest as the split")
    class_names = sorted(table["label"].unique())
    class_of = {name: index for index, name in enumerate(class_names)}
    rows, labels, speakers = {}, {}, {}
    for split_name in ("train", "dev", "test"):
        part = table[table["split"] == split_name]
        if part.empty:
            raise SerlibError(f"{where}: no '{split_name}' rows in fold {fold}; the split column "
                              "needs train, dev and test")
        rows[split_name] = np.array([row_of[u] for u in part["utterance_id"]], dtype=np.int64)
        labels[split_name] = np.array(part["label"].map(class_of), dtype=np.int64)
        speakers[split_name] = part["speaker"].to_numpy(dtype=str)
    return LabelledSplit(class_names, rows, labels, speakers)


def subsample_train(split: LabelledSplit, fraction: float, seed: int) -> LabelledSplit:
    """The split with its train part cut to ``fraction`` of each class (at least one example per
    class, rounded to the nearest count), drawn by ``seed``; dev and test unchanged.
    ``fraction`` 1 returns the split as it is."""
    if not 0.0 < fraction <= 1.0:
        raise SerlibError(f"train fraction {fraction} is not in (0, 1]; give e.g. 0.25 for 25%")
    if fraction == 1.0:
        return split
    generator = np.random.default_rng(seed)
    train_labels = split.labels["train"]
    kept = np.sort(np.concatenate([
        generator.choice(positions, size=max(1, round(fraction * len(positions))), replace=False)
        for positions in (np.flatnonzero(train_labels == label) for label in np.unique(train_labels))
    ]))
    speakers = split.speakers and {**split.speakers, "train": split.speakers["train"][kept]}
    return LabelledSplit(split.class_names, {**split.rows, "train": split.rows["train"][kept]},
                         {**split.labels, "train": train_labels[kept]}, speakers)


@dataclass
class RunLabels:
    """What the results rows say about the run."""

    corpus: str
    language: str
    model: str
    probe: str


def describe_run(folder: FeatureFolder, probe: str, corpus: str | None = None,
                 model: str | None = None, language: str | None = None) -> RunLabels:
    """Corpus and model = index.json's (else the folder's and its parent's names),
    language = the corpus registry's (``und`` when the corpus is unknown); each can be given."""
    corpus = corpus or str(folder.index.get("corpus") or folder.path.resolve().name)
    model = model or next((str(folder.index[key]) for key in ("model", "model_name", "model_id")
                           if folder.index.get(key)), folder.path.resolve().parent.name)
    if language is None:
        try:
            from serlib.data.corpora import get_corpus

            language = get_corpus(corpus).language
        except Exception:  # unknown corpus name: ISO 639-2 "undetermined"
            language = "und"
    return RunLabels(corpus, language, model, probe)


# --------------------------------------------------------------------------- degraded test copies

#: The name of the evaluated part that holds the ``condition`` copy of a fold's test utterances.
TEST_COPY_PREFIX = "test@"


@dataclass
class TestCopies:
    """A feature folder extended with copies of its utterances (features of degraded audio, one
    store per condition), so that probes trained on the clean train part are also scored on the
    copies of the test part: ``rows[condition][i]`` is the row of clean row ``i``'s copy."""

    folder: FeatureFolder
    rows: dict[str, np.ndarray]

    @classmethod
    def of(cls, folder: FeatureFolder, copies: dict[str, str | Path]) -> "TestCopies":
        pooled, ids, rows = [folder.pooled], list(folder.utterance_ids), {}
        offset = len(folder.utterance_ids)
        for condition, path in copies.items():
            copy = load_feature_folder(path)
            if copy.pooled.shape[1:] != folder.pooled.shape[1:]:
                raise SerlibError(f"{copy.path}: features shaped {copy.pooled.shape[1:]}, but the clean "
                                  f"store {folder.path} has {folder.pooled.shape[1:]}; extract both "
                                  "with the same model and settings")
            row_of = {utterance_id: row for row, utterance_id in enumerate(copy.utterance_ids)}
            missing = [utterance_id for utterance_id in folder.utterance_ids if utterance_id not in row_of]
            if missing:
                raise SerlibError(f"{copy.path} lacks {len(missing)} utterances of {folder.path} "
                                  f"(first: {missing[0]!r}); extract the degraded copy of the whole corpus")
            rows[condition] = offset + np.array([row_of[u] for u in folder.utterance_ids], dtype=np.int64)
            pooled.append(copy.pooled)
            ids += copy.utterance_ids
            offset += len(copy.utterance_ids)
        extended = FeatureFolder(folder.path, np.concatenate(pooled), ids, folder.index, folder.frames)
        return cls(extended, rows)

    def split(self, split: LabelledSplit) -> LabelledSplit:
        """``split`` with one more evaluated part per condition: the copies of its test rows."""
        rows, labels = dict(split.rows), dict(split.labels)
        speakers = dict(split.speakers) if split.speakers else None
        for condition, copy_rows in self.rows.items():
            name = f"{TEST_COPY_PREFIX}{condition}"
            rows[name] = copy_rows[split.rows["test"]]
            labels[name] = split.labels["test"]
            if speakers is not None:
                speakers[name] = split.speakers["test"]
        return LabelledSplit(split.class_names, rows, labels, speakers)


def evaluated_parts(split: LabelledSplit) -> list[str]:
    """The parts a probe is scored on after every epoch: dev, test, then any test copies."""
    return ["dev", "test"] + [name for name in split.rows if name.startswith(TEST_COPY_PREFIX)]
