"""Calibration of probes from hand-made predictions whose ECE is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from serlib.common.errors import SerlibError
from serlib.report.calibration import (
    bin_index,
    calibration_table,
    expected_calibration_error,
    reliability_bins,
)
from serlib.report.uncertainty import accuracy_interval

CLASSES = ("anger", "sadness", "neutral")


def make_predictions(utterances, seeds=(0, 1), layer=3, split="test", probe="linear"):
    """``utterances``: (speaker, confidence, correct) per utterance, the same for every seed.

    The predicted class gets ``confidence``, the other two classes of the corpus share the rest;
    ``p_fear`` is NaN (a class this corpus does not have)."""
    rows = []
    for seed in seeds:
        for number, (speaker, confidence, correct) in enumerate(utterances):
            label = CLASSES[number % 3]
            predicted = label if correct else CLASSES[(number + 1) % 3]
            row = {"corpus": "toy", "model": "m", "probe": probe, "protocol": "speaker-cv",
                   "fold": 0, "seed": seed, "layer": layer, "split": split,
                   "utterance_id": f"u{number:03d}", "speaker": speaker, "label": label,
                   "predicted": predicted, "p_fear": np.nan}
            for name in CLASSES:
                row[f"p_{name}"] = confidence if name == predicted else (1 - confidence) / 2
            rows.append(row)
    return pd.DataFrame(rows)


def per_speaker(correct_counts, confidence=0.9, utterances=10):
    """Utterances of speakers s0, s1, ... each with ``utterances`` predictions at ``confidence``
    of which the given number is correct."""
    return [(f"s{index}", confidence, number < correct)
            for index, correct in enumerate(correct_counts) for number in range(utterances)]


def test_ece_by_hand():
    # perfectly calibrated: 80% right at 0.8, 60% right at 0.6
    confidence = [0.8] * 10 + [0.6] * 5
    correct = [1] * 8 + [0] * 2 + [1] * 3 + [0] * 2
    assert expected_calibration_error(confidence, correct) == pytest.approx(0, abs=1e-12)
    # over-confident: 60% right at 0.9 (half the predictions), 50% right at 0.7
    confidence = [0.9] * 10 + [0.7] * 10
    correct = [1] * 6 + [0] * 4 + [1] * 5 + [0] * 5
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.5 * 0.3 + 0.5 * 0.2)
    # 0.5 and 0.53 share the bin (7/15, 8/15]; 0.54 is in the next one
    assert expected_calibration_error([0.5, 0.53], [1, 0]) == pytest.approx(abs(0.5 - 0.515))
    assert expected_calibration_error([0.5, 0.54], [1, 0]) == pytest.approx((0.5 + 0.54) / 2)
    # fewer bins pool more: with 1 bin the ECE is |accuracy - mean confidence|
    assert expected_calibration_error([0.9, 0.3], [1, 0], bins=1) == pytest.approx(abs(0.5 - 0.6))


def test_bin_edges():
    assert bin_index(np.array([0.0, 1 / 15, 1 / 15 + 1e-9, 0.5, 1.0])).tolist() == [0, 0, 1, 7, 14]
    with pytest.raises(ValueError, match="probabilities"):
        expected_calibration_error([1.2], [1])


def test_over_confident_system_uses_the_accuracy_draws():
    predictions = make_predictions(per_speaker([7, 6, 5, 6]))
    row = calibration_table(predictions).iloc[0]
    assert row["ece"] == pytest.approx(0.3)
    assert (row["accuracy"], row["mean_confidence"]) == pytest.approx((0.6, 0.9))
    assert row["overconfidence"] == pytest.approx(0.3)
    assert (row["n_utterances"], row["n_speakers"], row["n_folds"], row["n_seeds"]) == (40, 4, 1, 2)
    assert row["ece_ci_low"] <= row["ece"] <= row["ece_ci_high"]
    assert 0.2 - 1e-12 <= row["ece_ci_low"] < row["ece_ci_high"] <= 0.4 + 1e-12
    # one bin at one confidence: ECE = 0.9 - accuracy in every draw, so the interval mirrors the
    # accuracy interval of serlib.report.uncertainty (the same speaker and seed draws)
    accuracy = accuracy_interval(predictions)
    assert row["ece_ci_low"] == pytest.approx(0.9 - accuracy["ci_high"])
    assert row["ece_ci_high"] == pytest.approx(0.9 - accuracy["ci_low"])


def test_perfectly_calibrated_system():
    utterances = [(f"s{speaker}", confidence, number < correct)
                  for speaker in range(5)
                  for confidence, total, correct in ((0.8, 10, 8), (0.6, 5, 3))
                  for number in range(total)]
    row = calibration_table(make_predictions(utterances)).iloc[0]
    assert row["ece"] == pytest.approx(0, abs=1e-12)
    # every speaker is calibrated on its own, so every draw is too
    assert row["ece_ci_low"] == pytest.approx(0, abs=1e-12)
    assert row["ece_ci_high"] == pytest.approx(0, abs=1e-12)
    assert row["accuracy"] == pytest.approx(11 / 15)


def random_system(speakers: int, generator: np.random.Generator) -> pd.DataFrame:
    """Over-confident predictions whose accuracy varies from speaker to speaker."""
    utterances = []
    for speaker in range(speakers):
        skill = generator.uniform(-0.2, 0.1)
        for _ in range(20):
            confidence = generator.uniform(0.4, 1.0)
            utterances.append((f"s{speaker:02d}", round(confidence, 4),
                               generator.random() < min(1.0, confidence + skill)))
    return make_predictions(utterances)


def test_interval_narrows_with_more_speakers():
    generator = np.random.default_rng(11)
    few = calibration_table(random_system(5, generator)).iloc[0]
    many = calibration_table(random_system(40, generator)).iloc[0]
    for row in (few, many):
        assert row["ece_ci_low"] <= row["ece"] <= row["ece_ci_high"]
    assert (many["ece_ci_high"] - many["ece_ci_low"]) < 0.6 * (few["ece_ci_high"] - few["ece_ci_low"])


def test_reliability_bins():
    utterances = per_speaker([7, 6, 5, 6]) + [("s9", 0.5, number < 3) for number in range(4)]
    table = reliability_bins(make_predictions(utterances))
    assert len(table) == 15 and table["bin"].tolist() == list(range(15))
    assert table["count"].sum() == 2 * 44
    full = table[table["count"] > 0].set_index("bin")
    assert full.index.tolist() == [7, 13]
    assert full.loc[13, ["count", "mean_confidence", "accuracy"]].tolist() == pytest.approx(
        [80, 0.9, 0.6])
    assert full.loc[7, ["count", "mean_confidence", "accuracy"]].tolist() == pytest.approx(
        [8, 0.5, 0.75])
    assert full.loc[13, ["bin_low", "bin_high"]].tolist() == pytest.approx([13 / 15, 14 / 15])
    assert full["share"].sum() == pytest.approx(1.0)
    assert table.loc[table["count"] == 0, "accuracy"].isna().all()


def test_systems_are_separate_dev_rows_ignored_and_layers_in_order():
    over = make_predictions(per_speaker([7, 6, 5, 6]), layer=10)
    calibrated = make_predictions(per_speaker([9, 9, 9, 9]), layer=2)
    dev = make_predictions(per_speaker([0, 0, 0, 0]), layer=2, split="dev")
    table = calibration_table(pd.concat([over, calibrated, dev], ignore_index=True))
    assert table["layer"].tolist() == [2, 10]
    assert table["ece"].tolist() == pytest.approx([0.0, 0.3])
    assert table["n_utterances"].tolist() == [40, 40]


def test_predictions_without_probabilities_are_refused():
    predictions = make_predictions(per_speaker([7, 6]))
    with pytest.raises(SerlibError, match="no class probability columns"):
        calibration_table(predictions.drop(columns=[c for c in predictions if c.startswith("p_")]))
    broken = predictions.copy()
    broken.loc[3, f"p_{broken.loc[3, 'predicted']}"] = np.nan
    with pytest.raises(SerlibError, match="missing .NaN. for utterance 'u003'"):
        calibration_table(broken)
    with pytest.raises(SerlibError, match="p_happiness"):
        calibration_table(predictions.assign(predicted="happiness"))
