"""The ``synthetic`` corpus: SYNTHETIC STAND-IN SPEECH made by :mod:`serlib.data.synthetic`.

eSpeak NG voices with emotions rendered by prosody rules, in six languages (de fa el it fr en);
not human emotional speech, so numbers measured on it only show that the pipeline works and that
a rule-made signal can be found. Layout (generate it with ``serlib synth ROOT``)::

    <root>/<language>/<speaker>/<speaker>_<emotion>_<sentence>.wav   e.g. de/de_m1/de_m1_anger_02.wav
    <root>/VERSION.json

The language comes from the folder (one row each, so the corpus can be split by language),
the speaker from the sub-folder (``<language>_<variant>``; the variant's first letter gives the
gender: ``m`` male, ``f`` female) and the emotion from the file name, already a canonical label.
The text is the language and the sentence number of the file name (``de_02``): the sentences of
one number are translations of each other, not the same words, so each language's are their own.
"""

from __future__ import annotations

import re
from pathlib import Path

from serlib.data.corpora.base import Corpus, CorpusFile, Listing, audio_files
from serlib.common.errors import SerlibError
from serlib.data.synthetic import CORPUS_NAME, EMOTIONS, LANGUAGES, VERSION_NAME

RELATIVE_PATH = re.compile(
    r"(?P<language>[a-z]{2})/(?P<speaker>(?P=language)_(?P<variant>[mf]\d+))/"
    r"(?P=speaker)_(?P<emotion>[a-z]+)_(?P<sentence>\d{2})\.wav"
)
GENDERS = {"m": "male", "f": "female"}


def list_files(root: Path) -> Listing:
    """Describe every ``<language>/<speaker>/*.wav`` under a generated corpus root.

    A folder without ``VERSION.json`` is not a (complete) generated corpus and raises
    :class:`SerlibError` naming the command that generates it.
    """
    if not (root / VERSION_NAME).is_file():
        raise SerlibError(
            f"{root} holds no {VERSION_NAME}, so it is not a complete generated synthetic corpus; "
            f"generate it with 'serlib synth {root}'"
        )
    listing = Listing()
    for path in audio_files(root, recursive=True):
        match = RELATIVE_PATH.fullmatch(path.relative_to(root).as_posix())
        if match is None:
            listing.nonconforming.append(path)
            continue
        listing.files.append(
            CorpusFile(
                audio_path=path,
                speaker=match["speaker"],
                gender=GENDERS[match["variant"][0]],
                label_code=match["emotion"],
                language=match["language"],
                text=f"{match['language']}_{match['sentence']}",
            )
        )
    return listing


CORPUS = Corpus(
    name=CORPUS_NAME,
    language="",  # multilingual: every file carries its own language (the folder name)
    label_codes={emotion: emotion for emotion in EMOTIONS},
    layout=(
        f"<language>/<speaker>/<speaker>_<emotion>_<sentence:2>.wav with language in "
        f"{', '.join(LANGUAGES)}, e.g. de/de_m1/de_m1_anger_02.wav, plus {VERSION_NAME}"
    ),
    list_files=list_files,
)
