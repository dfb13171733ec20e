"""Data scaling: the stratified, seeded train subsample, run_probe's train_fraction option and
learning curves of the best layer against aggregation."""

import numpy as np
import pytest

from planted_features import write_planted_store
from serlib.common.errors import SerlibError
from serlib.probing.scaling import learning_curve_summary, learning_curves
from serlib.probing.columns import RESULT_COLUMNS
from serlib.probing.train import LabelledSplit, join_split, load_feature_folder, run_probe, subsample_train


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return write_planted_store(tmp_path_factory.mktemp("features") / "fakemodel" / "planted",
                               informative_layer=2, per_class=20)


def uneven_split():
    """Train labels: 10 of class 0, 6 of class 1, 1 of class 2."""
    train_labels = np.array([0] * 10 + [1] * 6 + [2])
    return LabelledSplit(["a", "b", "c"],
                         {"train": np.arange(100, 117), "dev": np.array([1, 2]), "test": np.array([3])},
                         {"train": train_labels, "dev": np.array([0, 1]), "test": np.array([2])})


def test_subsample_is_stratified_with_one_example_per_class_at_least():
    split = uneven_split()
    subsample = subsample_train(split, 0.25, seed=0)
    # round(2.5) = 2, round(1.5) = 2, max(1, round(0.25)) = 1
    assert np.bincount(subsample.labels["train"]).tolist() == [2, 2, 1]
    position_of = {row: position for position, row in enumerate(split.rows["train"])}
    for row, label in zip(subsample.rows["train"], subsample.labels["train"]):
        assert split.labels["train"][position_of[row]] == label
    assert subsample.rows["dev"] is split.rows["dev"] and subsample.labels["test"] is split.labels["test"]


def test_subsample_is_drawn_by_the_seed():
    split = uneven_split()
    first, again = subsample_train(split, 0.5, seed=4), subsample_train(split, 0.5, seed=4)
    np.testing.assert_array_equal(first.rows["train"], again.rows["train"])
    others = [subsample_train(split, 0.5, seed=seed).rows["train"] for seed in range(5)]
    assert len({tuple(rows) for rows in others}) > 1
    assert subsample_train(split, 1.0, seed=3) is split


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_fractions_outside_zero_to_one_are_rejected(fraction):
    with pytest.raises(SerlibError, match="not in \\(0, 1\\]"):
        subsample_train(uneven_split(), fraction, seed=0)


def test_train_fraction_column_only_when_asked_and_full_fraction_changes_nothing(planted):
    plain, _ = run_probe(*planted, probe="linear", seeds=[1], epochs=3, device="cpu")
    full, _ = run_probe(*planted, probe="linear", seeds=[1], epochs=3, device="cpu", train_fraction=1.0)
    assert list(plain.columns) == RESULT_COLUMNS
    assert list(full.columns) == RESULT_COLUMNS + ["train_fraction"]
    assert (full["train_fraction"] == 1.0).all()
    np.testing.assert_array_equal(full["value"], plain["value"])


def test_a_smaller_fraction_trains_on_the_subsample_and_scores_the_whole_test_part(planted):
    folder = load_feature_folder(planted[0])
    split = join_split(folder, planted[1])
    small, _ = run_probe(*planted, probe="softmax", seeds=[0, 1], epochs=2, device="cpu",
                         train_fraction=0.25)
    full, _ = run_probe(*planted, probe="softmax", seeds=[0, 1], epochs=2, device="cpu")
    assert len(small) == len(full) and not np.array_equal(small["value"], full["value"])
    accuracy = small[(small["split"] == "test") & (small["metric"] == "accuracy")]["value"]
    np.testing.assert_allclose(accuracy * 12, np.round(accuracy * 12))  # scored on all 12 test rows
    assert np.bincount(subsample_train(split, 0.25, seed=0).labels["train"]).tolist() == [3, 3, 3]


def test_learning_curves_and_their_summary(planted):
    curves = learning_curves(*planted, fractions=(0.5, 1.0), seeds=2, epochs=15, device="cpu")
    assert sorted(curves["train_fraction"].unique()) == [0.5, 1.0]
    assert set(curves["probe"]) == {"linear", "aggregate-softmax"}
    # linear: 4 layers x 2 seeds x 2 splits x 4 metrics; aggregate: 1 x 2 x 2 x 4, per fraction
    assert len(curves) == 2 * (64 + 16)
    summary = learning_curve_summary(curves)
    assert summary["train_fraction"].tolist() == [0.5, 1.0]
    assert summary["best_layer"].tolist() == [2, 2]
    full = curves[(curves["train_fraction"] == 1.0) & (curves["split"] == "test")
                  & (curves["metric"] == "accuracy")]
    row = summary.iloc[1]
    assert row["best_layer_accuracy"] == pytest.approx(
        full[(full["probe"] == "linear") & (full["layer"] == 2)]["value"].mean())
    assert row["aggregate_accuracy"] == pytest.approx(full[full["probe"] == "aggregate-softmax"]["value"].mean())
    assert row["best_layer_ci_low"] <= row["best_layer_accuracy"] <= row["best_layer_ci_high"]
    assert row["best_minus_aggregate"] == pytest.approx(row["best_layer_accuracy"] - row["aggregate_accuracy"])


def test_summary_needs_both_probes(planted):
    curves = learning_curves(*planted, fractions=(1.0,), probes=("linear",), seeds=1, epochs=1, device="cpu")
    with pytest.raises(SerlibError, match="no rows of probe 'aggregate-softmax'"):
        learning_curve_summary(curves)
