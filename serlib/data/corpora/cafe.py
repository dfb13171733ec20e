"""CaFE (Canadian French Emotional speech dataset), French: one folder per emotion.

Emotion folders Colère Dégoût Joie Neutre Peur Surprise Tristesse, each (except Neutre) with
intensity subfolders Faible and Fort; file names ``01-C-1-1.wav``: actor, emotion letter
(C D J N P S T), intensity (1 faible, 2 fort), sentence (one digit; the manifest's ``text``).

The emotion and the intensity are read from the *file name*. The folders are checked only as
far as they can be recognised: archives unpack their accented names differently (UTF-8 NFC,
NFD on macOS, or the archive's CP437/CP850 bytes, raw or shown as mojibake such as ``ColŠre``
and ``D‚go–t``), so a folder name is matched against the known names under every such
reading (:func:`folder_readings`). A file whose recognised emotion or intensity folder
disagrees with its name is reported as not following the layout; folders that match no known
name in any reading are not judged. No file is ever dropped silently.
"""

from __future__ import annotations

import os
import re
import unicodedata
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
FOLDER_INTENSITIES = {"faible": "1", "fort": "2"}
#: How a name's bytes may have been mis-encoded on the way out of the archive (the name as
#: shown re-encoded in these) and how they may be read (the candidates decoded with these).
NAME_ENCODINGS = ("cp437", "cp850", "cp1252", "latin-1")
NAME_DECODINGS = ("utf-8", "cp437", "cp850", "cp1252", "latin-1")


def folder_readings(name: str) -> set[str]:
    """Every normalized reading of a folder name under the encodings archives use.

    The name as the file system gives it (undecodable bytes as surrogates), its raw bytes, and
    the bytes it shows re-encoded in a legacy code page, each decoded as UTF-8, CP437, CP850,
    CP1252 and latin-1: ``Col\\x8are`` (CP850 bytes), ``ColŠre`` (CP850 bytes shown as CP1252)
    and ``ColÞre``/``Col├¿re`` (UTF-8 bytes shown as a code page) all read as ``colère``.
    """
    sources = [os.fsencode(name)]
    for encoding in NAME_ENCODINGS:
        try:
            sources.append(name.encode(encoding))
        except UnicodeEncodeError:
            continue
    readings = {normalized_name(name)}
    for raw in sources:
        for decoding in NAME_DECODINGS:
            try:
                readings.add(normalized_name(raw.decode(decoding)))
            except UnicodeDecodeError:
                continue
    return readings


def recognised_folder(name: str, known: dict[str, str]) -> str | None:
    """The value of ``known`` whose key is a reading of ``name``, or None if none is."""
    for reading in folder_readings(name):
        if reading in known:
            return known[reading]
    return None


def list_files(root: Path) -> Listing:
    """Describe every wav under ``root`` from its file name; check what folders can be read."""
    found = match_file_names(audio_files(root, recursive=True), FILE_NAME, _describe)
    listing = Listing(nonconforming=found.nonconforming, excluded=found.excluded,
                      excluded_paths=found.excluded_paths)
    for corpus_file in found.files:
        if _folders_agree(root, corpus_file):
            listing.files.append(corpus_file)
        else:
            listing.nonconforming.append(corpus_file.audio_path)
    return listing


def _folders_agree(root: Path, corpus_file: CorpusFile) -> bool:
    """False when a recognised emotion or intensity folder contradicts the file name."""
    intensity = FILE_NAME.fullmatch(unicodedata.normalize("NFC", corpus_file.audio_path.name))[
        "intensity"]
    for folder in corpus_file.audio_path.relative_to(root).parent.parts:
        emotion_code = recognised_folder(folder, FOLDER_EMOTION_CODES)
        if emotion_code is not None and emotion_code != corpus_file.label_code:
            return False
        folder_intensity = recognised_folder(folder, FOLDER_INTENSITIES)
        if folder_intensity is not None and folder_intensity != intensity:
            return False
    return True


def _describe(path: Path, match: re.Match[str]) -> CorpusFile:
    return CorpusFile(path, match["actor"], "", match["emotion"].upper(), text=match["sentence"])


CORPUS = Corpus(
    name="cafe",
    language="fr",
    label_codes={
        "C": "anger", "D": "disgust", "J": "happiness", "N": "neutral",
        "P": "fear", "S": "surprise", "T": "sadness",
    },
    layout="emotion folders Colère Dégoût Joie Neutre Peur Surprise Tristesse (intensity "
    "subfolders Faible/Fort except Neutre) of <actor:2>-<emotion:1>-<intensity>-<sentence>.wav, "
    "e.g. Colère/Faible/01-C-1-1.wav; emotion and intensity (1 Faible, 2 Fort) are read from "
    "the file name, folders in any encoding",
    list_files=list_files,
)
