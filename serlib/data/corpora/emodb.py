"""EmoDB (Berlin Database of Emotional Speech), German: ``wav/SSTTTEV.wav``.

Speaker (2 digits), text (3 characters), emotion letter, version letter, e.g.
``wav/03a01Fa.wav``. Speaker genders follow the corpus documentation. The text code (10
sentences, ``a01`` ... ``b10``) is the manifest's ``text``, in lower case.
"""

from __future__ import annotations

import re
from pathlib import Path

from serlib.data.corpora.base import Corpus, CorpusFile, Listing, audio_files, match_file_names

FILE_NAME = re.compile(
    r"(?P<speaker>\d{2})(?P<text>[a-z]\d{2})(?P<emotion>[A-Z])(?P<version>[a-z])\.wav",
    re.IGNORECASE,
)

SPEAKER_GENDERS = {
    "03": "male", "08": "female", "09": "female", "10": "male", "11": "male",
    "12": "male", "13": "female", "14": "female", "15": "male", "16": "female",
}


def list_files(root: Path) -> Listing:
    """Describe every ``root/wav/*.wav`` from its file name."""
    return match_file_names(audio_files(root / "wav"), FILE_NAME, _describe)


def _describe(path: Path, match: re.Match[str]) -> CorpusFile:
    speaker = match["speaker"]
    return CorpusFile(path, speaker, SPEAKER_GENDERS.get(speaker, ""), match["emotion"].upper(),
                      text=match["text"].lower())


CORPUS = Corpus(
    name="emodb",
    language="de",
    label_codes={
        "W": "anger", "L": "boredom", "E": "disgust", "A": "fear",
        "F": "happiness", "T": "sadness", "N": "neutral",
    },
    layout="wav/<speaker:2><text:3><emotion:1><version:1>.wav, e.g. wav/03a01Fa.wav",
    list_files=list_files,
)
