"""``aggregate-concat``: every hidden state at once, concatenated, into a regularised linear model.

The strongest simple use of all layers: the mean-pooled features of all ``S`` hidden states are
concatenated (``S x D`` features per utterance) and fed to an L2-regularised multinomial
logistic regression (scikit-learn's ``LogisticRegression``, lbfgs). Its regularisation is chosen
on dev like the epoch of the autograd probes:

- features are standardised with the mean and standard deviation of the fold's train part
  (:func:`serlib.probing.histories.feature_statistics`, per hidden state and dimension);
- one model is fitted on the train part for every C of :data:`DEFAULT_C_GRID` (inverse L2
  strength; ten values log-spaced from 1e-4 to 10), each from scratch (no warm start: with
  nearly separable data lbfgs stops, at scikit-learn's tolerance, at a point that depends on
  where it started, and each model should be exactly ``LogisticRegression(C=c).fit``). On
  Whisper base x EmoDB (7 x 512 standardised features, speaker-grouped CV) dev chose C from
  1.3e-3 to 2.8 across the ten folds, inside the grid, and lbfgs needed at most 114 iterations
  at any C (810 on raw, unstandardised features); :data:`MAX_ITER` leaves ample room, and a fit
  that still does not converge stops with an error instead of a warning;
- the C with the highest dev accuracy is kept, the smallest C on ties (the stronger
  regularisation); the model fitted on the train part at that C (never refitted on dev: dev
  stays dev) gives the dev and test predictions and probabilities.

The fits run with one BLAS thread (``threadpoolctl``). With the notebook's other thread pools
(torch's OpenMP workers) beside it, numpy's multi-threaded OpenBLAS made some folds 20x slower
(random-init Whisper base x EmoDB, 385 training utterances: 50 s per fold against 2.5 s for the
folds of 362), and lbfgs, on these nearly separable problems, took another path with each thread
count (603 iterations at C=0.06 with 2 threads, 772 with 1): one thread is both fast and the
same on a machine of any core count.

The fit is deterministic (lbfgs draws nothing at random). Every requested seed therefore gets
an identical copy of the fold's rows, so that paired comparisons with seeded probes keep all of
their seeds; with ``train_fraction`` each seed fits its own subsample, as in
:func:`serlib.probing.train.train_probe`. The tables are those of ``train_probe``: results with
``layer`` = ``all``, ``best_epoch`` = the position of the chosen C in the grid plus one and the
chosen C itself in ``regularisation_C``; no layer weights; predictions with one ``p_<class>``
column of predicted probability (4 decimals) per class.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from serlib.common.errors import SerlibError
from serlib.probing.inputs import (FeatureFolder, LabelledSplit, describe_run, evaluated_parts, join_split,
                                   load_feature_folder,
                                   read_split_table, subsample_train)
from serlib.probing.histories import FoldRuns, ProbeRun, RunHistory, feature_statistics, probe_run_tables
from serlib.probing.metrics import accuracy

PROBE_NAME = "aggregate-concat"
#: Inverse L2 strengths tried, in order (strongest regularisation first).
DEFAULT_C_GRID = tuple(float(c) for c in np.logspace(-4, 1, 10))
#: lbfgs iterations allowed per C; far above what standardised features need (see the tests).
MAX_ITER = 5000
TOLERANCE = 1e-4


@dataclass
class ConcatFit:
    """The models of one train part over the C grid and the one chosen on dev."""

    c_grid: list[float]
    dev_accuracies: list[float]
    chosen: int  # index into c_grid
    model: LogisticRegression  # fitted on the train part at c_grid[chosen]
    iterations: list[int]  # lbfgs iterations used at every C

    @property
    def c(self) -> float:
        return self.c_grid[self.chosen]


def fit_concat(train_features: np.ndarray, train_labels: np.ndarray, dev_features: np.ndarray,
               dev_labels: np.ndarray, c_grid: Sequence[float] = DEFAULT_C_GRID,
               max_iter: int = MAX_ITER) -> ConcatFit:
    """Fit ``[N, F]`` train features at every C of ``c_grid`` (sorted ascending first), choose
    the C with the best dev accuracy (the smallest on ties). Raises when lbfgs does not converge
    within ``max_iter`` at some C, rather than report a model that is not the optimum."""
    models = _fit_grid(train_features, train_labels, c_grid, max_iter)
    dev_accuracies = [accuracy(dev_labels, model.predict(dev_features)) for model in models]
    chosen = int(np.argmax(dev_accuracies))  # the first maximum: the smallest C on ties
    return ConcatFit([float(model.C) for model in models], dev_accuracies, chosen, models[chosen],
                     [int(np.max(model.n_iter_)) for model in models])


def _fit_grid(train_features: np.ndarray, train_labels: np.ndarray, c_grid: Sequence[float],
              max_iter: int = MAX_ITER) -> list[LogisticRegression]:
    """One L2 logistic regression per C of ``c_grid``, ascending, each fitted from scratch."""
    grid = sorted({float(c) for c in c_grid})
    if not grid or grid[0] <= 0:
        raise SerlibError(f"the C grid needs positive values, not {list(c_grid)}")
    models = []
    for c in grid:
        model = LogisticRegression(C=c, solver="lbfgs", max_iter=max_iter, tol=TOLERANCE)  # L2
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            warnings.simplefilter("error", ConvergenceWarning)
            try:
                model.fit(train_features, train_labels)
            except ConvergenceWarning as warning:
                raise SerlibError(f"logistic regression at C={c:g} did not converge in {max_iter} "
                                  f"lbfgs iterations on {train_features.shape} features "
                                  "(standardise them, or give a smaller C grid)") from warning
        models.append(model)
    return models


def class_probabilities(model: LogisticRegression, features: np.ndarray, num_classes: int) -> np.ndarray:
    """``[N, num_classes]`` predicted probabilities in the split's class order (a class absent
    from the train part, which the model never saw, gets probability 0)."""
    probabilities = np.zeros((len(features), num_classes))
    probabilities[:, model.classes_] = model.predict_proba(features)
    return probabilities


def _flat_features(pooled: np.ndarray, split: LabelledSplit, standardize: bool) -> dict[str, np.ndarray]:
    """Train, dev and test features (float64), standardised with the train rows, all hidden
    states concatenated (``S x D`` values) and written in coordinates of the span of the train
    rows (at most as many as there are training utterances).

    The change of coordinates changes no fit: with an L2 penalty the optimal weights lie in the
    span of the training features (the gradient is a combination of them plus the weights
    themselves), so the problem restricted to an orthonormal basis of that span has the same
    optimum, the same penalty and the same predictions; lbfgs just works in a few hundred
    dimensions instead of S x D (25 x 1024 for the paper's large models)."""
    features = np.asarray(pooled, dtype=np.float32)
    if standardize:
        mean, scale = feature_statistics(features[split.rows["train"]])
        features = (features - mean) / scale
    flat = features.reshape(len(features), -1).astype(np.float64)
    _, singular, basis = np.linalg.svd(flat[split.rows["train"]], full_matrices=False)
    rank = int((singular > singular[0] * 1e-10).sum()) if singular.size else 0
    span = basis[:rank].T  # [S*D, rank], orthonormal columns
    return {name: np.ascontiguousarray(flat[rows] @ span) for name, rows in split.rows.items()}


def concat_history(features: dict[str, np.ndarray], split: LabelledSplit,
                   c_grid: Sequence[float] = DEFAULT_C_GRID) -> RunHistory:
    """The fits over the C grid as a :class:`~serlib.probing.histories.RunHistory` whose
    "epochs" are the C values, ascending: the logits are the log-probabilities of each fit, so
    that choosing the epoch of the best dev accuracy (the first on ties) is choosing C on dev
    (the smallest on ties), exactly as for the probes trained by gradient."""
    num_classes = len(split.class_names)
    models = _fit_grid(features["train"], split.labels["train"], c_grid)
    logits = {name: np.stack([np.log(np.maximum(class_probabilities(model, features[name], num_classes), 1e-30))
                              for model in models])[:, None].astype(np.float32)
              for name in evaluated_parts(split)}
    return RunHistory(logits.pop("dev"), logits.pop("test"), None, logits)


def concat_fold_runs(folder: FeatureFolder, splits: Sequence[tuple[int, LabelledSplit]], seeds: Sequence[int],
                     standardize: bool = True, c_grid: Sequence[float] = DEFAULT_C_GRID,
                     train_fraction: float | None = None) -> list[FoldRuns]:
    """``aggregate-concat`` on every fold of ``splits``: one fit over the C grid per fold (every
    seed gets that same fit: it is deterministic), or per seed on its own subsample of the train
    part with ``train_fraction``."""
    if folder.num_hidden_states < 2:
        raise SerlibError(f"probe {PROBE_NAME!r} combines hidden states, but {folder.path} has "
                          f"{folder.num_hidden_states}; use a per-layer probe (linear, softmax)")
    if not seeds:
        raise SerlibError("give at least one seed")
    grid = sorted({float(c) for c in c_grid})
    runs = []
    for fold, split in splits:
        if train_fraction is None:
            history = concat_history(_flat_features(folder.pooled, split, standardize), split, grid)
            runs.append(FoldRuns(fold, split, dict.fromkeys(seeds, history)))
            continue
        for seed in seeds:  # each seed on its own subsample; dev and test stay the fold's
            part = subsample_train(split, train_fraction, seed)
            runs.append(FoldRuns(fold, part, {seed: concat_history(_flat_features(folder.pooled, part, standardize),
                                                                     part, grid)}))
    return runs


def chosen_regularisation(results: pd.DataFrame, c_grid: Sequence[float] = DEFAULT_C_GRID) -> np.ndarray:
    """The C of each results row (its ``best_epoch`` indexes the ascending grid)."""
    return np.asarray(sorted({float(c) for c in c_grid}))[results["best_epoch"].to_numpy() - 1]


def train_concat_probe(feature_dir: str | Path, split_csv: str | Path | pd.DataFrame,
                       seeds: int | Sequence[int] = 1, corpus: str | None = None,
                       model: str | None = None, language: str | None = None,
                       protocol: str | None = None, standardize: bool = True,
                       c_grid: Sequence[float] = DEFAULT_C_GRID,
                       train_fraction: float | None = None) -> ProbeRun:
    """``aggregate-concat`` for every fold of a split on one feature folder (see the module);
    what ``train_probe(..., probe="aggregate-concat")`` runs. ``seeds``, ``corpus``, ``model``,
    ``language``, ``protocol``, ``standardize`` and ``train_fraction`` mean what they mean for
    :func:`serlib.probing.train.train_probe`."""
    from serlib.data.splits import protocol_of_split_file

    folder = load_feature_folder(feature_dir)
    table, _ = read_split_table(split_csv)
    if protocol is None:
        protocol = "custom" if isinstance(split_csv, pd.DataFrame) else protocol_of_split_file(split_csv)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(seed) for seed in seeds]
    splits = [(fold, join_split(folder, table, fold)) for fold in sorted(int(fold) for fold in table["fold"].unique())]
    runs = concat_fold_runs(folder, splits, seed_list, standardize, c_grid, train_fraction)
    run = probe_run_tables(describe_run(folder, PROBE_NAME, corpus, model, language), protocol, runs, ["all"],
                           folder.utterance_ids)
    run.results["regularisation_C"] = chosen_regularisation(run.results, c_grid)
    if train_fraction is not None:
        run.results["train_fraction"] = float(train_fraction)
        run.predictions["train_fraction"] = float(train_fraction)
    return run
