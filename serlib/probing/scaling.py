"""Learning curves: probe accuracy as the training part grows (10/25/50/100% by default).

Tests the paper's remark that aggregating all layers needs more data than probing the best single
layer: at every fraction the best layer of the single-layer probe (chosen on dev) is compared on
TEST accuracy with the all-layer probe. Each seed draws its own stratified subsample of the train
part (:func:`serlib.probing.train.subsample_train`); dev and test stay whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from serlib.probing.summary import best_layer_by_dev
from serlib.common.errors import SerlibError
from serlib.probing.metrics import seed_summary
from serlib.probing.train import run_probe

DEFAULT_FRACTIONS = (0.1, 0.25, 0.5, 1.0)


def learning_curves(feature_dir: str | Path, split_csv: str | Path,
                    fractions: Sequence[float] = DEFAULT_FRACTIONS,
                    probes: Sequence[str] = ("linear", "aggregate-softmax"),
                    seeds: int | Sequence[int] = 3, **probe_options) -> pd.DataFrame:
    """The results tables of :func:`serlib.probing.train.run_probe` for every probe x training fraction,
    concatenated (tidy, with a ``train_fraction`` column). ``probe_options`` go to ``run_probe``
    (epochs, device, corpus, model, ...)."""
    tables = [run_probe(feature_dir, split_csv, probe=probe, seeds=seeds,
                        train_fraction=float(fraction), **probe_options)[0]
              for probe in probes for fraction in fractions]
    return pd.concat(tables, ignore_index=True)


def learning_curve_summary(curves: pd.DataFrame, single_probe: str = "linear",
                           aggregate_probe: str = "aggregate-softmax") -> pd.DataFrame:
    """Per corpus x model x training fraction: the dev-chosen best layer of ``single_probe`` and
    its TEST accuracy (mean, 95% seed interval) beside ``aggregate_probe``'s, and
    ``best_minus_aggregate``, the difference of the two means."""
    for probe in (single_probe, aggregate_probe):
        if not (curves["probe"] == probe).any():
            raise SerlibError(f"the learning-curve table has no rows of probe {probe!r}; "
                              "run learning_curves with both probes")
    rows = []
    for fraction, at_fraction in curves.groupby("train_fraction", sort=True):
        best = best_layer_by_dev(at_fraction[at_fraction["probe"] == single_probe])
        aggregate = at_fraction[(at_fraction["probe"] == aggregate_probe)
                                & (at_fraction["split"] == "test") & (at_fraction["metric"] == "accuracy")]
        for _, best_row in best.iterrows():
            values = aggregate[(aggregate["corpus"] == best_row["corpus"])
                               & (aggregate["model"] == best_row["model"])]["value"].to_numpy()
            summary = (seed_summary(values) if len(values)
                       else {"mean": np.nan, "ci_low": np.nan, "ci_high": np.nan})
            rows.append({"corpus": best_row["corpus"], "model": best_row["model"],
                         "train_fraction": fraction, "best_layer": best_row["best_layer"],
                         "best_layer_accuracy": best_row["test_mean"],
                         "best_layer_ci_low": best_row["test_ci_low"],
                         "best_layer_ci_high": best_row["test_ci_high"],
                         "aggregate_accuracy": summary["mean"],
                         "aggregate_ci_low": summary["ci_low"], "aggregate_ci_high": summary["ci_high"],
                         "best_minus_aggregate": best_row["test_mean"] - summary["mean"]})
    return pd.DataFrame(rows)
