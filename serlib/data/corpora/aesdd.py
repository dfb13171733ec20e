"""AESDD (Acted Emotional Speech Dynamic Database), Greek: one folder per emotion.

File names ``xAA (B).wav``: emotion letter (a anger, d disgust, f fear, h happiness,
s sadness), utterance number, actor number in parentheses, and an optional take letter when
more than one take was kept, e.g. ``anger/a01 (1).wav`` or ``fear/f12 (4)b.wav``. Folder
names are matched in any letter case. The corpus does not map actors to genders.
"""

from __future__ import annotations

import re
from pathlib import Path

from serlib.data.corpora.base import (
    Corpus,
    CorpusFile,
    Listing,
    audio_files,
    match_file_names,
    normalized_name,
)

FILE_NAME = re.compile(
    r"(?P<emotion>[a-z])(?P<utterance>\d{2})\s*\((?P<actor>\d+)\)(?P<take>[a-z]?)\.wav",
    re.IGNORECASE,
)
EMOTION_FOLDERS = ("anger", "disgust", "fear", "happiness", "sadness")


def list_files(root: Path) -> Listing:
    """Describe every wav in the five emotion folders from its file name."""
    folders = _emotion_folders(root)
    paths = [path for folder in folders for path in audio_files(folder)]
    return match_file_names(paths, FILE_NAME, _describe)


def _emotion_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return [
        path
        for path in sorted(root.iterdir())
        if path.is_dir() and normalized_name(path.name) in EMOTION_FOLDERS
    ]


def _describe(path: Path, match: re.Match[str]) -> CorpusFile:
    return CorpusFile(path, str(int(match["actor"])), "", match["emotion"].lower())


CORPUS = Corpus(
    name="aesdd",
    language="el",
    label_codes={
        "a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "s": "sadness",
    },
    layout="one folder per emotion (anger disgust fear happiness sadness) of "
    "<emotion:1><utterance:2> (<actor>).wav, e.g. anger/a01 (1).wav",
    list_files=list_files,
)
