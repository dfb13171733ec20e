"""Tables from the tidy probe results: seed summaries, best layers, the aggregation comparison.

Input is the results table of :func:`serlib.probing.train.run_probe` (or several concatenated): columns
corpus, language, model, probe, layer, seed, split, metric, value. Scores are fractions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from serlib.probing.metrics import chance_accuracy, majority_class_accuracy
from serlib.probing.summary import RUN_KEYS, best_layer_by_dev, numeric_layers, summarise  # noqa: F401

def comparison_table(results: pd.DataFrame, single_probe: str = "linear",
                     aggregate_probe: str = "aggregate") -> pd.DataFrame:
    """The paper's headline per corpus x model: best single layer of ``single_probe`` (chosen on
    dev) vs the all-layer ``aggregate_probe``, both on TEST accuracy (mean over seeds).

    ``relative_error_reduction = (err_aggregate - err_best_layer) / err_aggregate``: positive when
    the single best layer beats aggregation. NaN where the aggregation run is missing.
    """
    best = best_layer_by_dev(results[results["probe"] == single_probe])
    aggregate = results[(results["probe"] == aggregate_probe) & (results["split"] == "test")
                        & (results["metric"] == "accuracy")]
    aggregate_means = aggregate.groupby(["corpus", "model"])["value"].agg(["mean", "std"])
    rows = []
    for _, best_row in best.iterrows():
        key = (best_row["corpus"], best_row["model"])
        aggregate_mean, aggregate_std = (aggregate_means.loc[key] if key in aggregate_means.index
                                         else (np.nan, np.nan))
        error_best, error_aggregate = 1.0 - best_row["test_mean"], 1.0 - aggregate_mean
        rows.append({
            "corpus": best_row["corpus"], "language": best_row["language"], "model": best_row["model"],
            "best_layer": best_row["best_layer"], "layer_fraction": best_row["layer_fraction"],
            "best_layer_dev_accuracy": best_row["dev_mean"],
            "best_layer_accuracy": best_row["test_mean"], "best_layer_std": best_row["test_std"],
            "aggregate_accuracy": aggregate_mean, "aggregate_std": aggregate_std,
            "relative_error_reduction": ((error_aggregate - error_best) / error_aggregate
                                         if error_aggregate > 0 else np.nan),
        })
    return pd.DataFrame(rows)


def reference_levels(split_csv: str | Path) -> pd.DataFrame:
    """Majority-class and chance accuracy of each part of a split CSV, to print beside tables."""
    table = pd.read_csv(split_csv, dtype={"label": str})
    return pd.DataFrame([{"split": name, "majority_accuracy": majority_class_accuracy(part["label"]),
                          "chance_accuracy": chance_accuracy(part["label"])}
                         for name, part in table.groupby("split", sort=True)])


def best_single_layer_comparison(results: pd.DataFrame, single_probes=("linear", "dense"),
                                 aggregate_probe: str = "aggregate") -> pd.DataFrame:
    """:func:`comparison_table` with, per corpus x model, the single-layer probe (of
    ``single_probes``) whose dev-chosen layer has the best DEV accuracy: the paper's "best
    single layer" against its aggregation, chosen without looking at test."""
    tables = [comparison_table(results, single_probe=probe, aggregate_probe=aggregate_probe)
              .assign(single_probe=probe)
              for probe in single_probes if (results["probe"] == probe).any()]
    combined = pd.concat(tables, ignore_index=True).dropna(subset=["aggregate_accuracy"])
    chosen = combined.groupby(["corpus", "model"])["best_layer_dev_accuracy"].idxmax()
    return combined.loc[chosen].reset_index(drop=True)


def headline(comparison: pd.DataFrame) -> pd.DataFrame:
    """The paper's headline from a :func:`comparison_table`: mean relative error reduction of
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
