"""Figures of the study: seaborn/matplotlib on the tidy tables, saved as PNG and SVG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: papermill and CI have no display
import matplotlib.pyplot as plt  # noqa: E402
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
