"""Figures of the study: seaborn/matplotlib on the tidy tables, saved as PNG and SVG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: papermill and CI have no display
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.patches  # noqa: E402
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


def learning_curve_plot(summary: pd.DataFrame, title: str = "") -> plt.Figure:
    """Best single layer vs aggregation test accuracy against the fraction of training data,
    with 95% seed intervals; one panel per model x corpus."""
    runs = list(summary.groupby(["model", "corpus"], sort=True))
    figure, axes = plt.subplots(1, len(runs), figsize=(3.6 * len(runs) + 1, 3.4), squeeze=False)
    for axis, ((model, corpus), run) in zip(axes[0], runs):
        run = run.sort_values("train_fraction")
        for prefix, label in (("best_layer", "best single layer"), ("aggregate", "all-layer aggregation")):
            axis.plot(run["train_fraction"], run[f"{prefix}_accuracy"], marker="o", label=label)
            axis.fill_between(run["train_fraction"], run[f"{prefix}_ci_low"],
                              run[f"{prefix}_ci_high"], alpha=0.2)
        axis.set_xscale("log")
        axis.set_xticks(run["train_fraction"], [f"{f:.0%}" for f in run["train_fraction"]])
        axis.set_title(f"{model}\n{corpus}", fontsize="small")
        axis.set_xlabel("training data used")
    axes[0][0].set_ylabel("test accuracy")
    axes[0][-1].legend(fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def controls_plot(best: pd.DataFrame, chance: dict | None = None, title: str = "") -> plt.Figure:
    """Best-layer test accuracy per corpus and model (95% seed interval), coloured by what the
    model learnt from; majority-class level as a dashed line."""
    order = sorted(best["model"].unique(), key=lambda model: (best.loc[best["model"] == model, "pretraining"].iloc[0], model))
    corpora = list(dict.fromkeys(best["corpus"]))
    columns = min(3, len(corpora))
    rows_of_panels = -(-len(corpora) // columns)
    figure, axes = plt.subplots(rows_of_panels, columns, squeeze=False, sharey=True,
                                figsize=(2.2 + 0.45 * len(order) * columns, 4.2 * rows_of_panels))
    palette = dict(zip(sorted(best["pretraining"].unique()), sns.color_palette("deep")))
    for axis in axes.flat[len(corpora):]:
        axis.set_visible(False)
    for axis, corpus in zip(axes.flat, corpora):
        rows = best[best["corpus"] == corpus].set_index("model").reindex(order).dropna(subset=["test_mean"])
        errors = [rows["test_mean"] - rows["test_ci_low"], rows["test_ci_high"] - rows["test_mean"]]
        axis.bar(range(len(rows)), rows["test_mean"], yerr=errors, capsize=2,
                 color=[palette[group] for group in rows["pretraining"]])
        axis.set_xticks(range(len(rows)), rows.index, rotation=75, fontsize="x-small")
        axis.set_title(corpus, fontsize="small")
        if chance and corpus in chance:
            axis.axhline(chance[corpus], color="0.4", linestyle="--", linewidth=1)
    for axis in axes[:, 0]:
        axis.set_ylabel("best-layer test accuracy")
    handles = [matplotlib.patches.Patch(color=color, label=group) for group, color in palette.items()]
    axes[0][-1].legend(handles=handles, bbox_to_anchor=(1.01, 1), loc="upper left", fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def transfer_heatmap(transfer: pd.DataFrame, layer_choice: str = "best", metric: str = "accuracy",
                     title: str = "") -> plt.Figure:
    """Train corpus (rows) x test corpus (columns) accuracy, mean over seeds; diagonal within."""
    rows = transfer[(transfer["metric"] == metric) & (transfer["layer_choice"] == layer_choice)
                    & (transfer["test_corpus"] == transfer["target_corpus"])]
    order = list(dict.fromkeys(rows["train_corpus"]))
    matrix = rows.pivot_table(index="train_corpus", columns="test_corpus", values="value",
                              aggfunc="mean").reindex(index=order, columns=order)
    return accuracy_heatmap(matrix, title=title, label=f"test {metric}")
