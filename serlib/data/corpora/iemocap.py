"""IEMOCAP, English: ``SessionN/sentences/wav/<dialog>/<utterance>.wav``.

Labels come from ``SessionN/dialog/EmoEvaluation/<dialog>.txt``, one line per utterance::

    [6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]

The speaker is the session plus the gender letter that starts the utterance's last field
(``Ses01F_impro01_M013`` -> ``Ses01M``, male), since each session has one actress and one
actor. Two label sets are offered:

- ``iemocap`` (the standard 4-class protocol): neu, ang, sad, and hap merged with exc into
  happiness; utterances labelled fru, sur, fea, dis, oth or xxx are excluded (and counted).
- ``iemocap_full``: also sur, fea and dis; fru, oth and xxx have no canonical label and are
  excluded.

Utterances annotated in EmoEvaluation but without a wav file are not listed (only audio
present under the root is read).
"""

from __future__ import annotations

import re
from pathlib import Path

from serlib.data.corpora.base import Corpus, CorpusFile, Listing, audio_files, normalized_name

UTTERANCE_FILE = re.compile(r"(?P<session>Ses\d{2})[FM]_\S+_(?P<gender>[FM])\d{3}\.wav")
LABEL_LINE = re.compile(r"\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\t(?P<utterance>\S+)\t(?P<label>\S+)\t\[")
SESSION_FOLDER = re.compile(r"session\d+")
GENDERS = {"F": "female", "M": "male"}

FOUR_CLASS_CODES = {"neu": "neutral", "ang": "anger", "sad": "sadness", "hap": "happiness",
                    "exc": "happiness"}
FULL_CODES = {**FOUR_CLASS_CODES, "sur": "surprise", "fea": "fear", "dis": "disgust"}
NON_CANONICAL_CODES = frozenset({"fru", "oth", "xxx"})


def read_labels(evaluation_file: Path) -> dict[str, str]:
    """Utterance id -> label code from one EmoEvaluation file."""
    labels = {}
    for line in evaluation_file.read_text(encoding="utf-8", errors="replace").splitlines():
        match = LABEL_LINE.match(line)
        if match:
            labels[match["utterance"]] = match["label"]
    return labels


def list_files(root: Path) -> Listing:
    """Describe every utterance wav of every session that has an EmoEvaluation line.

    A wav whose name is not an IEMOCAP utterance id, or that has no label line, is reported as
    not following the layout.
    """
    listing = Listing()
    for session in _session_folders(root):
        labels: dict[str, str] = {}
        for evaluation_file in sorted((session / "dialog" / "EmoEvaluation").glob("*.txt")):
            labels.update(read_labels(evaluation_file))
        wav_root = session / "sentences" / "wav"
        dialogs = sorted(path for path in wav_root.glob("*") if path.is_dir())
        for path in (path for dialog in dialogs for path in audio_files(dialog)):
            match = UTTERANCE_FILE.fullmatch(path.name)
            if match is None or path.stem not in labels:
                listing.nonconforming.append(path)
                continue
            gender = match["gender"]
            speaker = match["session"] + gender
            listing.files.append(CorpusFile(path, speaker, GENDERS[gender], labels[path.stem]))
    return listing


def _session_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return [path for path in sorted(root.iterdir())
            if path.is_dir() and SESSION_FOLDER.fullmatch(normalized_name(path.name))]


LAYOUT = (
    "Session1..Session5/sentences/wav/<dialog>/<utterance>.wav, each utterance labelled in "
    "SessionN/dialog/EmoEvaluation/<dialog>.txt, "
    "e.g. Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav"
)

CORPUS = Corpus(
    name="iemocap",
    language="en",
    label_codes=FOUR_CLASS_CODES,
    layout=LAYOUT,
    list_files=list_files,
    excluded_label_codes=frozenset({"sur", "fea", "dis"}) | NON_CANONICAL_CODES,
)

CORPUS_FULL = Corpus(
    name="iemocap_full",
    language="en",
    label_codes=FULL_CODES,
    layout=LAYOUT,
    list_files=list_files,
    excluded_label_codes=NON_CANONICAL_CODES,
)
