"""EMOVO, Italian: one folder per actor (f1 f2 f3 m1 m2 m3).

File names ``dis-f1-b1.wav``: emotion (dis disgust, gio joy, neu neutral, pau fear,
rab anger, sor surprise, tri sadness), actor, sentence (the manifest's ``text``, in lower
case, e.g. ``b1``). The actor's letter gives the gender.
"""

from __future__ import annotations

import re
from pathlib import Path

from serlib.data.corpora.base import (Corpus, CorpusFile, Listing, audio_files, match_file_names,
                                  matching_folders)

FILE_NAME = re.compile(
    r"(?P<emotion>[a-z]{3})-(?P<actor>(?P<gender>[fm])\d)-(?P<sentence>[a-z]\d+)\.wav",
    re.IGNORECASE,
)
ACTOR_FOLDER = re.compile(r"[fm]\d", re.IGNORECASE)
GENDERS = {"f": "female", "m": "male"}


def list_files(root: Path) -> Listing:
    """Describe every wav in the actor folders from its file name."""
    paths = [path for folder in matching_folders(root, ACTOR_FOLDER) for path in audio_files(folder)]
    return match_file_names(paths, FILE_NAME, _describe)


def _describe(path: Path, match: re.Match[str]) -> CorpusFile:
    gender = GENDERS[match["gender"].lower()]
    return CorpusFile(path, match["actor"].lower(), gender, match["emotion"].lower(),
                      text=match["sentence"].lower())


CORPUS = Corpus(
    name="emovo",
    language="it",
    label_codes={
        "dis": "disgust", "gio": "happiness", "neu": "neutral", "pau": "fear",
        "rab": "anger", "sor": "surprise", "tri": "sadness",
    },
    layout="one folder per actor (f1 f2 f3 m1 m2 m3) of <emotion:3>-<actor>-<sentence>.wav, "
    "e.g. f1/dis-f1-b1.wav",
    list_files=list_files,
)
