"""The corpus registry: name -> :class:`~serlib.corpora.base.Corpus`, imported lazily."""

from __future__ import annotations

import importlib

from serlib.corpora.base import Corpus
from serlib.errors import SerlibError

CORPORA: dict[str, str] = {
    "emodb": "serlib.corpora.emodb:CORPUS",
    "shemo": "serlib.corpora.shemo:CORPUS",
    "aesdd": "serlib.corpora.aesdd:CORPUS",
    "emovo": "serlib.corpora.emovo:CORPUS",
    "cafe": "serlib.corpora.cafe:CORPUS",
    "ravdess": "serlib.corpora.ravdess:CORPUS",
    "iemocap": "serlib.corpora.iemocap:CORPUS",
    "iemocap_full": "serlib.corpora.iemocap:CORPUS_FULL",
    "cremad": "serlib.corpora.cremad:CORPUS",
    "synthetic": "serlib.corpora.synthetic:CORPUS",
    "csv": "serlib.corpora.user_csv:CORPUS",
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
