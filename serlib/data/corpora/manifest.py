"""Corpus folder -> manifest table (one row per utterance), and reading/writing it as CSV.

The columns and their meaning are fixed by ``docs/architecture.md`` (:data:`MANIFEST_COLUMNS`).
All checks on a corpus happen here: file names that do not follow the corpus layout, label
codes the corpus does not define, and audio files whose header cannot be read.
"""

from __future__ import annotations

import logging
import os
import unicodedata
from pathlib import Path

import pandas as pd

from serlib.data.audio import audio_info
from serlib.data.corpora.base import Corpus, CorpusFile, Listing, audio_files
from serlib.data.corpora.registry import get_corpus
from serlib.common.errors import SerlibError
from serlib.common.files import write_csv_atomically
from serlib.common.locks import folder_lock

MANIFEST_COLUMNS = (
    "utterance_id",
    "path",
    "corpus",
    "language",
    "speaker",
    "gender",
    "label",
    "label_code",
    "duration_s",
    "sample_rate",
    "text",
)
#: Columns a manifest may lack (one written before they existed, or a hand-made table): they are
#: filled with these values when it is written or read.
OPTIONAL_COLUMNS = {"text": ""}
EXAMPLES_SHOWN = 5

logger = logging.getLogger(__name__)


def build_manifest(corpus_name: str | Corpus, root: str | Path, strict: bool = True) -> pd.DataFrame:
    """List the corpus ``corpus_name`` (a registry name, or a :class:`Corpus` built with options,
    e.g. :func:`serlib.data.corpora.audiofolder.audiofolder_corpus`) found at ``root`` as a
    manifest table.

    With ``strict=True`` an audio file whose name does not follow the corpus's naming scheme
    raises :class:`SerlibError`; with ``strict=False`` such files are skipped with a warning
    that names them (and their paths are in ``table.attrs["skipped"]``). Every audio file under
    a corpus folder is accounted for: one the lister did not place (e.g. in a folder the layout
    does not know) counts as not following the layout. Files the corpus's protocol leaves out (e.g. IEMOCAP frustration
    in the 4-class setup) are dropped and counted in ``table.attrs["excluded"]``
    (reason -> count). Durations and sample rates come from the file headers.
    """
    corpus = corpus_name if isinstance(corpus_name, Corpus) else get_corpus(corpus_name)
    root = Path(os.path.abspath(Path(root).expanduser()))
    if not root.exists():
        raise SerlibError(
            f"{corpus.name} root {root} does not exist; pass the folder that holds the corpus "
            f"in its published layout: {corpus.layout}"
        )
    listing = corpus.list_files(root)
    if root.is_dir():
        listing.nonconforming.extend(unaccounted_audio_files(root, listing))
    _check_nonconforming(corpus, root, listing, strict)
    if not listing.files:
        raise SerlibError(
            f"no {corpus.name} audio files found under {root}; expected layout: {corpus.layout}"
        )
    excluded = dict(listing.excluded)
    kept = []
    for corpus_file in listing.files:
        if corpus_file.label_code in corpus.excluded_label_codes:
            reason = f"label {corpus_file.label_code} not in the {corpus.name} label set"
            excluded[reason] = excluded.get(reason, 0) + 1
        else:
            kept.append(corpus_file)
    if not kept:
        raise SerlibError(
            f"all {len(listing.files)} {corpus.name} files under {root} have labels outside "
            f"the label set ({', '.join(sorted(corpus.label_codes))})"
        )
    base = root if root.is_dir() else root.parent
    table = pd.DataFrame([_manifest_row(corpus, base, corpus_file) for corpus_file in kept])
    table = table.sort_values("utterance_id", kind="stable").reset_index(drop=True)
    _check_unique_ids(table, root)
    table.attrs["excluded"] = excluded
    table.attrs["skipped"] = [str(path) for path in listing.nonconforming]
    return table


def unaccounted_audio_files(root: Path, listing: Listing) -> list[Path]:
    """Audio files under ``root`` that the corpus lister neither listed, nor reported as
    nonconforming, nor excluded (e.g. a folder the layout does not know): nothing is dropped
    silently, so these count as not following the layout."""
    accounted = {os.path.abspath(path) for path in (
        *(corpus_file.audio_path for corpus_file in listing.files),
        *listing.nonconforming, *listing.excluded_paths)}
    return [path for path in audio_files(root, recursive=True)
            if os.path.abspath(path) not in accounted]


def write_manifest(table: pd.DataFrame, path: str | Path) -> Path:
    """Write the manifest CSV atomically (temporary file, then rename) while holding its lock
    (:func:`serlib.common.locks.folder_lock`, so two runs never write it at once); return its
    path."""
    path = Path(path)
    table = _with_optional_columns(table)
    missing = [column for column in MANIFEST_COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(f"manifest table lacks columns {missing}")
    with folder_lock(path, what="writing the manifest"):
        write_csv_atomically(table.loc[:, list(MANIFEST_COLUMNS)], path)
    return path


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest CSV written by :func:`write_manifest`, checking its columns."""
    path = Path(path)
    if not path.is_file():
        raise SerlibError(f"manifest {path} does not exist; create it with "
                          f"'serlib manifest CORPUS ROOT -o {path}'")
    text_columns = {column: str for column in MANIFEST_COLUMNS
                    if column not in ("duration_s", "sample_rate")}
    try:
        table = pd.read_csv(path, dtype=text_columns, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
        raise SerlibError(f"cannot read manifest {path} ({error}); rebuild it with "
                          "'serlib manifest'") from None
    table = _with_optional_columns(table)
    missing = [column for column in MANIFEST_COLUMNS if column not in table.columns]
    if missing:
        raise SerlibError(f"manifest {path} lacks the column(s) {', '.join(missing)}; "
                          "rebuild it with 'serlib manifest'")
    return table


def _with_optional_columns(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every column of :data:`OPTIONAL_COLUMNS` it lacks, at its default value."""
    absent = {column: value for column, value in OPTIONAL_COLUMNS.items()
              if column not in table.columns}
    return table.assign(**absent) if absent else table


def _check_nonconforming(corpus: Corpus, root: Path, listing: Listing, strict: bool) -> None:
    offending = listing.nonconforming
    if not offending:
        return
    if strict:
        shown = ", ".join(str(path) for path in offending[:EXAMPLES_SHOWN])
        hidden = len(offending) - EXAMPLES_SHOWN
        more = f" and {hidden} more" if hidden > 0 else ""
        raise SerlibError(
            f"{len(offending)} audio file(s) under {root} do not follow the {corpus.name} "
            f"layout: {shown}{more}; expected {corpus.layout}. Rename or remove them, or skip "
            "them with --skip-nonconforming (strict=False)"
        )
    logger.warning("skipped %d audio file(s) under %s that do not follow the %s layout: %s",
                   len(offending), root, corpus.name,
                   ", ".join(str(path) for path in offending))


def _manifest_row(corpus: Corpus, base: Path, corpus_file: CorpusFile) -> dict[str, object]:
    path = corpus_file.audio_path
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise SerlibError(
            f"{os.fsencode(path)!r}: the path is not valid UTF-8 (an archive unpacked with its "
            "CP437/CP850 names), so a manifest CSV cannot hold it. Convert the names once, e.g. "
            f"`convmv -f cp850 -t utf-8 -r --notest {os.fsencode(base).decode(errors='replace')}`"
            ", or unpack again with `unzip -O cp850`"
        ) from None
    label = corpus.label_codes.get(corpus_file.label_code)
    if label is None:
        raise SerlibError(
            f"{path}: unknown {corpus.name} label code {corpus_file.label_code!r}; known codes: "
            f"{', '.join(corpus.label_codes)}. Fix the file name or label, or remove the file"
        )
    if not corpus_file.speaker:
        raise SerlibError(f"{path}: no speaker given; every utterance needs a speaker id")
    language = corpus_file.language or corpus.language
    if not language:
        raise SerlibError(f"{path}: no language given; give its ISO 639-1 code (e.g. en)")
    duration_s, sample_rate = audio_info(path)
    return {
        "utterance_id": _utterance_id(base, path),
        "path": os.path.abspath(path),
        "corpus": corpus.name,
        "language": language,
        "speaker": f"{corpus.name}_{corpus_file.speaker}",
        "gender": corpus_file.gender,
        "label": label,
        "label_code": corpus_file.label_code,
        "duration_s": duration_s,
        "sample_rate": sample_rate,
        "text": corpus_file.text,
    }


def _utterance_id(base: Path, path: Path) -> str:
    """Path relative to the corpus root, forward slashes, no extension, Unicode NFC."""
    relative = Path(os.path.relpath(os.path.abspath(path), base)).with_suffix("")
    # bytes that are not UTF-8 (a name from a CP437/CP850 unzip) are written as \xNN escapes
    text = os.fsencode(relative.as_posix()).decode("utf-8", errors="backslashreplace")
    return unicodedata.normalize("NFC", text)


def _check_unique_ids(table: pd.DataFrame, root: Path) -> None:
    duplicated = table.loc[table["utterance_id"].duplicated(), "utterance_id"]
    if not duplicated.empty:
        raise SerlibError(
            f"the corpus at {root} lists the same audio file more than once "
            f"({', '.join(duplicated.head(EXAMPLES_SHOWN))}); remove the duplicate rows"
        )
