"""Seed summaries and the best layer on dev, from tidy probe results.

Input: rows of :func:`serlib.probing.train.run_probe` (corpus, language, model, probe, layer,
seed, split, metric, value). These are the summaries the probing stage itself needs (choosing
a layer for transfer, scaling and selection); the report builds its tables on them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from serlib.probing.metrics import seed_summary

RUN_KEYS = ["corpus", "language", "model", "probe"]


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean, std, 95% bootstrap interval and number of seeds per run x layer x split x metric."""
    keys = RUN_KEYS + ["layer", "split", "metric"]
    rows = [{**dict(zip(keys, key)), **seed_summary(group["value"].to_numpy())}
            for key, group in results.groupby(keys, sort=True)]
    return pd.DataFrame(rows, columns=keys + ["mean", "std", "ci_low", "ci_high", "n_seeds"])


def numeric_layers(results: pd.DataFrame) -> pd.DataFrame:
    """Rows of per-layer probes (integer layers), with ``layer`` as int."""
    numeric = pd.to_numeric(results["layer"], errors="coerce")
    selected = results[numeric.notna()].copy()
    selected["layer"] = numeric[numeric.notna()].astype(int)
    return selected


def best_layer_by_dev(results: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Per corpus x model x per-layer probe, the layer with the best mean DEV ``metric`` over
    seeds (the lowest layer on ties), with its test mean, std and 95% interval, and its place as
    a fraction of depth (layer / number of transformer blocks)."""
    per_layer = numeric_layers(results[results["metric"] == metric])
    summary = summarise(per_layer)
    rows = []
    for key, run in summary.groupby(RUN_KEYS, sort=True):
        dev = run[run["split"] == "dev"].sort_values("layer")
        best_layer = int(dev.loc[dev["mean"].idxmax(), "layer"])
        test = run[(run["split"] == "test") & (run["layer"] == best_layer)].iloc[0]
        blocks = int(run["layer"].max())
        rows.append({**dict(zip(RUN_KEYS, key)), "best_layer": best_layer, "blocks": blocks,
                     "layer_fraction": best_layer / blocks if blocks else np.nan,
                     "dev_mean": float(dev["mean"].max()), "test_mean": test["mean"],
                     "test_std": test["std"], "test_ci_low": test["ci_low"],
                     "test_ci_high": test["ci_high"]})
    return pd.DataFrame(rows)
