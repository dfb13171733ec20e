"""Notebook 09: does the headline depend on the probe's capacity, or on how features are scaled?

Rankings of representations change with the capacity of the probe head (Zaiem et al., arXiv
2308.14456). The headline comparison (best single layer, chosen on dev in every fold, against an
all-layer aggregation) is asked at three head capacities, each aggregation with the head of the
single-layer probe it is compared with (SUPERB's softmax layer weights before it):

- strictly linear: ``softmax`` against ``aggregate-softmax-linear``;
- the paper's MLP (128 hidden): ``linear`` against ``aggregate-softmax``;
- a wider MLP (2 x 512, dropout 0.2): ``mlp-wide`` against ``aggregate-softmax-wide``;

and once more with the paper's MLP on features standardised within each speaker (a common SER
practice) instead of with the training part's statistics. :func:`capacity_table` says, per
variant, which layer dev chose most often, the comparison with its interval and Holm verdict, and
whether the best layer and the verdict differ from the paper's MLP's.
"""

from __future__ import annotations

import pandas as pd

from serlib.common.files import write_csv_atomically
from serlib.study.config import StudyConfig
from serlib.study.tables import read_predictions, read_probe_table, table_path

SPEAKER_STANDARDIZED = "speaker"
#: (variant, single-layer probe, aggregation, input scaling override)
VARIANTS = (
    ("linear head", "softmax", "aggregate-softmax-linear", None),
    ("paper MLP (128)", "linear", "aggregate-softmax", None),
    ("wide MLP (2 x 512, dropout 0.2)", "mlp-wide", "aggregate-softmax-wide", None),
    ("paper MLP, features standardised per speaker", "linear", "aggregate-softmax", SPEAKER_STANDARDIZED),
)
REFERENCE_VARIANT = "paper MLP (128)"


def variant_probes(config: StudyConfig) -> list[tuple[str, str, dict]]:
    """(probe, label, overrides) of every probe the variants need."""
    from serlib.study.probe_cache import probe_label

    probes = []
    for _, single, aggregation, scaling in VARIANTS:
        overrides = {"standardize": scaling} if scaling else {}
        for probe in (single, aggregation):
            entry = (probe, probe_label(config, probe, **overrides), overrides)
            if entry not in probes:
                probes.append(entry)
    return probes


def capacity_table(config: StudyConfig) -> pd.DataFrame:
    """Every variant's headline comparison under the current protocol (Holm over the table),
    with the most frequent dev-chosen layer and whether it, or the verdict, differs from the
    paper MLP's; written to ``tables/probe_capacity.<protocol>.csv``."""
    from serlib.report import analysis
    from serlib.report.findings import verdict
    from serlib.report.uncertainty import with_holm
    from serlib.study.probe_cache import probe_label

    rows = []
    for name, single, aggregation, scaling in VARIANTS:
        overrides = {"standardize": scaling} if scaling else {}
        single_label, aggregation_label = (probe_label(config, probe, **overrides) for probe in (single, aggregation))
        results = pd.concat([read_probe_table(config, label) for label in (single_label, aggregation_label)])
        predictions = pd.concat([read_predictions(config, label) for label in (single_label, aggregation_label)])
        comparison, choices = analysis.aggregation_comparisons(results, predictions, [single_label],
                                                               [aggregation_label])
        if comparison.empty:
            continue
        best = (choices.groupby(["corpus", "model", "protocol"])["layer"]
                .agg(lambda layers: layers.value_counts().idxmax()).rename("best_layer").reset_index())
        rows.append(comparison.drop(columns=["p_holm", "family"]).merge(best, on=["corpus", "model", "protocol"])
                    .assign(variant=name, single_probe=single_label, aggregation_probe=aggregation_label))
    if not rows:
        return pd.DataFrame()
    table = with_holm(pd.concat(rows, ignore_index=True))
    table["verdict"] = [verdict(row, "single layer better", "aggregation better") for row in table.itertuples()]
    reference = table[table["variant"] == REFERENCE_VARIANT].set_index(["corpus", "model"])
    keys = list(zip(table["corpus"], table["model"]))
    table["best_layer_differs_from_paper_mlp"] = [
        key in reference.index and str(layer) != str(reference.loc[key, "best_layer"])
        for key, layer in zip(keys, table["best_layer"])]
    table["verdict_differs_from_paper_mlp"] = [
        key in reference.index and verdict_text != reference.loc[key, "verdict"]
        for key, verdict_text in zip(keys, table["verdict"])]
    columns = ["protocol", "corpus", "model", "variant", "single", "aggregation", "single_probe", "aggregation_probe",
               "best_layer",
               "layers_chosen", "accuracy_a", "accuracy_b", "difference", "difference_ci_low",
               "difference_ci_high", "relative_error_reduction", "reduction_ci_low", "reduction_ci_high",
               "p_value", "p_holm", "family", "verdict", "best_layer_differs_from_paper_mlp",
               "verdict_differs_from_paper_mlp", "n_utterances", "n_speakers", "n_folds", "n_seeds"]
    table = table.loc[:, columns]
    write_csv_atomically(table, table_path(config, "probe_capacity"))
    return table


__all__ = ["REFERENCE_VARIANT", "VARIANTS", "capacity_table", "variant_probes"]
