"""Figures of the study: seaborn/matplotlib on the tidy tables, saved as PNG and SVG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: papermill and CI have no display
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402


def save_figure(figure: plt.Figure, folder: Path, name: str) -> list[Path]:
    """Write ``figure`` as ``folder/name.png`` and ``folder/name.svg``; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.png", folder / f"{name}.svg"]
    figure.savefig(paths[0], dpi=150, bbox_inches="tight")
    figure.savefig(paths[1], bbox_inches="tight", metadata={"Date": None})
    return paths


def duration_plot(manifests: pd.DataFrame, title: str = "") -> plt.Figure:
    """Distribution of utterance durations per corpus (one box per corpus, points beside)."""
    order = list(dict.fromkeys(manifests["corpus_id"]))
    figure, axis = plt.subplots(figsize=(max(4.0, 1.1 * len(order) + 2), 3.6))
    sns.boxplot(data=manifests, x="corpus_id", y="duration_s", order=order, color="0.85",
                fliersize=0, ax=axis)
    sns.stripplot(data=manifests, x="corpus_id", y="duration_s", order=order, hue="label",
                  size=2.5, alpha=0.6, jitter=0.25, ax=axis)
    axis.set_xlabel("corpus")
    axis.set_ylabel("duration (s)")
    axis.set_title(title)
    axis.legend(title="label", bbox_to_anchor=(1.01, 1), loc="upper left", fontsize="small")
    figure.tight_layout()
    return figure


def layer_geometry_plot(norms: pd.Series, cka: pd.DataFrame, title: str = "") -> plt.Figure:
    """Feature norm per hidden state (left) and linear CKA between hidden states (right)."""
    figure, (norm_axis, cka_axis) = plt.subplots(1, 2, figsize=(9.5, 3.8),
                                                 gridspec_kw={"width_ratios": [1, 1.2]})
    norm_axis.plot(norms.index, norms.to_numpy(), marker="o")
    norm_axis.set_xlabel("hidden state (0 = input to block 1)")
    norm_axis.set_ylabel("mean L2 norm of pooled features")
    sns.heatmap(cka, vmin=0, vmax=1, cmap="viridis", square=True, ax=cka_axis,
                cbar_kws={"label": "linear CKA"})
    cka_axis.set_xlabel("hidden state")
    cka_axis.set_ylabel("hidden state")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def layer_curves(results: pd.DataFrame, metric: str = "accuracy", split: str = "test",
                 hue: str = "model", col: str = "corpus", chance: dict | None = None,
                 title: str = "", col_wrap: int = 3, x: str = "layer") -> sns.FacetGrid:
    """Score per hidden state, mean over seeds with a 95% bootstrap band, one panel per ``col``.

    ``results`` are the tidy probe rows (per-layer probes only); ``chance`` optionally maps a
    panel value to a majority-class level drawn as a dashed line.
    """
    rows = results[(results["metric"] == metric) & (results["split"] == split)].copy()
    rows[x] = pd.to_numeric(rows[x])
    grid = sns.relplot(data=rows, x=x, y="value", hue=hue, col=col, kind="line",
                       marker="o", errorbar=("ci", 95), n_boot=1000, seed=0,
                       col_wrap=min(col_wrap, rows[col].nunique()), height=3.0, aspect=1.25,
                       facet_kws={"sharex": False})
    x_label = {"layer": "hidden state (0 = input to block 1)", "depth": "depth (layer / blocks)"}
    grid.set_axis_labels(x_label.get(x, x), f"{split} {metric}")
    for panel, axis in grid.axes_dict.items():
        if x == "layer":
            axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        if chance and panel in chance:
            axis.axhline(chance[panel], color="0.4", linestyle="--", linewidth=1)
    if title:
        grid.figure.suptitle(title, y=1.02)
    return grid


def error_reduction_bars(comparison: pd.DataFrame, title: str = "") -> plt.Figure:
    """Relative error reduction of the best single layer against all-layer aggregation."""
    figure, axis = plt.subplots(figsize=(max(5.0, 0.9 * comparison["corpus"].nunique() + 3), 3.6))
    sns.barplot(data=comparison, x="corpus", y="relative_error_reduction", hue="model", ax=axis)
    axis.axhline(0, color="black", linewidth=0.8)
    axis.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    axis.set_ylabel("error reduction of best layer\nvs all-layer aggregation")
    axis.set_title(title)
    axis.legend(title="model", bbox_to_anchor=(1.01, 1), loc="upper left", fontsize="small")
    figure.tight_layout()
    return figure


def layer_weight_heatmap(weights: pd.DataFrame, title: str = "") -> plt.Figure:
    """Learned layer weights (mean over seeds), one row per model x corpus."""
    mean_weights = (weights.assign(run=weights["model"] + " / " + weights["corpus"])
                    .groupby(["run", "layer"])["weight"].mean().unstack("layer"))
    figure, axis = plt.subplots(figsize=(max(5.0, 0.45 * mean_weights.shape[1] + 3),
                                         0.35 * len(mean_weights) + 1.6))
    sns.heatmap(mean_weights, cmap="mako", ax=axis, cbar_kws={"label": "weight"})
    axis.set_xlabel("hidden state")
    axis.set_ylabel("")
    axis.set_title(title)
    figure.tight_layout()
    return figure


def cumulative_curves(cumulative: pd.DataFrame, chance: dict | None = None,
                      title: str = "") -> sns.FacetGrid:
    """Test accuracy of the cumulative probe over blocks 1..k against k (rows with ``k``)."""
    grid = layer_curves(cumulative.assign(layer=cumulative["k"]), chance=chance, title=title)
    grid.set_axis_labels("k (hidden states 1..k mixed)", "test accuracy")
    return grid


def best_layer_depth_plot(best: pd.DataFrame, title: str = "") -> plt.Figure:
    """Where the best layer sits (fraction of depth) per language, one point per model."""
    figure, axis = plt.subplots(figsize=(6.5, 3.6))
    sns.stripplot(data=best, x="language", y="layer_fraction", hue="model", dodge=False,
                  size=7, jitter=0.15, ax=axis)
    axis.axhspan(1 / 3, 2 / 3, color="0.9", zorder=0, label="middle third")
    axis.set_ylim(-0.05, 1.05)
    axis.set_ylabel("best layer / number of blocks")
    axis.set_title(title)
    axis.legend(bbox_to_anchor=(1.01, 1), loc="upper left", fontsize="small")
    figure.tight_layout()
    return figure


def accuracy_heatmap(table: pd.DataFrame, title: str = "", label: str = "test accuracy") -> plt.Figure:
    """A corpus (rows) x model (columns) table of accuracies, annotated."""
    figure, axis = plt.subplots(figsize=(1.3 * table.shape[1] + 2.5, 0.5 * table.shape[0] + 1.8))
    sns.heatmap(table, annot=True, fmt=".2f", cmap="rocket_r", vmin=0, vmax=1, ax=axis,
                cbar_kws={"label": label})
    axis.set_title(title)
    axis.set_xlabel("")
    axis.set_ylabel("")
    figure.tight_layout()
    return figure
