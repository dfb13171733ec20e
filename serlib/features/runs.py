"""What one extraction run takes and returns, for the model engine and the acoustic baselines.

:func:`read_manifest` checks a manifest (file or DataFrame) the same way for both engines,
:func:`corpus_name_of` names its store folder, and :class:`ExtractionResult` / :class:`BatchDone`
are what a run reports. Resuming an unfinished store is :func:`serlib.features.store.resume_store`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from serlib.common.errors import SerlibError
from serlib.common.tables import read_user_csv

#: Shorter utterances are refused (no model produces a frame from less).
MIN_UTTERANCE_SECONDS = 0.05


@dataclass
class ExtractionResult:
    """What one :func:`extract_features` call did.

    ``audio_seconds`` and ``num_computed`` count only the utterances computed in this call
    (0 on a cache hit). ``seconds`` is the call's wall-clock time, of which ``load_seconds``
    went to loading the model; ``throughput`` is audio seconds computed per wall-clock second
    of the rest (audio decoding, the model, pooling and store writes).
    """

    folder: Path
    cache_hit: bool
    seconds: float
    audio_seconds: float
    num_utterances: int
    num_computed: int
    load_seconds: float = 0.0
    #: where the computing time went: ``audio`` (waiting for decoded audio), ``launch``
    #: (preparing inputs and queueing the model), ``collect`` (waiting for results on the
    #: host), ``store`` (chunk writes), ``finish`` (assembling the store); the model engine only
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        working = self.seconds - self.load_seconds
        return self.audio_seconds / working if working > 0 else 0.0

    def summary(self) -> str:
        if self.cache_hit:
            return f"{self.folder}: cache hit ({self.num_utterances} utterances), nothing computed"
        return (
            f"{self.folder}: {self.num_computed}/{self.num_utterances} utterances computed, "
            f"{self.audio_seconds:.1f} s of audio in {self.seconds:.1f} s "
            f"({self.throughput:.1f} audio-s/s; model load {self.load_seconds:.1f} s)"
        )


@dataclass
class BatchDone:
    """Passed to the ``on_batch`` callback after each batch has been stored."""

    batch_number: int
    utterance_ids: list[str]
    num_computed: int


def read_manifest(manifest: str | Path | pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """The manifest as a DataFrame (checked) and its file path, if it came from a file.

    Checked: it parses as CSV with a cell per column in every row, has ``utterance_id`` and
    ``path`` filled in on every row, unique ids, and numeric ``duration_s`` (when present).
    Relative paths of a manifest file are taken relative to the manifest's folder.
    """
    if isinstance(manifest, pd.DataFrame):
        table, source = manifest.reset_index(drop=True), None
    else:
        source = str(Path(manifest).resolve())
        if not Path(manifest).is_file():
            raise SerlibError(
                f"manifest {manifest} does not exist; build one with `serlib manifest`"
            )
        table = read_user_csv(manifest, "manifest", "rebuild it with `serlib manifest`",
                              dtype={"utterance_id": str, "speaker": str})
    where = source or "the manifest DataFrame"
    missing = {"utterance_id", "path"} - set(table.columns)
    if missing:
        raise SerlibError(
            f"{where} lacks the column(s) {sorted(missing)}; a manifest needs utterance_id and "
            "path (see docs/architecture.md)"
        )
    if table.empty:
        raise SerlibError(f"{where} has no rows; nothing to extract")
    for column in ("utterance_id", "path"):
        empty = table[column].isna() | (table[column].astype(str).str.strip() == "")
        if empty.any():
            raise SerlibError(
                f"{where} row {int(empty.to_numpy().argmax()) + 1} has no {column}; fill it in "
                "or remove the row"
            )
    duplicated = table["utterance_id"][table["utterance_id"].duplicated()]
    if not duplicated.empty:
        raise SerlibError(
            f"{where} repeats utterance_id {duplicated.iloc[0]!r}; utterance ids must be unique"
        )
    if "duration_s" in table.columns and not pd.api.types.is_numeric_dtype(table["duration_s"]):
        raise SerlibError(
            f"{where} has a duration_s that is not a number (e.g. "
            f"{table['duration_s'].iloc[0]!r}); give seconds, or drop the column to read them "
            "from the audio headers"
        )
    if source is not None:
        table["path"] = [_resolved(path, Path(source).parent) for path in table["path"]]
    return table, source


def _resolved(path: str, base: Path) -> str:
    """A manifest path as it is (absolute) or relative to the manifest's own folder."""
    path = str(path)
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(base, path))


def corpus_name_of(table: pd.DataFrame, source: str | None, corpus_name: str | None) -> str:
    """The corpus folder name: given, else the manifest's single ``corpus`` value, else its stem."""
    if corpus_name:
        return corpus_name
    if "corpus" in table.columns and table["corpus"].nunique() == 1:
        return str(table["corpus"].iloc[0])
    if source is not None:
        return Path(source).stem
    raise SerlibError(
        "cannot tell the corpus name of a manifest DataFrame without one `corpus` value; "
        "pass corpus_name="
    )
