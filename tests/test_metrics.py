"""Metrics on hand-computed examples, and seed summaries."""

import numpy as np
import pytest

from serlib.probing import metrics

TRUE = np.array([0, 0, 0, 1, 1, 2])
PREDICTED = np.array([0, 0, 1, 1, 2, 2])


def test_accuracy_and_error_rate_count_matches():
    assert metrics.accuracy(TRUE, PREDICTED) == pytest.approx(4 / 6)
    assert metrics.error_rate(TRUE, PREDICTED) == pytest.approx(2 / 6)


def test_uar_is_the_mean_of_class_recalls():
    # recalls: class 0 2/3, class 1 1/2, class 2 1/1
    assert metrics.unweighted_average_recall(TRUE, PREDICTED) == pytest.approx(13 / 18)


def test_macro_f1_is_the_mean_of_class_f1():
    # F1: class 0 4/5 (p 1, r 2/3), class 1 1/2 (p 1/2, r 1/2), class 2 2/3 (p 1/2, r 1)
    assert metrics.macro_f1(TRUE, PREDICTED) == pytest.approx(59 / 90)


def test_classification_metrics_has_every_metric():
    scores = metrics.classification_metrics(TRUE, PREDICTED)
    assert list(scores) == list(metrics.METRIC_NAMES)
    assert scores["uar"] == pytest.approx(13 / 18)


def test_majority_and_chance_levels():
    assert metrics.majority_class_accuracy(TRUE) == pytest.approx(0.5)
    assert metrics.chance_accuracy(TRUE) == pytest.approx(1 / 3)


def test_seed_summary_mean_std_and_interval_around_the_mean():
    summary = metrics.seed_summary(np.array([0.5, 0.7, 0.9]))
    assert summary["mean"] == pytest.approx(0.7)
    assert summary["std"] == pytest.approx(0.2)
    assert 0.5 <= summary["ci_low"] < 0.7 < summary["ci_high"] <= 0.9
    assert summary["n_seeds"] == 3


def test_bootstrap_of_one_value_is_that_value():
    assert metrics.bootstrap_interval(np.array([0.8])) == (0.8, 0.8)
    assert metrics.seed_summary(np.array([0.8]))["std"] == 0.0


def test_accuracy_per_row_over_epochs_and_groups():
    predictions = np.array([[[0, 0, 1], [1, 1, 1]], [[0, 1, 1], [0, 0, 0]]])  # [E=2, G=2, N=3]
    np.testing.assert_allclose(metrics.accuracy_per_row(np.array([0, 1, 1]), predictions),
                               [[2 / 3, 2 / 3], [1.0, 1 / 3]])
