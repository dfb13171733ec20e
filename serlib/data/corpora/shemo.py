"""ShEMO (Sharif Emotional Speech Database), Persian: ``female/`` and ``male/`` folders.

File names ``F01A01.wav``: gender letter, speaker (2 digits), emotion letter, utterance
(2 digits). Female speaker 01 and male speaker 01 are different people, so the speaker id
keeps the gender letter (``F01``). Fear (F, 38 files) is kept, as the corpus defines it.
"""

from __future__ import annotations

import re
from pathlib import Path

from serlib.data.corpora.base import Corpus, CorpusFile, Listing, audio_files, match_file_names

FILE_NAME = re.compile(
    r"(?P<speaker>(?P<gender>[FM])\d{2})(?P<emotion>[A-Z])(?P<utterance>\d{2})\.wav",
    re.IGNORECASE,
)
GENDER_FOLDERS = ("female", "male")
GENDERS = {"F": "female", "M": "male"}


def list_files(root: Path) -> Listing:
    """Describe every wav in the ``female/`` and ``male/`` folders (any letter case)."""
    folders = (
        [path for path in sorted(root.iterdir())
         if path.is_dir() and path.name.casefold() in GENDER_FOLDERS]
        if root.is_dir()
        else []
    )
    paths = [path for folder in folders for path in audio_files(folder)]
    return match_file_names(paths, FILE_NAME, _describe)


def _describe(path: Path, match: re.Match[str]) -> CorpusFile:
    speaker = match["speaker"].upper()
    return CorpusFile(path, speaker, GENDERS[match["gender"].upper()], match["emotion"].upper())


CORPUS = Corpus(
    name="shemo",
    language="fa",
    label_codes={
        "A": "anger", "H": "happiness", "N": "neutral", "S": "sadness",
        "W": "surprise", "F": "fear",
    },
    layout="female/ and male/ folders of <gender:F|M><speaker:2><emotion:1><utterance:2>.wav, "
    "e.g. female/F01A01.wav",
    list_files=list_files,
)
