"""A user's own corpus described by a CSV file (the ``csv`` corpus; ROOT is the CSV file).

Required columns: ``path`` (absolute, or relative to the CSV's folder), ``speaker``,
``label`` and ``language`` (ISO 639-1). Optional: ``gender`` (``female``, ``male`` or empty)
and ``text`` (an id of the sentence spoken, e.g. ``s07``: rows with the same id read the same
words; it becomes the manifest's ``text``).
``label`` is a canonical label (anger, boredom, calm, disgust, fear, happiness, neutral,
sadness, surprise) or one of the common aliases in :data:`LABEL_ALIASES` (``happy``,
``angry``, ``neu``, ...); the manifest keeps what was written as ``label_code``.
Utterance ids are the paths relative to the CSV's folder.
"""

from __future__ import annotations

from pathlib import Path

from serlib.common.tables import read_user_csv
from serlib.data.corpora.base import CANONICAL_LABELS, Corpus, CorpusFile, Listing
from serlib.common.errors import SerlibError

REQUIRED_COLUMNS = ("path", "speaker", "label", "language")
GENDERS = ("female", "male", "")

LABEL_ALIASES = {
    "angry": "anger", "ang": "anger",
    "bored": "boredom",
    "disgusted": "disgust", "dis": "disgust",
    "fearful": "fear", "afraid": "fear", "fea": "fear",
    "happy": "happiness", "joy": "happiness", "hap": "happiness",
    "neu": "neutral",
    "sad": "sadness",
    "surprised": "surprise", "sur": "surprise",
}


def list_files(csv_path: Path) -> Listing:
    """Describe every row of the user's CSV file."""
    if not csv_path.is_file():
        return Listing()
    table = read_user_csv(csv_path, "corpus CSV", "save it as UTF-8 CSV with a header row "
                          "and one cell per column in every row", dtype=str,
                          keep_default_na=False)
    table.columns = [str(column).strip().lower() for column in table.columns]
    missing = [column for column in REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        raise SerlibError(f"corpus CSV {csv_path} lacks the column(s) {', '.join(missing)}; "
                          f"it needs {', '.join(REQUIRED_COLUMNS)} (and optionally gender, "
                          "text)")
    base = csv_path.resolve().parent
    listing = Listing()
    for row_number, row in enumerate(table.to_dict("records"), start=2):
        gender = row.get("gender", "").strip().lower()
        if gender not in GENDERS:
            raise SerlibError(f"corpus CSV {csv_path} line {row_number}: gender {gender!r} "
                              "is not female, male or empty")
        if not row["path"].strip():
            raise SerlibError(f"corpus CSV {csv_path} line {row_number}: empty path; give the "
                              "audio file's path (absolute or relative to the CSV) or remove the row")
        audio_path = Path(row["path"].strip())
        listing.files.append(CorpusFile(
            audio_path=audio_path if audio_path.is_absolute() else base / audio_path,
            speaker=row["speaker"].strip(),
            gender=gender,
            label_code=row["label"].strip().lower(),
            language=row["language"].strip().lower(),
            text=row.get("text", "").strip(),
        ))
    return listing


CORPUS = Corpus(
    name="csv",
    language="",
    label_codes={**{label: label for label in CANONICAL_LABELS}, **LABEL_ALIASES},
    layout="a CSV file with columns path, speaker, label, language (and optionally gender, text), "
    "e.g. path=audio/clip1.wav,speaker=s1,label=anger,language=en",
    list_files=list_files,
)
