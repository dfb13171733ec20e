"""Notebook 10: what else each hidden state knows (speaker, sex, spoken text), per layer.

The paper's probe (``linear``) is trained for every hidden state on other labels of the
manifest, with the splits of :mod:`serlib.data.attribute_splits` (sex and text under the main
emotion protocol, speaker identity under a split stratified by speaker), cached like every probe
(:meth:`serlib.study.probe_cache.ProbeEntry.variant`). :func:`layer_attribute_table` sets each
attribute's accuracy per hidden state, with its 95% interval and chance level, beside emotion's.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from serlib.common.errors import SerlibError
from serlib.common.files import atomic_write_text, write_csv_atomically
from serlib.study.config import ModelSpec, StudyConfig
from serlib.study.prepare import PreparedCorpus
from serlib.study.probe_cache import labelled_tables, probe_entry
from serlib.study.stores import feature_folder
from serlib.study.tables import table_path

ATTRIBUTES = ("speaker", "sex", "text")
ATTRIBUTE_PROBE = "linear"


def attribute_split_file(config: StudyConfig, corpus: PreparedCorpus, attribute: str):
    """The fold table probing ``attribute`` on ``corpus``, written beside its manifest (rewritten
    only when it changes); None when the corpus does not define the attribute."""
    from serlib.data.attribute_splits import attribute_split
    from serlib.data.splits import split_path

    try:
        table = attribute_split(corpus.manifest(), attribute, corpus.split(config.split_protocol),
                                config.split_seed, config.split_repeats)
    except SerlibError:
        return None
    path = split_path(corpus.manifest_path, config.split_protocol, config.split_seed).with_name(
        f"{corpus.manifest_path.stem}.attribute-{attribute}-{config.split_protocol}-seed{config.split_seed}.csv")
    text = table.to_csv(index=False)
    if not path.is_file() or path.read_text() != text:
        atomic_write_text(path, text)
    return path


def attribute_run(config: StudyConfig, model: ModelSpec, corpus: PreparedCorpus, attribute: str,
                  probe: str = ATTRIBUTE_PROBE) -> pd.DataFrame | None:
    """Per-utterance predictions of ``probe`` for every hidden state on ``attribute`` (cached);
    None when the corpus does not define it."""
    from serlib.data.attribute_splits import ATTRIBUTE_PROTOCOLS
    from serlib.probing.train import train_probe

    split_file = attribute_split_file(config, corpus, attribute)
    if split_file is None:
        return None
    entry = probe_entry(config, model, corpus, probe).variant(
        attribute, attribute=attribute, attribute_split_sha256=hashlib.sha256(split_file.read_bytes()).hexdigest())
    protocol = ATTRIBUTE_PROTOCOLS[attribute].replace("emotion protocol", config.split_protocol)

    def train() -> list[pd.DataFrame]:
        run = train_probe(feature_folder(config, model, corpus.corpus_id), split_file, probe=probe,
                          corpus=corpus.corpus_id, model=model.model_id, language=corpus.language,
                          protocol=protocol, **entry.settings)
        return labelled_tables(run, entry.label)

    return entry.tables(train)[2].assign(attribute=attribute)


def chance_levels(predictions: pd.DataFrame) -> pd.Series:
    """Chance level per corpus x model: the share of the most frequent label among all test
    utterances of a run (every fold's test part together, per seed and hidden state; then
    averaged).

    Not per fold: under speaker-cv a fold tests one or two speakers, whose sex (or whose
    own identity) is a single label, so a fold's own majority class would claim a chance
    level of 1.0 for sex that no probe trained on the other speakers can reach by guessing.
    """
    from serlib.probing.metrics import majority_class_accuracy

    test = predictions[predictions["split"] == "test"]
    return (test.groupby(["corpus", "model", "protocol", "seed", "layer"])["label"]
            .agg(majority_class_accuracy).groupby(["corpus", "model"]).mean().rename("chance"))


def layer_attribute_table(config: StudyConfig, prepared: list[PreparedCorpus],
                          models: list[ModelSpec]) -> pd.DataFrame:
    """Accuracy by hidden state of emotion, speaker, sex and text (each with its 95% interval,
    bootstrap over speakers and seeds, and its chance level, :func:`chance_levels`), per
    model x corpus; written to ``tables/layer_attributes.<protocol>.csv``."""
    from serlib.report.uncertainty import layer_intervals
    from serlib.study.tables import read_predictions

    emotion = read_predictions(config, ATTRIBUTE_PROBE)
    parts = [emotion[emotion["model"].isin([model.model_id for model in models])].assign(attribute="emotion")]
    for model in models:
        for corpus in prepared:
            for attribute in ATTRIBUTES:
                predictions = attribute_run(config, model, corpus, attribute)
                if predictions is not None:
                    parts.append(predictions)
    rows = []
    for attribute_part in parts:
        attribute = attribute_part["attribute"].iloc[0]
        intervals = layer_intervals(attribute_part)
        chance = chance_levels(attribute_part)
        rows.append(intervals.merge(chance.reset_index(), on=["corpus", "model"]).assign(attribute=attribute))
    table = pd.concat(rows, ignore_index=True)
    columns = ["attribute", "protocol", "corpus", "model", "layer", "accuracy", "ci_low", "ci_high", "chance",
               "uar", "n_utterances", "n_speakers", "n_folds", "n_seeds"]
    table = table.loc[:, columns]
    write_csv_atomically(table, table_path(config, "layer_attributes"))
    return table


__all__ = ["ATTRIBUTES", "attribute_run", "attribute_split_file", "chance_levels", "layer_attribute_table"]
