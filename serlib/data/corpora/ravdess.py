"""RAVDESS (speech part), English: ``Actor_XX/03-01-EE-II-SS-RR-AA.wav``.

Seven two-digit fields: modality (03 audio-only), vocal channel (01 speech), emotion
(01 neutral 02 calm 03 happy 04 sad 05 angry 06 fearful 07 disgust 08 surprised),
intensity, statement (01 "Kids are talking by the door", 02 "Dogs are sitting by the door";
the manifest's ``text``), repetition, actor (odd male, even female). Only audio-only speech
recordings belong to the study; song or video files found in the tree are counted as
excluded, not errors.
"""

from __future__ import annotations

import re
from pathlib import Path

from serlib.data.corpora.base import (Corpus, CorpusFile, Listing, audio_files, match_file_names,
                                  matching_folders)

FILE_NAME = re.compile(
    r"(?P<modality>\d{2})-(?P<channel>\d{2})-(?P<emotion>\d{2})-(?P<intensity>\d{2})"
    r"-(?P<statement>\d{2})-(?P<repetition>\d{2})-(?P<actor>\d{2})\.wav"
)
ACTOR_FOLDER = re.compile(r"Actor_\d{2}", re.IGNORECASE)
AUDIO_ONLY = "03"
SPEECH = "01"


def list_files(root: Path) -> Listing:
    """Describe every wav in the ``Actor_XX`` folders; keep audio-only speech recordings."""
    paths = [path for folder in matching_folders(root, ACTOR_FOLDER) for path in audio_files(folder)]
    return match_file_names(paths, FILE_NAME, _describe)


def _describe(path: Path, match: re.Match[str]) -> CorpusFile | str:
    if match["modality"] != AUDIO_ONLY or match["channel"] != SPEECH:
        return "not an audio-only speech recording (modality 03, vocal channel 01)"
    actor = match["actor"]
    gender = "male" if int(actor) % 2 == 1 else "female"
    return CorpusFile(path, actor, gender, match["emotion"], text=match["statement"])


CORPUS = Corpus(
    name="ravdess",
    language="en",
    label_codes={
        "01": "neutral", "02": "calm", "03": "happiness", "04": "sadness",
        "05": "anger", "06": "fear", "07": "disgust", "08": "surprise",
    },
    layout="Actor_XX folders of <modality>-<channel>-<emotion>-<intensity>-<statement>-"
    "<repetition>-<actor>.wav, e.g. Actor_01/03-01-05-01-01-01-01.wav",
    list_files=list_files,
)
