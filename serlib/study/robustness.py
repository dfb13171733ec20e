"""Notebook 09: probes trained on clean audio, tested on degraded copies of the test utterances.

For every condition of ``analysis.robustness.conditions`` (:data:`serlib.data.degrade.CONDITIONS`:
white and pink noise at 20, 10 and 0 dB SNR, a telephone channel) each corpus gets a degraded
copy, generated deterministically (:func:`serlib.data.degrade.write_degraded_corpus`), whose
features are a cached store of their own (``features/<model>/<corpus>@<condition>/``). The copy's
audio lives beside those stores, in ``<feature_dir>/_degraded-audio/<corpus>/<condition>/``, not
in the work folder: a store's key covers its audio paths, so a run with another work folder and
the same feature stores (``serlib reproduce``) finds the copies, and their features, cached. The
probes are trained on the clean train part, their epoch chosen on the clean dev part, and scored
on the clean test part and on each degraded copy of it (parts ``test@<condition>``;
:func:`serlib.probing.train.train_probe`'s ``test_copies``). Under the main protocol only.

:func:`robustness_tables` gives, per condition, the accuracy of every hidden state and of every
aggregation with its interval, whether the best clean layer (chosen on clean dev) is still the
best, and the single-layer vs aggregation verdict on the degraded test (paired, Holm).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from serlib.common.files import write_csv_atomically
from serlib.probing.inputs import TEST_COPY_PREFIX
from serlib.study.config import ModelSpec, StudyConfig
from serlib.study.prepare import PreparedCorpus
from serlib.study.probe_cache import labelled_tables, probe_entry
from serlib.study.stores import LAST_MODEL, engine_settings, feature_folder
from serlib.study.tables import table_path

SINGLE = "linear"
AGGREGATIONS = ("aggregate-pooled", "aggregate-softmax", "aggregate-concat", "aggregate-hierconv")


def conditions_of(config: StudyConfig) -> list[str]:
    """The profile's degraded conditions (``analysis.robustness.conditions``; default all)."""
    from serlib.data.degrade import CONDITIONS, get_condition

    listed = (config.analysis.get("robustness") or {}).get("conditions")
    return [get_condition(name).name for name in listed] if listed else list(CONDITIONS)


#: The folder of the feature stores that holds the degraded copies' audio (a leading ``_``: no
#: model's store folder is named so).
DEGRADED_AUDIO_FOLDER = "_degraded-audio"


def degraded_audio_folder(config: StudyConfig, corpus_id: str, condition: str) -> Path:
    """Where the ``condition`` copy of ``corpus_id``'s audio is written: with the feature stores."""
    return config.feature_dir / DEGRADED_AUDIO_FOLDER / corpus_id / condition


def degraded_store(config: StudyConfig, model: ModelSpec, corpus: PreparedCorpus, condition: str,
                   progress: bool = True):
    """The feature store of ``model`` on the ``condition`` copy of ``corpus`` (both cached)."""
    from serlib.data.degrade import write_degraded_corpus
    from serlib.features.extract import extract_features

    root = degraded_audio_folder(config, corpus.corpus_id, condition)
    manifest = write_degraded_corpus(corpus.manifest(), condition, root)
    settings = {**engine_settings(config), "keep_frames": False}
    return extract_features(model.source, manifest, config.feature_dir,
                            corpus_name=f"{corpus.corpus_id}@{condition}", model_label=model.model_id,
                            progress=progress, loader=LAST_MODEL, **settings).folder


def robustness_run(config: StudyConfig, model: ModelSpec, corpus: PreparedCorpus, probe: str,
                   conditions: list[str], progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Results and predictions of ``probe`` trained on clean audio and scored on the clean and
    the degraded test copies (cached; keyed by the degraded stores' keys too)."""
    from serlib.features.store import read_complete_index
    from serlib.probing.train import train_probe

    stores = {condition: degraded_store(config, model, corpus, condition, progress) for condition in conditions}
    entry = probe_entry(config, model, corpus, probe).variant(
        "degraded", copies={condition: read_complete_index(folder)["cache_key"] for condition, folder in stores.items()})

    def train() -> list[pd.DataFrame]:
        run = train_probe(feature_folder(config, model, corpus.corpus_id), entry.split_file, probe=probe,
                          corpus=corpus.corpus_id, model=model.model_id, language=corpus.language,
                          protocol=config.split_protocol, test_copies=stores, **entry.settings)
        return labelled_tables(run, probe)

    results, _, predictions = entry.tables(train)
    return results, predictions


def condition_predictions(predictions: pd.DataFrame, condition: str | None) -> pd.DataFrame:
    """The predictions with the ``condition`` copy of the test part as their test part (the
    clean test part for None); dev is always clean."""
    test = "test" if condition is None else f"{TEST_COPY_PREFIX}{condition}"
    kept = predictions[predictions["split"].isin(["dev", test])]
    return kept.assign(split=kept["split"].replace({test: "test"}))


def robustness_tables(config: StudyConfig, prepared: list[PreparedCorpus], models: list[ModelSpec],
                      progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per condition (``clean`` first): every hidden state's and every aggregation's test
    accuracy with its interval, and whether each layer is the one chosen on clean dev; and the
    paired comparisons of the best clean layer (chosen on clean dev in every fold) with every
    aggregation on that condition's test part (Holm over the table). Written to
    ``tables/robustness.<protocol>.csv`` and ``tables/robustness_comparison.<protocol>.csv``."""
    from serlib.study.probe_cache import probes_run_under

    conditions = conditions_of(config)
    aggregations = [probe for probe in AGGREGATIONS if config.split_protocol in probes_run_under(config, probe)]
    try:
        accuracy_rows, comparison_rows = _table_rows(config, prepared, models, conditions, aggregations, progress)
    finally:
        LAST_MODEL.clear()  # the model of the degraded copies' extraction is let go
    accuracy = pd.concat(accuracy_rows, ignore_index=True)
    accuracy = accuracy[["condition", *[c for c in accuracy.columns if c != "condition"]]]
    comparison = pd.DataFrame()
    if comparison_rows:
        from serlib.report.uncertainty import with_holm

        comparison = with_holm(pd.concat(comparison_rows, ignore_index=True))
        comparison = comparison[["condition", *[c for c in comparison.columns if c != "condition"]]]
    write_csv_atomically(accuracy, table_path(config, "robustness"))
    write_csv_atomically(comparison, table_path(config, "robustness_comparison"))
    return accuracy, comparison


def _table_rows(config, prepared, models, conditions, aggregations, progress) -> tuple[list, list]:
    """The rows of :func:`robustness_tables`' two tables, of every model x corpus."""
    from serlib.report import analysis
    from serlib.report.uncertainty import layer_intervals, nested_best_layer

    accuracy_rows, comparison_rows = [], []
    for model in models:
        for corpus in prepared:
            runs = {probe: robustness_run(config, model, corpus, probe, conditions, progress)
                    for probe in (SINGLE, *aggregations) if _runs_on(config, probe, model)}
            results = pd.concat([run[0] for run in runs.values()], ignore_index=True)
            predictions = pd.concat([run[1] for run in runs.values()], ignore_index=True)
            _, choices = nested_best_layer(results, predictions, [SINGLE])
            chosen = choices["layer"].value_counts().idxmax()
            for condition in [None, *conditions]:
                name = condition or "clean"
                copy = condition_predictions(predictions, condition)
                intervals = layer_intervals(copy).assign(condition=name)
                single = intervals[intervals["probe"] == SINGLE]
                best_on_test = single.loc[single["accuracy"].idxmax(), "layer"]
                accuracy_rows.append(intervals.assign(
                    chosen_on_clean_dev=intervals["layer"].eq(chosen) & intervals["probe"].eq(SINGLE),
                    best_on_this_test=intervals["layer"].eq(best_on_test) & intervals["probe"].eq(SINGLE)))
                comparison, _ = analysis.aggregation_comparisons(results, copy, [SINGLE], list(runs)[1:])
                if not comparison.empty:
                    comparison_rows.append(comparison.drop(columns=["p_holm", "family"]).assign(
                        condition=name, layer_chosen_on_clean_dev=chosen, best_layer_on_this_test=best_on_test))
    return accuracy_rows, comparison_rows


def _runs_on(config: StudyConfig, probe: str, model: ModelSpec) -> bool:
    listed = ((config.probes.get("per_probe") or {}).get(probe) or {}).get("models")
    return listed is None or model.model_id in listed


__all__ = ["AGGREGATIONS", "conditions_of", "condition_predictions", "degraded_store", "robustness_run",
           "robustness_tables"]
