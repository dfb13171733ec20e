"""CaFE (Canadian French Emotional speech dataset), French: one folder per emotion.

Emotion folders Colère Dégoût Joie Neutre Peur Surprise Tristesse, each (except Neutre) with
intensity subfolders Faible and Fort; file names ``01-C-1-1.wav``: actor, emotion letter
(C D J N P S T), intensity, sentence. Folder names are compared in Unicode NFC and any letter
case, so archives unpacked on macOS (NFD names) work too. A file whose emotion letter
names another emotion than its folder is reported as not following the layout.
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
    r"(?P<actor>\d{2})-(?P<emotion>[A-Z])-(?P<intensity>\d)-(?P<sentence>\d)\.wav",
    re.IGNORECASE,
)
FOLDER_EMOTION_CODES = {
    normalized_name(folder): code
    for folder, code in (
        ("Colère", "C"), ("Dégoût", "D"), ("Joie", "J"), ("Neutre", "N"),
        ("Peur", "P"), ("Surprise", "S"), ("Tristesse", "T"),
    )
}


def list_files(root: Path) -> Listing:
    """Describe every wav under the emotion folders (and their intensity subfolders)."""
    folders = (
        [path for path in sorted(root.iterdir())
         if path.is_dir() and normalized_name(path.name) in FOLDER_EMOTION_CODES]
        if root.is_dir()
        else []
    )
    listing = Listing()
    for folder in folders:
        folder_code = FOLDER_EMOTION_CODES[normalized_name(folder.name)]
        found = match_file_names(audio_files(folder, recursive=True), FILE_NAME, _describe)
        for corpus_file in found.files:
            code = corpus_file.label_code
            if code in FOLDER_EMOTION_CODES.values() and code != folder_code:
                listing.nonconforming.append(corpus_file.audio_path)
            else:
                listing.files.append(corpus_file)
        listing.nonconforming.extend(found.nonconforming)
    return listing


def _describe(path: Path, match: re.Match[str]) -> CorpusFile:
    return CorpusFile(path, match["actor"], "", match["emotion"].upper())


CORPUS = Corpus(
    name="cafe",
    language="fr",
    label_codes={
        "C": "anger", "D": "disgust", "J": "happiness", "N": "neutral",
        "P": "fear", "S": "surprise", "T": "sadness",
    },
    layout="emotion folders Colère Dégoût Joie Neutre Peur Surprise Tristesse (intensity "
    "subfolders Faible/Fort except Neutre) of <actor:2>-<emotion:1>-<intensity>-<sentence>.wav, "
    "e.g. Colère/Faible/01-C-1-1.wav",
    list_files=list_files,
)
