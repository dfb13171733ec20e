"""Notebook 10: how well calibrated each hidden state's probe is, and how fair across speakers.

From the per-utterance predictions and probabilities the probes left (main protocol), for every
hidden state of the paper's probe, its best layer chosen on dev in every fold, and every
aggregation:

- calibration (:mod:`serlib.report.calibration`): expected calibration error over 15 confidence
  bins with its 95% interval, and the reliability bins of each system;
- fairness (:mod:`serlib.report.fairness`): accuracy and UAR by sex and by speaker with
  intervals, the female - male gap with its interval, and the worst speaker's accuracy.
"""

from __future__ import annotations

import pandas as pd

from serlib.common.files import write_csv_atomically
from serlib.study.config import ModelSpec, StudyConfig
from serlib.study.prepare import PreparedCorpus
from serlib.study.tables import predictions_path, read_predictions, read_probe_table, table_path

SINGLE = "linear"
AGGREGATIONS = ("aggregate", "aggregate-pooled", "aggregate-softmax", "aggregate-concat", "aggregate-hierconv")
BEST_LAYER = f"best-layer({SINGLE})"


def systems(config: StudyConfig, models: list[ModelSpec]) -> pd.DataFrame:
    """Test (and dev) predictions of every hidden state of ``linear``, of its best layer chosen
    on dev in every fold (probe ``best-layer(linear)``, layer ``chosen``) and of every
    aggregation that ran, for ``models``, with their probability columns."""
    from serlib.report.uncertainty import nested_best_layer

    ids = [model.model_id for model in models]
    linear = read_predictions(config, SINGLE)
    linear = linear[linear["model"].isin(ids)]
    chosen, _ = nested_best_layer(read_probe_table(config, SINGLE), linear, [SINGLE], label=BEST_LAYER)
    parts = [linear, chosen.drop(columns=["chosen_probe"]).assign(layer="chosen")]
    for probe in AGGREGATIONS:
        if predictions_path(config, probe).is_file():
            predictions = read_predictions(config, probe)
            parts.append(predictions[predictions["model"].isin(ids)])
    return pd.concat(parts, ignore_index=True)


def calibration_tables(config: StudyConfig, models: list[ModelSpec]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ECE per system with its interval (``tables/calibration.<protocol>.csv``) and every
    system's reliability bins (``tables/reliability.<protocol>.csv``)."""
    from serlib.report.calibration import calibration_table, reliability_bins

    predictions = systems(config, models)
    calibration, reliability = calibration_table(predictions), reliability_bins(predictions)
    write_csv_atomically(calibration, table_path(config, "calibration"))
    write_csv_atomically(reliability, table_path(config, "reliability"))
    return calibration, reliability


def fairness_tables(config: StudyConfig, prepared: list[PreparedCorpus],
                    models: list[ModelSpec]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per system: accuracy by sex and by speaker with intervals (``tables/fairness_groups.
    <protocol>.csv``), and the female - male gap and the worst speaker (``tables/fairness.
    <protocol>.csv``)."""
    from serlib.report.fairness import fairness_summary, genders_of_speakers, group_accuracy_table

    predictions = systems(config, models)
    manifests = pd.concat([corpus.manifest() for corpus in prepared], ignore_index=True)
    by_utterance = manifests.drop_duplicates("utterance_id").set_index("utterance_id")
    groups = pd.concat([
        group_accuracy_table(predictions, by_utterance["gender"], "group").assign(grouping="sex"),
        group_accuracy_table(predictions, by_utterance["speaker"], "group").assign(grouping="speaker"),
    ], ignore_index=True)
    summary = fairness_summary(predictions, genders_of_speakers(manifests))
    write_csv_atomically(groups, table_path(config, "fairness_groups"))
    write_csv_atomically(summary, table_path(config, "fairness"))
    return summary, groups


__all__ = ["AGGREGATIONS", "BEST_LAYER", "calibration_tables", "fairness_tables", "systems"]
