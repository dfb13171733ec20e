"""Notebook 07: layer selection, data scaling, controls, the speaker-independent split."""

from __future__ import annotations

import dataclasses

import pandas as pd

from serlib.common.files import write_csv_atomically
from serlib.study.config import ModelSpec, StudyConfig
from serlib.study.stores import feature_folder
from serlib.study.prepare import PreparedCorpus
from serlib.study.probe_runs import probe_run
from serlib.study.tables import table_path


def layered_models(config: StudyConfig) -> list[ModelSpec]:
    """The profile's models with more than one hidden state (not the acoustic baselines)."""
    from serlib.features.acoustic import is_acoustic

    return [model for model in config.models if not is_acoustic(model.source)]


def layer_selection(config: StudyConfig, prepared: list[PreparedCorpus],
                    linear_results: pd.DataFrame) -> pd.DataFrame:
    """Each criterion's chosen layer per model x corpus against the test-best (oracle) layer.

    The cheap criteria score the first fold of the current protocol's split; the dev-probe
    criterion reads the probe results of every fold."""
    from serlib.probing import layer_selection as selection

    models = layered_models(config)
    scores = [selection.cheap_criterion_scores(feature_folder(config, model, corpus.corpus_id),
                                               corpus.split_file(config.split_protocol),
                                               corpus=corpus.corpus_id, model=model.model_id, fold=0)
              for model in models for corpus in prepared]
    layered = linear_results[linear_results["model"].isin([model.model_id for model in models])]
    scores.append(selection.dev_probe_scores(layered))
    return selection.evaluate_selection(layered, pd.concat(scores, ignore_index=True))


def learning_curves(config: StudyConfig, prepared: list[PreparedCorpus]) -> pd.DataFrame:
    """Learning curves of the best single layer vs aggregation for the models and corpora of
    the profile's ``analysis.scaling`` section (fractions, seeds, probes; cached like probes)."""
    from serlib.probing.scaling import DEFAULT_FRACTIONS

    settings = config.analysis_settings("scaling")
    fractions = settings.get("fractions", DEFAULT_FRACTIONS)
    probes = settings.get("probes", ("linear", "aggregate-softmax"))
    seeds = settings.get("seeds", 3)
    corpus_ids = (config.analysis.get("scaling") or {}).get("corpora")
    corpora = [corpus for corpus in prepared if not corpus_ids or corpus.corpus_id in corpus_ids]
    tables = []
    for model in config.analysis_models("scaling"):
        for corpus in corpora:
            for probe in probes:
                for fraction in fractions:
                    results = probe_run(config, model, corpus, probe, seeds=seeds,
                                        train_fraction=float(fraction))[0]
                    tables.append(results)
    curves = pd.concat(tables, ignore_index=True)
    write_csv_atomically(curves, table_path(config, "learning_curves"))
    return curves


def with_protocol(config: StudyConfig, protocol: str) -> StudyConfig:
    """The same study under another split protocol (``speaker``: speaker-independent)."""
    return dataclasses.replace(config, split_protocol=protocol)


def protocol_gap(random_best: pd.DataFrame, speaker_best: pd.DataFrame) -> pd.DataFrame:
    """Best-layer test accuracy under the random (paper) and speaker-independent splits."""
    keys = ["corpus", "model", "probe"]
    columns = keys + ["best_layer", "test_mean", "test_ci_low", "test_ci_high"]
    table = random_best[columns].merge(speaker_best[columns], on=keys,
                                       suffixes=("_random", "_speaker"))
    table["gap"] = table["test_mean_random"] - table["test_mean_speaker"]
    return table
