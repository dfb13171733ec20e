"""Pure metric functions on label arrays, and summaries over training seeds.

All scores are fractions in [0, 1] (the paper prints accuracy in percent).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

METRIC_NAMES = ("accuracy", "uar", "macro_f1", "error_rate")


def accuracy(true_labels: np.ndarray, predicted_labels: np.ndarray) -> float:
    """Fraction of utterances whose predicted label equals the true label (the paper's metric)."""
    return float(accuracy_score(true_labels, predicted_labels))


def unweighted_average_recall(true_labels: np.ndarray, predicted_labels: np.ndarray) -> float:
    """Mean over the classes present in ``true_labels`` of each class's recall (UAR)."""
    return float(balanced_accuracy_score(true_labels, predicted_labels))


def macro_f1(true_labels: np.ndarray, predicted_labels: np.ndarray) -> float:
    """Unweighted mean of per-class F1 over the classes in either array (0 where undefined)."""
    return float(f1_score(true_labels, predicted_labels, average="macro", zero_division=0))


def error_rate(true_labels: np.ndarray, predicted_labels: np.ndarray) -> float:
    """1 - accuracy."""
    return 1.0 - accuracy(true_labels, predicted_labels)


def classification_metrics(true_labels: np.ndarray, predicted_labels: np.ndarray) -> dict[str, float]:
    """All of :data:`METRIC_NAMES` for one prediction vector.

    A fold's test part may lack a class the probe predicts (one test speaker under
    leave-one-speaker-out): the prediction counts as wrong, as it should, and scikit-learn's
    warning about it is not passed on (it would fill every notebook's output); nor is its warning
    about a part with a single label, every prediction of it right (the sex of one test speaker)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        warnings.filterwarnings("ignore", message="A single label was found in 'y_true' and 'y_pred'")
        return {
            "accuracy": accuracy(true_labels, predicted_labels),
            "uar": unweighted_average_recall(true_labels, predicted_labels),
            "macro_f1": macro_f1(true_labels, predicted_labels),
            "error_rate": error_rate(true_labels, predicted_labels),
        }


def bootstrap_interval(values: np.ndarray, confidence: float = 0.95, resamples: int = 10_000,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (e.g. one score per seed).

    Deterministic for a given ``seed``; a single value gives the degenerate interval (v, v).
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("bootstrap_interval needs at least one value")
    rng = np.random.default_rng(seed)
    resampled_means = rng.choice(values, size=(resamples, values.size), replace=True).mean(axis=1)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(resampled_means, [tail, 100.0 - tail])
    return float(low), float(high)


def seed_summary(values: np.ndarray) -> dict[str, float]:
    """Mean, sample standard deviation (0 for one value), 95% bootstrap interval and count."""
    values = np.asarray(values, dtype=float)
    low, high = bootstrap_interval(values)
    return {
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if values.size > 1 else 0.0,
        "ci_low": low,
        "ci_high": high,
        "n_seeds": int(values.size),
    }


def majority_class_accuracy(labels: np.ndarray) -> float:
    """Accuracy of always predicting the most frequent label of ``labels``."""
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    return float(counts.max() / counts.sum())


def chance_accuracy(labels: np.ndarray) -> float:
    """Expected accuracy of guessing uniformly among the classes present in ``labels``."""
    return 1.0 / len(np.unique(np.asarray(labels)))


def accuracy_per_row(true_labels: np.ndarray, predicted_labels: np.ndarray) -> np.ndarray:
    """Accuracies of many prediction vectors at once: ``[..., N]`` predictions -> ``[...]``."""
    return (np.asarray(predicted_labels) == np.asarray(true_labels)).mean(axis=-1)
