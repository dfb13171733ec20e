"""Choosing the layer of a model x corpus from its train and dev parts only.

A *criterion* scores every hidden state (higher is better); the chosen layer is the best-scoring
one (the lowest on ties, as in :func:`serlib.report.analysis.best_layer_by_dev`). Criteria:

- ``dev-probe``: the paper probe's mean DEV accuracy over seeds (from a results table of
  :func:`serlib.probing.train.run_probe`; training it costs the full probe run);
- ``separability``: nearest-class-centroid accuracy on dev, centroids from train, after
  standardising each feature with train statistics (no training; seconds for all layers);
- ``lda``: dev accuracy of linear discriminant analysis fitted on train with Ledoit-Wolf
  shrinkage of the shared covariance (standardised likewise);
- ``fisher``: the Fisher discriminant ratio ``trace(S_w^-1 S_b)`` on train+dev, with S_w shrunk
  (Ledoit-Wolf) so it is invertible when features outnumber utterances.

:func:`evaluate_selection` compares each criterion's choice with the *oracle*, the layer with the
best mean TEST accuracy of the paper probe, which no criterion may look at.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.covariance import ledoit_wolf
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.neighbors import NearestCentroid
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from serlib.probing.summary import numeric_layers, summarise
from serlib.common.errors import SerlibError
from serlib.probing.inputs import LabelledSplit, describe_run, join_split, load_feature_folder

SCORE_COLUMNS = ["corpus", "model", "criterion", "layer", "score", "seconds"]
DEV_PROBE = "dev-probe"


def _dev_accuracy_of(make_classifier: Callable[[], object]) -> Callable[[np.ndarray, LabelledSplit], float]:
    """A layer score: dev accuracy of a classifier fitted on the train rows of one layer."""

    def score(layer_features: np.ndarray, split: LabelledSplit) -> float:
        classifier = make_classifier()
        classifier.fit(layer_features[split.rows["train"]], split.labels["train"])
        return float(classifier.score(layer_features[split.rows["dev"]], split.labels["dev"]))

    return score


def fisher_ratio(features: np.ndarray, labels: np.ndarray) -> float:
    """``trace(S_w^-1 S_b)`` of standardised ``features`` [N, D] with class ``labels`` [N]:
    between-class over within-class scatter, S_w being the Ledoit-Wolf shrunk covariance of the
    class-centred features and S_b the class-size weighted covariance of the class means."""
    standardised = StandardScaler().fit_transform(features.astype(np.float64))
    classes = np.unique(labels)
    means = np.stack([standardised[labels == label].mean(axis=0) for label in classes])
    centred = standardised - means[np.searchsorted(classes, labels)]
    within, _ = ledoit_wolf(centred, assume_centered=True)
    weights = np.array([(labels == label).mean() for label in classes])
    between = (means * weights[:, None]).T @ means  # overall mean is 0 after standardising
    return float(np.trace(np.linalg.solve(within, between)))


def _fisher_score(layer_features: np.ndarray, split: LabelledSplit) -> float:
    rows = np.concatenate([split.rows["train"], split.rows["dev"]])
    labels = np.concatenate([split.labels["train"], split.labels["dev"]])
    return fisher_ratio(layer_features[rows], labels)


CHEAP_CRITERIA: dict[str, Callable[[np.ndarray, LabelledSplit], float]] = {
    "separability": _dev_accuracy_of(lambda: make_pipeline(StandardScaler(), NearestCentroid())),
    "lda": _dev_accuracy_of(lambda: make_pipeline(
        StandardScaler(), LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"))),
    "fisher": _fisher_score,
}
CRITERIA = (*CHEAP_CRITERIA, DEV_PROBE)


def cheap_criterion_scores(feature_dir: str | Path, split_csv: str | Path,
                           criteria: Sequence[str] = tuple(CHEAP_CRITERIA), corpus: str | None = None,
                           model: str | None = None, fold: int | None = None) -> pd.DataFrame:
    """Scores of every hidden state under each cheap criterion (no probe training), with the
    seconds each criterion took for all layers together (columns :data:`SCORE_COLUMNS`), on
    fold ``fold`` of the split (may be left out for a single-fold split)."""
    unknown = [name for name in criteria if name not in CHEAP_CRITERIA]
    if unknown:
        raise SerlibError(f"unknown layer-selection criteria {unknown}; choose from "
                          f"{', '.join(CHEAP_CRITERIA)} (or {DEV_PROBE} from probe results)")
    folder = load_feature_folder(feature_dir)
    split = join_split(folder, split_csv, fold)
    labels = describe_run(folder, "", corpus, model, language="und")
    pooled = np.asarray(folder.pooled, dtype=np.float64)
    rows = []
    for name in criteria:
        started = time.perf_counter()
        scores = [CHEAP_CRITERIA[name](pooled[:, layer], split) for layer in range(pooled.shape[1])]
        seconds = time.perf_counter() - started
        rows += [[labels.corpus, labels.model, name, layer, score, seconds]
                 for layer, score in enumerate(scores)]
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def dev_probe_scores(results: pd.DataFrame, probe: str = "linear", seconds: float = np.nan,
                     metric: str = "accuracy") -> pd.DataFrame:
    """The ``dev-probe`` criterion from a results table: per corpus x model and layer, the mean
    DEV ``metric`` of ``probe`` over seeds (the quantity :func:`serlib.report.analysis.best_layer_by_dev`
    maximises); ``seconds`` is the training time when known."""
    selected = results[(results["probe"] == probe) & (results["metric"] == metric)
                       & (results["split"] == "dev")]
    if selected.empty:
        raise SerlibError(f"the results table has no dev {metric} rows of probe {probe!r}; "
                          f"run 'serlib probe --probe {probe}' first")
    dev = summarise(numeric_layers(selected))
    table = dev.rename(columns={"mean": "score"}).assign(criterion=DEV_PROBE, seconds=seconds)
    return table[SCORE_COLUMNS].reset_index(drop=True)


def chosen_layers(scores: pd.DataFrame) -> pd.DataFrame:
    """Per corpus x model x criterion, the layer with the highest score (the lowest on ties)
    and the criterion's cost: columns corpus, model, criterion, chosen_layer, score, seconds."""
    rows = []
    for (corpus, model, criterion), group in scores.groupby(["corpus", "model", "criterion"], sort=True):
        group = group.sort_values("layer")
        best = group.loc[group["score"].idxmax()]
        rows.append({"corpus": corpus, "model": model, "criterion": criterion,
                     "chosen_layer": int(best["layer"]), "score": float(best["score"]),
                     "seconds": float(group["seconds"].iloc[0])})
    return pd.DataFrame(rows)


def _test_means(results: pd.DataFrame, probe: str, metric: str) -> pd.DataFrame:
    """Mean TEST ``metric`` over seeds per corpus x model x layer of ``probe``."""
    test = results[(results["probe"] == probe) & (results["metric"] == metric)
                   & (results["split"] == "test")]
    return (numeric_layers(test).groupby(["corpus", "model", "layer"])["value"].mean()
            .rename("test_mean").reset_index())


def evaluate_selection(results: pd.DataFrame, criteria_scores: pd.DataFrame, probe: str = "linear",
                       metric: str = "accuracy") -> pd.DataFrame:
    """How well each criterion's choice does against the oracle (best mean TEST ``metric``).

    One row per corpus x model x criterion: ``chosen_layer``, ``oracle_layer`` (lowest on ties),
    ``hit`` (the two agree), ``chosen_test`` and ``oracle_test`` (mean over seeds of ``probe``'s
    test ``metric``), ``accuracy_lost = oracle_test - chosen_test`` (>= 0) and ``seconds``.
    """
    test_means = _test_means(results, probe, metric)
    if test_means.empty:
        raise SerlibError(f"the results table has no test {metric} rows of probe {probe!r}")
    rows = []
    for _, choice in chosen_layers(criteria_scores).iterrows():
        run = test_means[(test_means["corpus"] == choice["corpus"])
                         & (test_means["model"] == choice["model"])].sort_values("layer")
        if run.empty:
            raise SerlibError(f"no {probe} test results for {choice['model']} on {choice['corpus']}; "
                              "the criteria and the results must cover the same runs")
        oracle = run.loc[run["test_mean"].idxmax()]
        chosen_test = float(run.loc[run["layer"] == choice["chosen_layer"], "test_mean"].iloc[0])
        rows.append({"corpus": choice["corpus"], "model": choice["model"],
                     "criterion": choice["criterion"], "chosen_layer": choice["chosen_layer"],
                     "oracle_layer": int(oracle["layer"]),
                     "hit": bool(choice["chosen_layer"] == oracle["layer"]),
                     "chosen_test": chosen_test, "oracle_test": float(oracle["test_mean"]),
                     "accuracy_lost": float(oracle["test_mean"]) - chosen_test,
                     "seconds": choice["seconds"]})
    return pd.DataFrame(rows)


def selection_summary(evaluation: pd.DataFrame) -> pd.DataFrame:
    """Per criterion over all corpus x model runs: hit rate, mean and worst accuracy lost,
    mean seconds, number of runs."""
    return (evaluation.groupby("criterion")
            .agg(hit_rate=("hit", "mean"), mean_accuracy_lost=("accuracy_lost", "mean"),
                 max_accuracy_lost=("accuracy_lost", "max"), mean_seconds=("seconds", "mean"),
                 runs=("hit", "size"))
            .reset_index())

