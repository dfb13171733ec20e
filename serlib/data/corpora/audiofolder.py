"""A corpus kept as a Hugging Face ``datasets`` audio folder (the ``audiofolder`` corpus).

The layout is the one ``datasets.load_dataset("audiofolder", data_dir=ROOT)`` reads: audio files
under ROOT (possibly in ``train/``/``test/`` folders, which are read together) plus a
``metadata.csv`` or ``metadata.jsonl`` with a ``file_name`` column and label columns; without a
metadata file, the folder names give the label (``label`` column). The folder is read with the
``datasets`` library itself (imported only when an audio folder is read, so other corpora stay
light); audio is not decoded, only the file paths and metadata are taken.

Labels go to the canonical set (:data:`~serlib.data.corpora.base.CANONICAL_LABELS`) through the
user's label map (a YAML file ``their_label: canonical_label``) on top of the canonical names
and the common aliases of :data:`~serlib.data.corpora.user_csv.LABEL_ALIASES`, compared in lower
case. A label that maps nowhere stops the build with the list of all such labels.
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

import yaml

from serlib.common.errors import SerlibError
from serlib.data.corpora.base import CANONICAL_LABELS, Corpus, CorpusFile, Listing
from serlib.data.corpora.user_csv import LABEL_ALIASES

NAME = "audiofolder"
DEFAULT_LABEL_COLUMN = "label"
UNKNOWN_SPEAKER = "unknown"
LAYOUT = ("a Hugging Face audio folder: audio files plus metadata.csv or metadata.jsonl with a "
          "file_name column and a label column (or one folder per label)")
DEFAULT_LABEL_MAP = {**{label: label for label in CANONICAL_LABELS}, **LABEL_ALIASES}


def read_label_map(path: str | Path) -> dict[str, str]:
    """A YAML label map ``their_label: canonical_label``; values must be canonical labels."""
    path = Path(path)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise SerlibError(f"cannot read label map {path} ({error}); write it as YAML lines "
                          "'their_label: canonical_label'") from None
    if not isinstance(loaded, dict):
        raise SerlibError(f"label map {path} is not a YAML mapping; write lines "
                          "'their_label: canonical_label', e.g. 'ang: anger'")
    label_map = {str(key).strip().lower(): str(value).strip().lower() for key, value in loaded.items()}
    wrong = sorted({value for value in label_map.values() if value not in CANONICAL_LABELS})
    if wrong:
        raise SerlibError(f"label map {path} maps to {', '.join(wrong)}, which are not canonical "
                          f"labels; use {', '.join(CANONICAL_LABELS)}")
    return label_map


def audiofolder_corpus(
    label_column: str = DEFAULT_LABEL_COLUMN,
    speaker_column: str | None = None,
    label_map: Mapping[str, str] | None = None,
    language: str = "",
) -> Corpus:
    """The :class:`Corpus` of an audio folder read with these columns and this label map.

    Without ``speaker_column`` every utterance gets the speaker ``unknown`` (speaker-independent
    protocols then cannot be used). ``language`` is an ISO 639-1 code; without it, a
    ``language`` column of the metadata is used.
    """
    label_codes = {**DEFAULT_LABEL_MAP, **(label_map or {})}

    def list_files(root: Path) -> Listing:
        return _list_audiofolder(root, label_column, speaker_column, language, label_codes)

    return Corpus(name=NAME, language=language, label_codes=label_codes, layout=LAYOUT,
                  list_files=list_files)


def _list_audiofolder(root: Path, label_column: str, speaker_column: str | None, language: str,
                      label_codes: Mapping[str, str]) -> Listing:
    rows = _read_rows(root)
    if not rows:
        return Listing()
    columns = set(rows[0])
    for option, column in (("--label-column", label_column), ("--speaker-column", speaker_column)):
        if column is not None and column not in columns:
            raise SerlibError(
                f"the audio folder {root} has no column {column!r} (given as {option}); its "
                f"columns: {', '.join(sorted(columns - {'audio'}))}"
            )
    unmapped = sorted({str(row[label_column]).strip().lower() for row in rows} - set(label_codes))
    if unmapped:
        raise SerlibError(
            f"the audio folder {root} has label(s) that map to no canonical label: "
            f"{', '.join(unmapped)}. Map them in a YAML file ('their_label: canonical_label', "
            f"canonical: {', '.join(CANONICAL_LABELS)}) and pass it with --label-map"
        )
    listing = Listing()
    for row in rows:
        listing.files.append(CorpusFile(
            audio_path=Path(row["audio"]["path"]),
            speaker=str(row[speaker_column]).strip() if speaker_column else UNKNOWN_SPEAKER,
            gender="",
            label_code=str(row[label_column]).strip().lower(),
            language=language or str(row.get("language", "")).strip().lower(),
        ))
    return listing


def _read_rows(root: Path) -> list[dict]:
    """Every row of every split of the audio folder, audio as ``{"path": ...}`` (not decoded);
    ClassLabel columns (labels from folder names) as their names."""
    if not root.is_dir():
        return []
    import datasets

    datasets.disable_progress_bars()
    with tempfile.TemporaryDirectory(prefix="serlib-audiofolder-") as cache:
        try:
            with _pandas_strings_as_objects():
                loaded = datasets.load_dataset("audiofolder", data_dir=str(root), cache_dir=cache)
        except (ValueError, FileNotFoundError, datasets.exceptions.DatasetGenerationError) as error:
            raise SerlibError(f"cannot read {root} as an audio folder ({error}); expected "
                              f"{LAYOUT}") from None
        rows = []
        for split in loaded.values():
            split = split.cast_column("audio", datasets.Audio(decode=False))
            class_labels = {name: feature for name, feature in split.features.items()
                            if isinstance(feature, datasets.ClassLabel)}
            for row in split:
                for name, feature in class_labels.items():
                    row[name] = feature.int2str(row[name])
                rows.append(row)
    return rows


@contextlib.contextmanager
def _pandas_strings_as_objects():
    """Read ``metadata.csv`` as datasets 3.x expects. pandas 3 infers its string columns as the
    ``str`` dtype, which reaches pyarrow as ``large_string``, and datasets then refuses the
    ``file_name`` column as not a string. pandas 3 can still switch that inference off (the option
    is deprecated and goes in pandas 4; without it this changes nothing)."""
    import pandas as pd

    with warnings.catch_warnings():  # only the option's own deprecation warning is ignored
        warnings.filterwarnings("ignore", message=".*'future.infer_string' option is deprecated")
        try:
            pd.get_option("future.infer_string")
            switch = pd.option_context("future.infer_string", False)
        except (KeyError, pd.errors.OptionError):  # pandas without the option
            switch = contextlib.nullcontext()
        with switch:
            yield


CORPUS = audiofolder_corpus()
"""The audio folder read with the default ``label`` column and no speaker column."""
