"""The corpus registry: name -> :class:`~serlib.data.corpora.base.Corpus`, imported lazily."""

from __future__ import annotations

import importlib

from serlib.data.corpora.base import Corpus
from serlib.common.errors import SerlibError

CORPORA: dict[str, str] = {
    "emodb": "serlib.data.corpora.emodb:CORPUS",
    "shemo": "serlib.data.corpora.shemo:CORPUS",
    "aesdd": "serlib.data.corpora.aesdd:CORPUS",
    "emovo": "serlib.data.corpora.emovo:CORPUS",
    "cafe": "serlib.data.corpora.cafe:CORPUS",
    "ravdess": "serlib.data.corpora.ravdess:CORPUS",
    "iemocap": "serlib.data.corpora.iemocap:CORPUS",
    "iemocap_full": "serlib.data.corpora.iemocap:CORPUS_FULL",
    "cremad": "serlib.data.corpora.cremad:CORPUS",
    "synthetic": "serlib.data.corpora.synthetic:CORPUS",
    "csv": "serlib.data.corpora.user_csv:CORPUS",
    "audiofolder": "serlib.data.corpora.audiofolder:CORPUS",
}
"""Corpus name -> ``"module:attribute"`` of its :class:`Corpus`."""


def corpus_names() -> list[str]:
    """The registered corpus names, in registry order."""
    return list(CORPORA)


def get_corpus(name: str) -> Corpus:
    """The :class:`Corpus` registered under ``name``; unknown names raise SerlibError."""
    if name not in CORPORA:
        raise SerlibError(
            f"unknown corpus {name!r}; known corpora: {', '.join(corpus_names())}"
        )
    module_name, attribute = CORPORA[name].split(":")
    return getattr(importlib.import_module(module_name), attribute)
