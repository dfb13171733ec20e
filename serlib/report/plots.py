"""Figures of the study: seaborn/matplotlib on the tidy tables, saved as PNG and SVG and shown.

Matplotlib picks its backend itself: the inline one inside a notebook kernel (papermill,
JupyterLab), Agg on a machine without a display.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import matplotlib
import matplotlib.lines
import matplotlib.patches
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
import seaborn as sns

matplotlib.rcParams["svg.hashsalt"] = "serlib"  # SVG ids from a fixed salt: equal figures, equal files


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def save_figure(figure: plt.Figure | sns.FacetGrid, folder: Path, name: str, show: bool = True,
                dpi: int = 150) -> None:
    """Write ``figure`` as ``folder/name.png`` (``dpi``) and ``folder/name.svg`` (its text as
    text, not glyph outlines: a tall forest plot's SVG is a sixth of the size); inside a notebook
    also show it (as PNG, which GitHub and JupyterLab render) unless ``show`` is False; then
    close it."""
    figure = getattr(figure, "figure", figure)  # a seaborn grid holds its figure
    folder.mkdir(parents=True, exist_ok=True)
    figure.savefig(folder / f"{name}.png", dpi=dpi, bbox_inches="tight",
                   metadata={"Software": None})
    with plt.rc_context({"svg.fonttype": "none"}):
        figure.savefig(folder / f"{name}.svg", bbox_inches="tight", metadata={"Date": None})
    if show and _in_notebook():
        from IPython.display import Image, display

        display(Image(filename=str(folder / f"{name}.png"), width=min(900, int(figure.get_figwidth() * 100))))
    plt.close(figure)


@contextmanager
def _seeded_jitter(seed: int = 0):
    """Seaborn's strip-plot jitter draws from NumPy's global generator: seed it for the plot
    (so a rerun draws the same figure) and give the caller's state back afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _finish_layer_grid(grid: sns.FacetGrid, x: str, y_label: str, chance: dict | None,
                       title: str) -> sns.FacetGrid:
    """Axis labels, integer layer ticks, the majority-class line per panel and the title."""
    x_label = {"layer": "hidden state (0 = input to block 1)", "depth": "depth (layer / blocks)"}
    grid.set_axis_labels(x_label.get(x, x), y_label)
    for panel, axis in grid.axes_dict.items():
        if x == "layer":
            axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        if chance and panel in chance:
            axis.axhline(chance[panel], color="0.4", linestyle="--", linewidth=1)
    if title:
        grid.figure.suptitle(title, y=1.02)
    return grid


def interval_curves(intervals: pd.DataFrame, hue: str = "model", col: str = "corpus",
                    chance: dict | None = None, title: str = "", col_wrap: int = 3,
                    x: str = "layer", y_label: str = "test accuracy") -> sns.FacetGrid:
    """Accuracy per hidden state with its 95% bootstrap interval (speakers and seeds
    resampled) as a band, one panel per ``col``: rows of
    :func:`serlib.report.uncertainty.layer_intervals` (per-layer probes only)."""
    rows = intervals.copy()
    rows[x] = pd.to_numeric(rows[x])
    rows = rows.sort_values(x)
    grid = sns.FacetGrid(rows, col=col, hue=hue, col_wrap=min(col_wrap, rows[col].nunique()),
                         height=3.0, aspect=1.25, sharex=False)

    def draw(data: pd.DataFrame, color, label=None, **_) -> None:
        axis = plt.gca()
        axis.fill_between(data[x], data["ci_low"], data["ci_high"], color=color, alpha=0.2, linewidth=0)
        axis.plot(data[x], data["accuracy"], marker="o", color=color, label=label)

    grid.map_dataframe(draw)
    grid.add_legend(title=hue)
    return _finish_layer_grid(grid, x, y_label, chance, title)


def comparison_intervals(comparisons: pd.DataFrame, title: str = "") -> plt.Figure:
    """Relative error reduction of the best single layer (chosen on dev in every fold) against
    each aggregation, with its 95% paired-bootstrap interval: one panel per pairing (single
    layer vs aggregation), one row per model / corpus (/ protocol, when there are several);
    filled markers where the Holm-adjusted p-value is below 0.05. Compact for many systems:
    the panels share the rows."""
    rows = comparisons.reset_index(drop=True).copy()
    rows["pairing"] = rows["single"] + "\nvs " + rows["aggregation"]
    parts = ["model", "corpus"] + (["protocol"] if rows["protocol"].nunique() > 1 else [])
    rows["system"] = rows[parts].astype(str).agg(" / ".join, axis=1)
    pairings = list(dict.fromkeys(rows["pairing"]))
    systems = list(dict.fromkeys(rows.sort_values(parts, kind="stable")["system"]))
    columns = min(3, len(pairings))
    panel_rows = -(-len(pairings) // columns)
    figure, axes = plt.subplots(panel_rows, columns, squeeze=False, sharex=True, sharey=True,
                                figsize=(2.9 * columns + 2.4, (0.24 * len(systems) + 1.1) * panel_rows + 0.6))
    position = {system: len(systems) - 1 - index for index, system in enumerate(systems)}
    for axis, pairing in zip(axes.flat, pairings):
        for row in rows[rows["pairing"] == pairing].itertuples():
            significant = row.p_holm < 0.05
            axis.errorbar(row.relative_error_reduction, position[row.system],
                          xerr=[[row.relative_error_reduction - row.reduction_ci_low],
                                [row.reduction_ci_high - row.relative_error_reduction]],
                          fmt="o", markersize=4, color="C0" if significant else "C7", capsize=2,
                          markerfacecolor="C0" if significant else "white")
        axis.axvline(0, color="black", linewidth=0.8)
        axis.set_title(pairing, fontsize="small")
        axis.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    for axis in list(axes.flat)[len(pairings):]:
        axis.set_visible(False)
    axes[0, 0].set_yticks(sorted(position.values()))
    axes[0, 0].set_yticklabels(sorted(position, key=position.get))
    for axis in axes[:, 0]:
        axis.tick_params(axis="y", labelsize="small")
    axes[0, 0].set_ylim(-0.7, len(systems) - 0.3)
    figure.supxlabel("relative error reduction of the best single layer vs the aggregation "
                     "(95% paired bootstrap interval; filled: Holm p < 0.05)", fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def duration_plot(manifests: pd.DataFrame, title: str = "") -> plt.Figure:
    """Distribution of utterance durations per corpus (one box per corpus, points beside)."""
    order = list(dict.fromkeys(manifests["corpus_id"]))
    figure, axis = plt.subplots(figsize=(max(4.0, 1.1 * len(order) + 2), 3.6))
    sns.boxplot(data=manifests, x="corpus_id", y="duration_s", order=order, color="0.85",
                fliersize=0, ax=axis)
    with _seeded_jitter():
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
    return _finish_layer_grid(grid, x, f"{split} {metric}", chance, title)


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
    with _seeded_jitter():
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
    # constrained layout: a one-row table (one corpus) leaves tight_layout no room for the title
    figure, axis = plt.subplots(figsize=(1.3 * table.shape[1] + 2.5, 0.5 * table.shape[0] + 2.2),
                                layout="constrained")
    sns.heatmap(table, annot=True, fmt=".2f", cmap="rocket_r", vmin=0, vmax=1, ax=axis,
                cbar_kws={"label": label})
    axis.set_title(title)
    axis.set_xlabel("")
    axis.set_ylabel("")
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


# --------------------------------------------------------------------------- the headline figures

#: Colours and markers of a paired comparison's verdict (forest plot).
VERDICT_STYLE = {
    "single layer better": {"color": "#1b7837", "filled": True},
    "aggregation better": {"color": "#b2182b", "filled": True},
    "no clear difference": {"color": "#6e6e6e", "filled": False},
}


#: Rows of a forest plot drawn at full size; a longer one gets denser rows and smaller type.
FOREST_LEGIBLE_ROWS = 60


def layer_curves_with_controls(intervals: pd.DataFrame, copies: dict[str, str] | None = None,
                               chance: dict | None = None, title: str = "") -> plt.Figure:
    """The study's first figure: test accuracy by hidden state with its 95% interval (band), one
    panel per corpus, one curve per model; the controls drawn beside.

    ``intervals`` are rows of ``layer_intervals_<probe>`` of one protocol. Models with a single
    hidden state (the acoustic baselines) are horizontal reference lines with their interval as
    a grey band; ``copies`` maps a control model (a random-init copy) to the model it copies,
    drawn dashed with hollow markers in that model's colour; ``chance`` maps a corpus to its
    majority-class accuracy, drawn as a dashed black line."""
    copies = copies or {}
    rows = intervals.assign(layer=pd.to_numeric(intervals["layer"])).sort_values(["model", "layer"])
    corpora = list(dict.fromkeys(rows["corpus"]))
    layers = rows.groupby("model")["layer"].nunique()
    curves = [model for model in dict.fromkeys(rows["model"]) if layers[model] > 1]
    references = [model for model in dict.fromkeys(rows["model"]) if layers[model] == 1]
    originals = [model for model in curves if model not in copies]
    palette = dict(zip(originals, sns.color_palette("colorblind", max(1, len(originals)))))
    spare = iter(sns.color_palette("dark", len(curves) + 1))
    for model in curves:
        palette.setdefault(model, palette.get(copies.get(model)) or next(spare))
    greys = dict(zip(references, sns.color_palette("Greys", len(references) + 2)[2:][::-1]))
    dashes = dict(zip(references, [(0, (6, 2, 1, 2)), (0, (1, 1.5)), (0, (8, 3)), (0, (3, 1, 1, 1, 1, 1))]
                      * (1 + len(references) // 4)))
    columns = min(3, len(corpora))
    panel_rows = -(-len(corpora) // columns)
    figure, axes = plt.subplots(panel_rows, columns, squeeze=False, sharey=True,
                                figsize=(max(5.4, 4.6 * columns), 3.3 * panel_rows + 1.5))
    for axis in list(axes.flat)[len(corpora):]:
        axis.set_visible(False)
    for axis, corpus in zip(axes.flat, corpora):
        panel = rows[rows["corpus"] == corpus]
        span = panel[panel["model"].isin(curves)]["layer"]
        low, high = (span.min(), span.max()) if not span.empty else (0, 1)
        for model in references:
            line = panel[panel["model"] == model]
            if line.empty:
                continue
            point = line.iloc[0]
            axis.axhspan(point["ci_low"], point["ci_high"], color=greys[model], alpha=0.15, linewidth=0)
            axis.axhline(point["accuracy"], color=greys[model], linewidth=1.5, linestyle=dashes[model],
                         label=f"{model} (acoustic baseline)")
        for model in curves:
            curve = panel[panel["model"] == model]
            if curve.empty:
                continue
            copy = model in copies
            colour = palette[model]
            axis.fill_between(curve["layer"], curve["ci_low"], curve["ci_high"], color=colour,
                              alpha=0.12 if copy else 0.22, linewidth=0)
            axis.plot(curve["layer"], curve["accuracy"], color=colour, marker="o", markersize=4,
                      linestyle="--" if copy else "-", markerfacecolor="white" if copy else colour,
                      label=f"{model} (random-init copy)" if copy else model)
        if chance and corpus in chance:
            axis.axhline(chance[corpus], color="black", linestyle=(0, (4, 3)), linewidth=1,
                         label="majority class")
        axis.set_xlim(low - 0.3, high + 0.3)
        axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        axis.set_title(corpus, fontsize="medium")
        axis.set_xlabel("hidden state (0 = input to block 1)")
        axis.grid(axis="y", color="0.92")
    for axis in axes[:, 0]:
        axis.set_ylabel("test accuracy (95% interval)")
    handles = {}
    for axis in axes.flat:
        for handle, label in zip(*axis.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    order = sorted(handles, key=lambda label: ("majority" in label, "baseline" in label, "copy" in label))
    if title:
        figure.suptitle(title, fontsize="medium")
    legend_inches = 0.15 + 0.2 * -(-len(order) // 2)
    figure.tight_layout(rect=(0, legend_inches / figure.get_figheight(), 1, 1))
    figure.legend([handles[label] for label in order], order, loc="lower center", bbox_to_anchor=(0.5, 0.0),
                  ncol=2, fontsize="small", frameon=False)
    return figure


def _forest_numbers(row) -> str:
    """``+29% [+10, +47]  p=0.056``: a forest row's reduction, interval and Holm p, in short."""
    def short(value: float) -> str:
        return "undefined" if pd.isna(value) else f"{100 * value:+.0f}"
    return (f"{short(row.relative_error_reduction)}% [{short(row.reduction_ci_low)}, "
            f"{short(row.reduction_ci_high)}]  p={row.p_holm:.3f}")


def _clipped(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def aggregation_forest(comparisons: pd.DataFrame, verdicts: list[str], title: str = "") -> plt.Figure:
    """Every single-layer vs aggregation pairing as one row: relative error reduction with its
    95% paired interval, a vertical line at 0, colour and marker by ``verdicts`` (one per row,
    keys of :data:`VERDICT_STYLE`: filled where Holm p < 0.05, hollow otherwise), rows labelled
    ``protocol · [corpus ·] model · single vs aggregation`` in the order given, the numbers on
    the right. The height follows the number of rows; infinite interval ends are clipped to
    the axis and drawn as arrows."""
    rows = comparisons.reset_index(drop=True)
    several_corpora = rows["corpus"].nunique() > 1
    labels = [" · ".join([row.protocol] + ([row.corpus] if several_corpora else [])
                         + [row.model, f"{row.single} vs {row.aggregation}"]) for row in rows.itertuples()]
    numbers = [_forest_numbers(row) for row in rows.itertuples()]
    finite = pd.concat([rows[column] for column in ("relative_error_reduction", "reduction_ci_low",
                                                    "reduction_ci_high")]).replace([np.inf, -np.inf], np.nan).dropna()
    low, high = (min(finite.min(), 0.0), max(finite.max(), 0.0)) if not finite.empty else (-1.0, 1.0)
    pad = 0.06 * (high - low or 1.0)
    low, high = low - pad, high + pad
    many = len(rows) > FOREST_LEGIBLE_ROWS  # beyond: denser rows, smaller type
    row_height, label_size = (0.15, 6) if many else (0.24, "small")
    height = row_height * len(rows) + 1.5
    width = 5.0 + (0.045 if many else 0.062) * max(len(label) for label in labels) + 1.6
    figure, axis = plt.subplots(figsize=(width, height))
    positions = np.arange(len(rows))[::-1]
    groups = [f"{row.protocol}/{row.corpus}/{row.model}" for row in rows.itertuples()]
    shade = False
    for index, group in enumerate(groups):
        if index > 0 and group != groups[index - 1]:
            shade = not shade
            if rows["protocol"].iloc[index] != rows["protocol"].iloc[index - 1]:
                axis.axhline(positions[index] + 0.5, color="0.55", linewidth=0.8)
        if shade:
            axis.axhspan(positions[index] - 0.5, positions[index] + 0.5, color="0.95", linewidth=0, zorder=0)
    for position, row, reading in zip(positions, rows.itertuples(), verdicts):
        style = VERDICT_STYLE.get(reading, VERDICT_STYLE["no clear difference"])
        colour = style["color"]
        if pd.isna(row.relative_error_reduction):
            continue
        left, right = (_clipped(value, low, high) for value in (row.reduction_ci_low, row.reduction_ci_high))
        if pd.notna(left) and pd.notna(right):
            axis.plot([left, right], [position, position], color=colour, linewidth=1.6, solid_capstyle="butt")
            for end, value, marker in ((left, row.reduction_ci_low, "<"), (right, row.reduction_ci_high, ">")):
                if not np.isfinite(value) or value != end:
                    axis.plot(end, position, marker=marker, color=colour, markersize=5)
        axis.plot(_clipped(row.relative_error_reduction, low, high), position, marker="o", markersize=6,
                  color=colour, markerfacecolor=colour if style["filled"] else "white", markeredgewidth=1.4,
                  zorder=3)
    axis.axvline(0, color="black", linewidth=0.9)
    axis.set_xlim(low, high)
    axis.set_ylim(-0.6, len(rows) - 0.4)
    axis.set_yticks(positions, labels, fontsize=label_size)
    axis.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    axis.grid(axis="x", color="0.9")
    axis.set_xlabel("relative error reduction of the single layer vs the aggregation (95% paired interval)\n"
                    "< 0: the aggregation errs less    |    > 0: the single layer errs less")
    right = axis.twinx()
    right.set_ylim(axis.get_ylim())
    right.set_yticks(positions, numbers, fontsize=5 if many else "x-small", color="0.3")
    right.tick_params(axis="y", length=0)
    for spine in ("top", "right"):
        axis.spines[spine].set_visible(False)
        right.spines[spine].set_visible(False)
    handles = [matplotlib.lines.Line2D([], [], color=style["color"], marker="o", linestyle="-",
                                       markerfacecolor=style["color"] if style["filled"] else "white",
                                       label=reading + (" (Holm p < 0.05)" if style["filled"] else " (Holm p >= 0.05)"))
               for reading, style in VERDICT_STYLE.items()]
    axis.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize="small",
                frameon=False)
    if title:
        axis.set_title(title, pad=26)
    figure.tight_layout()
    return figure


def attribute_curves(table: pd.DataFrame, title: str = "") -> sns.FacetGrid:
    """What each hidden state knows: accuracy of every attribute (emotion, speaker, sex, text)
    with its 95% interval, one panel per model x corpus, each attribute's chance level (the
    majority class of its test part) dashed in the attribute's colour."""
    rows = table.assign(layer=pd.to_numeric(table["layer"]), panel=table["model"] + " on " + table["corpus"])
    rows = rows.sort_values("layer")
    grid = sns.FacetGrid(rows, col="panel", hue="attribute", col_wrap=min(3, rows["panel"].nunique()),
                         height=3.0, aspect=1.3, sharex=False)

    def draw(data: pd.DataFrame, color, label=None, **_) -> None:
        axis = plt.gca()
        axis.fill_between(data["layer"], data["ci_low"], data["ci_high"], color=color, alpha=0.2, linewidth=0)
        axis.plot(data["layer"], data["accuracy"], marker="o", color=color, label=label)
        axis.axhline(data["chance"].iloc[0], color=color, linestyle="--", linewidth=1)

    grid.map_dataframe(draw)
    grid.add_legend(title="attribute (dashed: chance)")
    grid.set_titles("{col_name}")
    return _finish_layer_grid(grid, "layer", "test accuracy", None, title)


def reliability_diagram(bins: pd.DataFrame, title: str = "") -> plt.Figure:
    """Accuracy against mean confidence per confidence bin (rows of
    :func:`serlib.report.calibration.reliability_bins`), one line per system, the diagonal of
    perfect calibration dashed; marker area by the bin's share of predictions."""
    systems = bins.groupby(["model", "corpus", "probe", "layer"], sort=False)
    figure, axis = plt.subplots(figsize=(5.5, 5.0))
    axis.plot([0, 1], [0, 1], color="0.5", linestyle="--", linewidth=1, label="perfect calibration")
    for (model, corpus, probe, layer), rows in systems:
        rows = rows[rows["count"] > 0]
        label = f"{model} on {corpus}: {probe}" + ("" if layer in ("all", "chosen") else f" layer {layer}")
        line, = axis.plot(rows["mean_confidence"], rows["accuracy"], marker=None, label=label)
        axis.scatter(rows["mean_confidence"], rows["accuracy"], s=400 * rows["share"] + 8, color=line.get_color())
    axis.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted probability of the predicted class",
             ylabel="accuracy", title=title)
    axis.legend(fontsize="small", loc="upper left")
    return figure


def condition_curves(robustness: pd.DataFrame, title: str = "") -> sns.FacetGrid:
    """The paper's probe per hidden state on clean and degraded test audio (rows of the
    robustness table for per-layer systems), 95% intervals, one panel per model x corpus."""
    rows = robustness[pd.to_numeric(robustness["layer"], errors="coerce").notna()]
    return interval_curves(rows.assign(panel=rows["model"] + " on " + rows["corpus"]), hue="condition",
                           col="panel", title=title)
