"""CREMA-D, English (not in the paper): ``AudioWAV/1001_DFA_ANG_XX.wav``.

Actor id (4 digits), sentence code (3 letters, 12 sentences, e.g. DFA "Don't forget a jacket";
the manifest's ``text``, in upper case), emotion (ANG DIS FEA HAP NEU SAD),
intensity (LO MD HI XX). Genders are listed in a separate demographics file, not in the file
names, so the manifest leaves them empty.
"""

from __future__ import annotations

import re
from pathlib import Path

from serlib.data.corpora.base import Corpus, CorpusFile, Listing, audio_files, match_file_names

FILE_NAME = re.compile(
    r"(?P<actor>\d{4})_(?P<sentence>[A-Z]{3})_(?P<emotion>[A-Z]{3})_(?P<intensity>[A-Z]{2})\.wav",
    re.IGNORECASE,
)


def list_files(root: Path) -> Listing:
    """Describe every ``root/AudioWAV/*.wav`` from its file name."""
    return match_file_names(audio_files(root / "AudioWAV"), FILE_NAME, _describe)


def _describe(path: Path, match: re.Match[str]) -> CorpusFile:
    return CorpusFile(path, match["actor"], "", match["emotion"].upper(),
                      text=match["sentence"].upper())


CORPUS = Corpus(
    name="cremad",
    language="en",
    label_codes={
        "ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happiness",
        "NEU": "neutral", "SAD": "sadness",
    },
    layout="AudioWAV/<actor:4>_<sentence:3>_<emotion:3>_<intensity:2>.wav, "
    "e.g. AudioWAV/1001_DFA_ANG_XX.wav",
    list_files=list_files,
)
