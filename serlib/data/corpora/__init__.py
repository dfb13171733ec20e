"""Emotional speech corpora: one module per corpus, a registry, and the manifest builder.

Each corpus module defines ``CORPUS`` (a :class:`serlib.data.corpora.base.Corpus`); the registry
(:mod:`serlib.data.corpora.registry`) maps a corpus name to it and imports the module only when
asked; :mod:`serlib.data.corpora.manifest` turns a corpus folder into the manifest table.
"""

from __future__ import annotations

from serlib.data.corpora.base import CANONICAL_LABELS, Corpus, CorpusFile, Listing
from serlib.data.corpora.manifest import MANIFEST_COLUMNS, build_manifest, write_manifest
from serlib.data.corpora.registry import CORPORA, corpus_names, get_corpus

__all__ = [
    "CANONICAL_LABELS",
    "CORPORA",
    "MANIFEST_COLUMNS",
    "Corpus",
    "CorpusFile",
    "Listing",
    "build_manifest",
    "corpus_names",
    "get_corpus",
    "write_manifest",
]
