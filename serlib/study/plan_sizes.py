"""What a profile's plan has to process: each corpus's size (its manifest, or typical figures)
and the folds of each protocol (its split files, or the rules of :mod:`serlib.data.splits`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from serlib.data.emobox import emobox_path
from serlib.data.splits import GROUPED_FOLDS, LEAVE_ONE_SPEAKER_OUT_MAX, split_path
from serlib.study.config import EMOBOX, StudyConfig



@dataclass(frozen=True)
class CorpusSize:
    """How much audio a corpus holds: utterances, total and longest duration, and where from;
    its speakers and classes where known (0: not known)."""

    corpus_id: str
    utterances: int
    total_seconds: float
    max_seconds: float
    source: str
    speakers: int = 0
    classes: int = 0

    @property
    def mean_seconds(self) -> float:
        return self.total_seconds / max(self.utterances, 1)


@dataclass(frozen=True)
class FoldSize:
    """One fold of a protocol: utterances and seconds of audio in training and evaluated (dev + test)."""

    train_utterances: float
    evaluated_utterances: float
    train_seconds: float
    evaluated_seconds: float


#: name -> (utterances, mean seconds, longest seconds, speakers, source). Counts and speakers:
#: the corpora's papers (see ../shared/REFERENCE.md); mean durations: approximate, from the
#: corpora's published total durations; a manifest replaces these as soon as notebook 01 has run.
TYPICAL_CORPORA: dict[str, tuple[int, float, float, int, str]] = {
    "emodb": (535, 2.8, 8.0, 10, "535 utterances, 24.8 min, 10 speakers (Burkhardt et al. 2005)"),
    "shemo": (3000, 4.1, 12.0, 87, "3000 utterances, 3 h 25 min, 87 speakers (Mohamad Nezami et al. 2019)"),
    "aesdd": (604, 4.0, 10.0, 6, "about 600 utterances of 2-8 s, 6 actors (Vryzas et al. 2018); approximate"),
    "emovo": (588, 3.1, 9.0, 6, "588 utterances, short sentences, 6 actors (Costantini et al. 2014); approximate"),
    "cafe": (936, 4.4, 9.0, 12, "936 utterances, 12 actors (Gournay et al. 2018); approximate"),
    "ravdess": (1440, 3.7, 5.3, 24, "1440 speech clips of 3-5 s, 24 actors (Livingstone & Russo 2018)"),
    "iemocap": (5531, 4.5, 34.0, 10, "5531 utterances in the 4-class setup, about 7 h, 10 speakers; clips up to 34 s"),
    "synthetic": (360, 2.0, 4.0, 24, "serlib synth default, 4 voices per language; approximate"),
}
#: The synthetic corpus holds six languages; a profile's corpus keeps one.
SYNTHETIC_LANGUAGES = 6


def corpus_size(config: StudyConfig, corpus_id: str) -> CorpusSize:
    """Sizes from the profile's manifest when it exists, else the typical size of the corpus."""
    manifest = config.manifest_dir / f"{corpus_id}.csv"
    if manifest.is_file():
        table = pd.read_csv(manifest, usecols=lambda column: column in ("duration_s", "speaker", "label"))
        durations = table["duration_s"]
        return CorpusSize(corpus_id, len(durations), float(durations.sum()), float(durations.max()),
                          f"manifest {manifest}",
                          int(table["speaker"].nunique()) if "speaker" in table else 0,
                          int(table["label"].nunique()) if "label" in table else 0)
    spec = config.corpus(corpus_id)
    name = spec.name
    if spec.generate:  # a generated rehearsal tree: its sizes are known before it is written
        from serlib.data.layouts import clip_seconds, layout_clips

        clips = layout_clips(name)
        seconds = [clip_seconds(name, index) for index in range(len(clips))]
        return CorpusSize(corpus_id, len(seconds), float(sum(seconds)), float(max(seconds)),
                          "generated layout tree (serlib.data.layouts)",
                          len({clip.speaker for clip in clips}), len({clip.emotion for clip in clips}))
    if name not in TYPICAL_CORPORA:
        return CorpusSize(corpus_id, 0, 0.0, 0.0, "unknown: run notebook 01 for a manifest")
    count, mean, longest, speakers, source = TYPICAL_CORPORA[name]
    if name == "synthetic":
        count //= SYNTHETIC_LANGUAGES
        speakers //= SYNTHETIC_LANGUAGES
    return CorpusSize(corpus_id, count, count * mean, longest, f"typical: {source}", speakers)


# --- folds -------------------------------------------------------------------------------------


def estimated_folds(protocol: str, size: CorpusSize, repeats: int) -> tuple[list[FoldSize], str]:
    """The folds :mod:`serlib.data.splits` would make of ``size``, and how they were estimated.

    ``random``: ``repeats`` folds of 60/20/20; ``speaker-cv`` (and ``emobox``, whose published
    folds are not known before they are read): leave one speaker out up to 12 speakers, grouped
    5-fold beyond, dev = ``max(1, round(K / 5))`` folds of the training speakers; ``session-cv``:
    5 folds, test one session, dev 20% of the other four; ``speaker``: one 60/20/20 fold.
    """
    def folds(count: int, train: float, evaluated: float) -> list[FoldSize]:
        return [FoldSize(size.utterances * train, size.utterances * evaluated,
                         size.total_seconds * train, size.total_seconds * evaluated)] * count

    if protocol == "random":
        return folds(repeats, 0.6, 0.4), f"{repeats} repeats of 60/20/20"
    if protocol == "speaker":
        return folds(1, 0.6, 0.4), "one speaker-independent 60/20/20 split"
    if protocol == "session-cv":
        return folds(GROUPED_FOLDS, 0.8 * 0.8, 0.2 + 0.8 * 0.2), "5 sessions, one left out"
    speakers = size.speakers
    if speakers < 3:
        return [], f"{speakers or 'unknown'} speakers: no speaker cross-validation"
    count = speakers if speakers <= LEAVE_ONE_SPEAKER_OUT_MAX else GROUPED_FOLDS
    dev = max(1, round(count / GROUPED_FOLDS))
    how = "leave one speaker out" if count == speakers else "grouped 5-fold"
    note = " (EmoBox's folds estimated as speaker-cv)" if protocol == EMOBOX else ""
    return (folds(count, (count - 1 - dev) / count, (1 + dev) / count),
            f"{speakers} speakers, {how}, dev {dev} fold(s){note}")


def split_file_folds(split_file: str | Path, manifest_file: str | Path) -> list[FoldSize]:
    """The folds of a written split file, with each utterance's duration from the manifest."""
    split = pd.read_csv(split_file, usecols=["utterance_id", "fold", "split"], dtype={"utterance_id": str})
    durations = pd.read_csv(manifest_file, usecols=["utterance_id", "duration_s"], dtype={"utterance_id": str})
    table = split.merge(durations, on="utterance_id", how="left")
    table["duration_s"] = table["duration_s"].fillna(0.0)
    folds = []
    for _, fold in table.groupby("fold", sort=True):
        train = fold[fold["split"] == "train"]
        evaluated = fold[fold["split"] != "train"]
        folds.append(FoldSize(len(train), len(evaluated), float(train["duration_s"].sum()),
                              float(evaluated["duration_s"].sum())))
    return folds


def protocol_folds(config: StudyConfig, corpus_id: str, protocol: str,
                   size: CorpusSize) -> tuple[list[FoldSize], str]:
    """The folds of ``protocol`` on a corpus: from its split file once notebook 01 has written it
    (``split file <name>``), else :func:`estimated_folds` (``estimated: ...``)."""
    manifest = config.manifest_dir / f"{corpus_id}.csv"
    written = (emobox_path(manifest, config.split_seed) if protocol == EMOBOX
               else split_path(manifest, protocol, config.split_seed))
    if manifest.is_file() and written.is_file():
        return split_file_folds(written, manifest), f"split file {written.name}"
    folds, how = estimated_folds(protocol, size, config.split_repeats)
    return folds, f"estimated: {how}"


# --- measured rates ----------------------------------------------------------------------------


__all__ = ["CorpusSize", "FoldSize", "SYNTHETIC_LANGUAGES", "TYPICAL_CORPORA", "corpus_size", "estimated_folds",
           "protocol_folds", "split_file_folds"]
