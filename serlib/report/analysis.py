"""Tables from the tidy probe results: levels, the aggregation comparison, controls.

The comparisons with intervals (best single layer chosen on dev inside every fold, against
aggregation, the last layer or a control) are built on :mod:`serlib.report.uncertainty`; the
paper's own definition of its headline (layer chosen on test) is :func:`paper_definition_comparison`.

Input is the results table of :func:`serlib.probing.train.run_probe` (or several concatenated): columns
corpus, language, model, probe, layer, seed, split, metric, value. Scores are fractions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from serlib.probing.metrics import chance_accuracy, majority_class_accuracy
from serlib.probing.summary import RUN_KEYS, best_layer_by_dev, numeric_layers, summarise  # noqa: F401

def reference_levels(split_csv: str | Path) -> pd.DataFrame:
    """Majority-class and chance accuracy of each part of a split CSV, to print beside tables."""
    table = pd.read_csv(split_csv, dtype={"label": str})
    return pd.DataFrame([{"split": name, "majority_accuracy": majority_class_accuracy(part["label"]),
                          "chance_accuracy": chance_accuracy(part["label"])}
                         for name, part in table.groupby("split", sort=True)])


def headline(comparison: pd.DataFrame) -> pd.DataFrame:
    """The paper's headline from a :func:`paper_definition_comparison` (or :func:`paper_comparison`)
    table: mean relative error reduction of
    the best single layer against aggregation, per model (over corpora) and overall, and the
    same for the best model per corpus of each system (how the paper's 32% was computed)."""
    per_model = (comparison.groupby("model")["relative_error_reduction"].mean()
                 .rename("mean_relative_error_reduction").reset_index())
    per_model["over"] = "corpora, this model"
    best_per_corpus = comparison.groupby("corpus").agg(
        best_layer_accuracy=("best_layer_accuracy", "max"),
        aggregate_accuracy=("aggregate_accuracy", "max"))
    reduction = relative_error_reduction(best_per_corpus["best_layer_accuracy"],
                                         best_per_corpus["aggregate_accuracy"])
    summary_rows = pd.DataFrame([
        {"model": "all models", "over": "corpus x model pairs",
         "mean_relative_error_reduction": comparison["relative_error_reduction"].mean()},
        {"model": "best model per corpus", "over": "corpora",
         "mean_relative_error_reduction": reduction.mean()},
    ])
    return pd.concat([per_model, summary_rows], ignore_index=True)


def relative_error_reduction(single_accuracy, aggregate_accuracy):
    """``(err_aggregate - err_single) / err_aggregate`` with err = 1 - accuracy (fractions)."""
    error_aggregate = 1.0 - np.asarray(aggregate_accuracy, dtype=float)
    error_single = 1.0 - np.asarray(single_accuracy, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.Series((error_aggregate - error_single) / error_aggregate,
                         index=getattr(single_accuracy, "index", None))


def paper_comparison(paper: pd.DataFrame) -> pd.DataFrame:
    """The same comparison computed from the paper's own table
    (:func:`serlib.report.paper_reference.load_paper_results`): best single layer of the linear and
    of the dense probe vs aggregation, per corpus x model."""
    wide = paper.pivot_table(index=["corpus", "model"], columns="probe", values="accuracy_mean")
    best_single = wide[["linear", "dense"]].max(axis=1)
    table = pd.DataFrame({"best_layer_accuracy": best_single,
                          "aggregate_accuracy": wide["aggregate"]}).reset_index()
    table["relative_error_reduction"] = relative_error_reduction(
        table["best_layer_accuracy"], table["aggregate_accuracy"]).to_numpy()
    return table


def cumulative_rows(results: pd.DataFrame) -> pd.DataFrame:
    """Cumulative-probe rows with ``k`` (the number of blocks mixed) parsed from ``1-k``."""
    rows = results[results["layer"].astype(str).str.startswith("1-")].copy()
    rows["k"] = rows["layer"].astype(str).str.split("-").str[1].astype(int)
    return rows


# --------------------------------------------------------------------------- with intervals

#: The headline's single-layer families (the paper's frame-level dense probe where it ran, its
#: pooled variant otherwise) and every all-layer aggregation: the paper's DENSE on frames and on
#: pooled features, SUPERB's softmax weights, all hidden states concatenated, and the
#: hierarchical convolution over the layer axis.
SINGLE_FAMILIES = (("linear",), ("dense", "dense-pooled"))
AGGREGATIONS = (("aggregate",), ("aggregate-pooled",), ("aggregate-softmax",), ("aggregate-concat",),
                ("aggregate-hierconv",))
#: Frame-level probes and their pooled variants: does pooling first change the answer?
POOLED_VARIANTS = (("dense", "dense-pooled"), ("aggregate", "aggregate-pooled"))


def available_headline_probes(probes: set[str]) -> tuple[list[str], list[str]]:
    """The single-layer probes and aggregations of the headline pairings among ``probes``:
    per family the first that was run (the paper's frame-level probe before its pooled variant)."""
    def first_present(families):
        return [next(probe for probe in family if probe in probes) for family in families
                if any(probe in probes for probe in family)]
    return first_present(SINGLE_FAMILIES), first_present(AGGREGATIONS)


def _layer_choice_text(choices: pd.DataFrame) -> str:
    """``3 (7 folds), 2 (3 folds)``: the layers a nested choice took, most frequent first."""
    counts = choices.groupby(["chosen", "layer"]).size().sort_values(ascending=False)
    return ", ".join(f"{probe} {layer} ({count}/{len(choices)})" for (probe, layer), count in counts.items())


def aggregation_comparisons(results: pd.DataFrame, predictions: pd.DataFrame,
                            singles: list[str], aggregations: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Best single layer (chosen on dev inside every fold) against every all-layer aggregation,
    per corpus x model x protocol, with paired-bootstrap intervals and p-values (Holm over the
    whole table). Single systems: each probe of ``singles`` alone, and the better of them on dev
    per fold (``best-layer(linear|dense)``) when there are several.

    Returns the comparison table and the per-fold layer choices."""
    from serlib.report.uncertainty import nested_best_layer, paired_comparison, with_holm

    systems = [[probe] for probe in singles] + ([list(singles)] if len(singles) > 1 else [])
    rows, all_choices = [], []
    for probes in systems:
        chosen, choices = nested_best_layer(results, predictions, probes)
        all_choices.append(choices)
        system = choices["system"].iloc[0] if not choices.empty else "|".join(probes)
        for aggregation in aggregations:
            aggregate = predictions[predictions["probe"] == aggregation]
            for key, single_rows in chosen.groupby(["corpus", "model", "protocol"]):
                aggregate_rows = aggregate[(aggregate["corpus"] == key[0]) & (aggregate["model"] == key[1])
                                           & (aggregate["protocol"] == key[2])]
                if aggregate_rows.empty:
                    continue
                run_choices = choices[(choices["corpus"] == key[0]) & (choices["model"] == key[1])
                                      & (choices["protocol"] == key[2])]
                rows.append({"corpus": key[0], "model": key[1], "protocol": key[2],
                             "single": system, "aggregation": aggregation,
                             "layers_chosen": _layer_choice_text(
                                 run_choices.rename(columns={"probe": "chosen"})),
                             **paired_comparison(single_rows, aggregate_rows)})
    table = pd.DataFrame(rows)
    if not table.empty:
        table = with_holm(table)
    return table, pd.concat(all_choices, ignore_index=True) if all_choices else pd.DataFrame()


def pooling_comparisons(results: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """Each frame-level probe (A) against its pooled variant (B), per corpus x model x protocol:
    the dense probe's best layer against the pooled dense probe's (each chosen on dev in every
    fold), and the frame-level aggregation against the pooled one; paired, Holm over the table."""
    from serlib.report.uncertainty import nested_best_layer, paired_comparison, with_holm

    rows = []
    for frames_probe, pooled_probe in POOLED_VARIANTS:
        systems = {}
        for probe in (frames_probe, pooled_probe):
            if probe.startswith("aggregate"):
                systems[probe] = predictions[predictions["probe"] == probe]
            else:
                systems[probe], _ = nested_best_layer(results, predictions, [probe])
        for key, first in systems[frames_probe].groupby(["corpus", "model", "protocol"]):
            second = systems[pooled_probe]
            second = second[(second["corpus"] == key[0]) & (second["model"] == key[1]) & (second["protocol"] == key[2])]
            if first.empty or second.empty:
                continue
            rows.append({"corpus": key[0], "model": key[1], "protocol": key[2],
                         "single": first["probe"].iloc[0], "aggregation": second["probe"].iloc[0],
                         **paired_comparison(first, second.assign(model=key[1]))})
    return with_holm(pd.DataFrame(rows)) if rows else pd.DataFrame()


def paper_definition_comparison(results: pd.DataFrame, singles: list[str], aggregation: str) -> pd.DataFrame:
    """The headline exactly as the paper computes it: per corpus x model x protocol, the best
    layer of each single-layer probe by mean TEST accuracy (as the paper's tables choose it),
    the better of those probes, against the aggregation's mean test accuracy. No interval: the
    choice on test makes it optimistic, which is why the report leads with the nested one."""
    from serlib.report.uncertainty import paper_best_layer

    best = pd.concat([paper_best_layer(results, probe).assign(single_probe=probe) for probe in singles],
                     ignore_index=True)
    best = best.sort_values("test_accuracy", ascending=False).groupby(["corpus", "model", "protocol"]).head(1)
    test = results[(results["probe"] == aggregation) & (results["split"] == "test")
                   & (results["metric"] == "accuracy")]
    aggregate = test.groupby(["corpus", "model", "protocol"])["value"].mean().rename("aggregate_accuracy")
    table = best.merge(aggregate.reset_index(), on=["corpus", "model", "protocol"])
    table = table.rename(columns={"test_accuracy": "best_layer_accuracy", "layer": "best_layer"})
    table["aggregation"] = aggregation
    table["relative_error_reduction"] = relative_error_reduction(
        table["best_layer_accuracy"], table["aggregate_accuracy"]).to_numpy()
    table["definition"] = "paper's: layer and probe chosen on test"
    return table.sort_values(["protocol", "corpus", "model"]).reset_index(drop=True)


def _last_layer(predictions: pd.DataFrame) -> pd.DataFrame:
    layers = pd.to_numeric(predictions["layer"], errors="coerce")
    return predictions[layers == layers.max()]


def layer_against_last(results: pd.DataFrame, predictions: pd.DataFrame, probe: str) -> pd.DataFrame:
    """The best layer of ``probe`` (chosen on dev inside every fold) against the model's last
    layer, per corpus x model x protocol: paired intervals and p-values, Holm over the table.
    Models with a single hidden state (the acoustic baselines) are left out."""
    from serlib.report.uncertainty import nested_best_layer, paired_comparison, with_holm

    chosen, choices = nested_best_layer(results, predictions, [probe])
    rows = []
    for key, best_rows in chosen.groupby(["corpus", "model", "protocol"]):
        runs = predictions[(predictions["probe"] == probe) & (predictions["corpus"] == key[0])
                           & (predictions["model"] == key[1]) & (predictions["protocol"] == key[2])]
        if pd.to_numeric(runs["layer"]).nunique() < 2:
            continue
        last = _last_layer(runs)
        run_choices = choices[(choices["corpus"] == key[0]) & (choices["model"] == key[1])
                              & (choices["protocol"] == key[2])]
        rows.append({"corpus": key[0], "model": key[1], "protocol": key[2], "probe": probe,
                     "single": f"best layer ({probe})", "aggregation": f"last layer {last['layer'].iloc[0]}",
                     "layers_chosen": _layer_choice_text(run_choices.rename(columns={"probe": "chosen"})),
                     **paired_comparison(best_rows, last)})
    return with_holm(pd.DataFrame(rows)) if rows else pd.DataFrame()


def control_comparisons(results: pd.DataFrame, predictions: pd.DataFrame, probe: str,
                        pairs: list[tuple[str, str]]) -> pd.DataFrame:
    """Each (model, control) pair: the best layer of ``probe`` of the model against that of its
    control (each chosen on dev inside every fold), per corpus x protocol; Holm over the table.
    Controls are the random-init copy of a model or an acoustic baseline."""
    from serlib.report.uncertainty import nested_best_layer, paired_comparison, with_holm

    chosen, _ = nested_best_layer(results, predictions, [probe])
    rows = []
    for model, control in pairs:
        for key, model_rows in chosen[chosen["model"] == model].groupby(["corpus", "protocol"]):
            control_rows = chosen[(chosen["model"] == control) & (chosen["corpus"] == key[0])
                                  & (chosen["protocol"] == key[1])]
            if control_rows.empty:
                continue
            rows.append({"corpus": key[0], "model": model, "protocol": key[1], "probe": probe,
                         "single": model, "aggregation": control,
                         **paired_comparison(model_rows, control_rows.assign(model=model))})
    return with_holm(pd.DataFrame(rows)) if rows else pd.DataFrame()
