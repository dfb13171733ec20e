"""Splits that probe another label of the manifest than emotion: speaker, sex, spoken text.

The per-layer machinery of the study asks of every hidden state what it knows of the emotion;
these fold tables ask the same of other columns of the manifest, with the protocol each one
needs:

- ``sex`` (the manifest's ``gender``) and ``text`` (the sentence, where the corpus defines it):
  the folds of the emotion protocol (speaker-grouped cross-validation), relabelled, so that no
  test speaker was heard in training;
- ``speaker``: identity cannot be tested on unheard speakers, so an utterance-level split
  stratified by speaker, the paper's 60/20/20 over ``repeats`` split seeds.

Rows whose attribute is empty (a corpus that does not define it) are left out; an attribute
with fewer than two values is an error naming the corpus.
"""

from __future__ import annotations

import pandas as pd

from serlib.common.errors import SerlibError
from serlib.data.splits import repeated_random_splits

ATTRIBUTES = {"speaker": "speaker", "sex": "gender", "text": "text"}
#: the protocol each attribute is probed under (``emotion protocol`` = the study's main one)
ATTRIBUTE_PROTOCOLS = {"speaker": "random-within-speaker", "sex": "emotion protocol", "text": "emotion protocol"}


def attribute_labels(manifest: pd.DataFrame, attribute: str) -> pd.Series:
    """The ``attribute`` of every utterance, indexed by utterance id (empty where undefined)."""
    if attribute not in ATTRIBUTES:
        raise SerlibError(f"unknown attribute {attribute!r}; choose from {', '.join(ATTRIBUTES)}")
    column = ATTRIBUTES[attribute]
    if column not in manifest.columns:
        raise SerlibError(f"the manifest has no {column!r} column for the {attribute} attribute; "
                          "rebuild it with 'serlib manifest' (notebook 01)")
    return manifest.set_index("utterance_id")[column].fillna("").astype(str)


def attribute_split(manifest: pd.DataFrame, attribute: str, emotion_folds: pd.DataFrame,
                    seed: int = 0, repeats: int = 3) -> pd.DataFrame:
    """The fold table (``utterance_id, speaker, label, fold, split``) probing ``attribute``:
    ``emotion_folds`` relabelled (sex, text), or a speaker-stratified random split (speaker)."""
    labels = attribute_labels(manifest, attribute)
    if attribute == "speaker":
        table = repeated_random_splits(manifest.assign(label=manifest["speaker"]), seed, repeats)
    else:
        table = emotion_folds.assign(label=emotion_folds["utterance_id"].map(labels))
        table = table[table["label"].fillna("") != ""].reset_index(drop=True)
    values = table["label"].nunique()
    if values < 2:
        corpus = manifest["corpus"].iloc[0] if "corpus" in manifest.columns else "the corpus"
        raise SerlibError(f"{corpus} defines {values} value(s) of {attribute!r}; a probe needs two or more")
    return table


__all__ = ["ATTRIBUTES", "ATTRIBUTE_PROTOCOLS", "attribute_labels", "attribute_split"]
