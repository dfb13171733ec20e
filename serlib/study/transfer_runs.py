"""Notebook 08: cross-lingual transfer over the corpora of the profile's ``analysis.transfer``."""

from __future__ import annotations

import dataclasses

import pandas as pd

from serlib.study.config import ModelSpec, StudyConfig
from serlib.study.stores import feature_folder, finished_index
from serlib.study.prepare import PreparedCorpus
from serlib.study.probe_cache import probe_settings
from serlib.study.tables import cached_tables, split_name


def transfer_study(config: StudyConfig) -> StudyConfig:
    """The study restricted to the corpora and models of the profile's ``analysis.transfer``."""
    return dataclasses.replace(config, corpora=config.analysis_corpora("transfer"),
                               models=config.analysis_models("transfer"))


def transfer(config: StudyConfig, prepared: list[PreparedCorpus], model: ModelSpec,
             probe: str = "linear") -> pd.DataFrame:
    """Train on every corpus, test on every other over their shared labels, at the best dev
    layer of the training corpus and at the last layer (``serlib.probing.transfer``), on the
    first fold of each corpus's split under the current protocol; cached."""
    from serlib.features.store import cache_key, model_slug
    from serlib.probing.train import TRAINING_CODE_VERSION
    from serlib.probing.transfer import transfer_matrix

    settings = probe_settings(config, probe, config.analysis_settings("transfer"))
    folders = {corpus.corpus_id: feature_folder(config, model, corpus.corpus_id) for corpus in prepared}
    splits = {corpus.corpus_id: corpus.split_file(config.split_protocol) for corpus in prepared}
    key = cache_key({"features": [finished_index(config, model, corpus.corpus_id)["cache_key"]
                                  for corpus in prepared],
                     "splits": [path.read_bytes().decode() for path in splits.values()],
                     "training_code_version": TRAINING_CODE_VERSION, "probe": probe, **settings})
    cache = config.work_dir / "transfer" / model_slug(model.model_id)
    [table] = cached_tables(cache, f"{probe}.{split_name(config)}", key, lambda: [
        transfer_matrix(folders, splits, probe=probe, model=model.model_id, **settings)])
    return table
