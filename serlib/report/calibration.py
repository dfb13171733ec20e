"""Calibration of the probes: do their probabilities mean what they say?

Prediction tables carry one column per class, ``p_<label>`` (the softmax probability of that
class; NaN for classes the row's corpus does not have). A prediction's *confidence* is the
probability of the class it predicted (the top-label confidence: the largest probability when
``predicted`` is the arg-max), and it is *correct* when that class is the label.

- :func:`expected_calibration_error`: the standard top-label ECE with equal-width confidence bins
  (:data:`BINS` = 15 on [0, 1]; bin k holds confidences in (k/15, (k+1)/15], the first also 0):
  the sum over bins of |accuracy - mean confidence| times the bin's share of the predictions.
- :func:`calibration_table`: per system (corpus, model, probe, protocol, layer), on its test
  rows, the ECE of all its predictions pooled (every fold x utterance x seed counts once, as the
  accuracy of :mod:`serlib.report.uncertainty` does), with a 95% bootstrap interval from exactly
  the draws :func:`serlib.report.uncertainty.accuracy_interval` makes (speakers resampled with all
  their observations, seeds resampled on their own; the same seed gives the same draws), plus
  accuracy, mean confidence and the counts. ECE is biased upwards on small samples and a
  bootstrap draw is a smaller effective sample, so for a well calibrated system the draws lie
  mostly above the point estimate and the interval may not contain it: read a small ECE
  against the interval's low end.
- :func:`reliability_bins`: per system and bin, the bin's range, count, mean confidence and
  accuracy: the points of a reliability diagram.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from serlib.common.errors import SerlibError
from serlib.report.uncertainty import (
    BOOTSTRAP_DRAWS,
    BOOTSTRAP_SEED,
    SYSTEM_KEYS,
    Outcomes,
    bootstrap_interval,
    bootstrap_weights,
    outcomes,
)

BINS = 15
PROBABILITY_PREFIX = "p_"
#: Bootstrap draws handled at once (bounds the memory of one bin's [observations x draws] sums).
DRAW_CHUNK = 250


def bin_index(confidence: np.ndarray, bins: int = BINS) -> np.ndarray:
    """The equal-width bin of each confidence: k for (k/bins, (k+1)/bins], 0 also for 0."""
    confidence = np.asarray(confidence, dtype=float)
    return np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)


def expected_calibration_error(confidence, correct, bins: int = BINS) -> float:
    """Top-label ECE: sum over ``bins`` equal-width bins of |accuracy - mean confidence| x the
    bin's share of the predictions (empty bins count 0)."""
    confidence = np.asarray(confidence, dtype=float).ravel()
    correct = np.asarray(correct, dtype=float).ravel()
    _check_confidence(confidence, correct)
    index = bin_index(confidence, bins)
    gaps = np.bincount(index, weights=correct - confidence, minlength=bins)
    return float(np.abs(gaps).sum() / confidence.size)


def _check_confidence(confidence: np.ndarray, correct: np.ndarray) -> None:
    if confidence.shape != correct.shape:
        raise ValueError(f"{confidence.size} confidences for {correct.size} outcomes")
    if confidence.size == 0:
        raise ValueError("no predictions to compute a calibration error on")
    if np.isnan(confidence).any() or (confidence < 0).any() or (confidence > 1).any():
        raise ValueError("confidences must be probabilities in [0, 1]")


def probability_columns(predictions: pd.DataFrame) -> list[str]:
    """The ``p_<label>`` columns of a prediction table (a clear error when there are none)."""
    columns = [column for column in predictions.columns
               if isinstance(column, str) and column.startswith(PROBABILITY_PREFIX)]
    if not columns:
        raise SerlibError(
            "the predictions have no class probability columns (p_<label>), so calibration "
            "cannot be measured; rerun the probes with a serlib that writes them "
            "(`serlib probe`, or the study's notebooks 03-05)")
    return columns


def with_confidence(predictions: pd.DataFrame) -> pd.DataFrame:
    """``predictions`` with ``confidence`` (the probability of the predicted class) and
    ``correct`` (predicted == label)."""
    columns = probability_columns(predictions)
    position = {column[len(PROBABILITY_PREFIX):]: index for index, column in enumerate(columns)}
    chosen = predictions["predicted"].astype(str).map(position)
    if chosen.isna().any():
        missing = sorted(set(predictions.loc[chosen.isna(), "predicted"].astype(str)))
        raise SerlibError(f"the predictions have no probability column for the predicted "
                          f"label(s) {', '.join(missing)} (expected p_{missing[0]}); the "
                          "table is incomplete: rerun the probes that wrote it")
    probabilities = predictions[columns].to_numpy(dtype=float)
    confidence = probabilities[np.arange(len(predictions)), chosen.to_numpy(dtype=int)]
    if np.isnan(confidence).any():
        row = predictions.iloc[int(np.flatnonzero(np.isnan(confidence))[0])]
        raise SerlibError(f"the probability of the predicted class is missing (NaN) for "
                          f"utterance {row['utterance_id']!r} (fold {row['fold']}, seed "
                          f"{row['seed']}, layer {row['layer']}); rerun the probes that wrote it")
    return predictions.assign(confidence=confidence,
                              correct=(predictions["label"] == predictions["predicted"]).to_numpy())


def _test_outcomes(predictions: pd.DataFrame) -> tuple[Outcomes, np.ndarray]:
    """One system's test outcomes (as :func:`serlib.report.uncertainty.outcomes` lays them out)
    and the matching confidences ``[observation, seed]``."""
    test = with_confidence(predictions[predictions["split"] == "test"])
    outcome = outcomes(test)
    confidence = test.pivot_table(index=["fold", "utterance_id", "speaker"], columns="seed",
                                  values="confidence", aggfunc="first")
    confidence = confidence.reindex(index=pd.MultiIndex.from_frame(outcome.observations),
                                    columns=outcome.seeds)
    return outcome, confidence.to_numpy(dtype=float)


def _bootstrap_ece(outcome: Outcomes, confidence: np.ndarray, bins: int, draws: int,
                   cluster: str, seed: int) -> np.ndarray:
    """The ECE of every bootstrap draw: each (observation, seed) weighted by its observation's
    cluster count times its seed's count in the draw."""
    observation_weights, seed_weights = bootstrap_weights(outcome, draws, cluster, seed)
    gaps = outcome.correct.astype(float) - confidence
    index = bin_index(confidence, bins)
    totals = observation_weights.sum(axis=0) * seed_weights.sum(axis=0)
    absolute = np.zeros(draws)
    for start in range(0, draws, DRAW_CHUNK):
        part = slice(start, start + DRAW_CHUNK)
        for k in np.unique(index):
            in_bin = np.where(index == k, gaps, 0.0)
            absolute[part] += np.abs(((in_bin @ seed_weights[:, part])
                                      * observation_weights[:, part]).sum(axis=0))
    return absolute / totals


def system_calibration(predictions: pd.DataFrame, bins: int = BINS, cluster: str = "speaker",
                       draws: int = BOOTSTRAP_DRAWS, seed: int = BOOTSTRAP_SEED) -> dict:
    """ECE of ONE system's test predictions with its 95% bootstrap interval, accuracy, mean
    confidence, their difference (positive: over-confident) and the counts."""
    outcome, confidence = _test_outcomes(predictions)
    ece = expected_calibration_error(confidence, outcome.correct, bins)
    low, high = bootstrap_interval(_bootstrap_ece(outcome, confidence, bins, draws, cluster, seed))
    mean_confidence = float(confidence.mean())
    return {"ece": ece, "ece_ci_low": low, "ece_ci_high": high, "accuracy": outcome.accuracy,
            "mean_confidence": mean_confidence,
            "overconfidence": mean_confidence - outcome.accuracy, "bins": bins,
            "n_utterances": int(outcome.observations["utterance_id"].nunique()),
            "n_observations": len(outcome.observations),
            "n_speakers": int(outcome.observations["speaker"].nunique()),
            "n_folds": int(outcome.observations["fold"].nunique()), "n_seeds": len(outcome.seeds)}


def calibration_table(predictions: pd.DataFrame, bins: int = BINS, cluster: str = "speaker",
                      draws: int = BOOTSTRAP_DRAWS, seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """:func:`system_calibration` for every system with test rows.

    Columns: corpus, model, probe, protocol, layer, ece, ece_ci_low, ece_ci_high, accuracy,
    mean_confidence, overconfidence, bins, n_utterances, n_observations, n_speakers, n_folds,
    n_seeds; sorted by system, layers in numeric order."""
    test = predictions[predictions["split"] == "test"]
    rows = [{**dict(zip(SYSTEM_KEYS, key)), **system_calibration(group, bins, cluster, draws, seed)}
            for key, group in test.groupby(SYSTEM_KEYS, sort=True)]
    return _sorted(pd.DataFrame(rows, columns=[*SYSTEM_KEYS, "ece", "ece_ci_low", "ece_ci_high",
                                               "accuracy", "mean_confidence", "overconfidence",
                                               "bins", "n_utterances", "n_observations",
                                               "n_speakers", "n_folds", "n_seeds"]))


def reliability_bins(predictions: pd.DataFrame, bins: int = BINS) -> pd.DataFrame:
    """Per system and confidence bin, on the test rows (folds and seeds pooled): ``bin`` (0 ..
    bins-1), ``bin_low``, ``bin_high``, ``count``, ``share`` (of the system's predictions),
    ``mean_confidence`` and ``accuracy`` (NaN in an empty bin; every bin is listed)."""
    test = with_confidence(predictions[predictions["split"] == "test"])
    test = test.assign(bin=bin_index(test["confidence"].to_numpy(), bins))
    edges = np.linspace(0.0, 1.0, bins + 1)
    tables = []
    for key, group in test.groupby(SYSTEM_KEYS, sort=True):
        per_bin = group.groupby("bin").agg(count=("confidence", "size"),
                                           mean_confidence=("confidence", "mean"),
                                           accuracy=("correct", "mean"))
        per_bin = per_bin.reindex(range(bins)).rename_axis("bin").reset_index()
        per_bin["count"] = per_bin["count"].fillna(0).astype(int)
        per_bin = per_bin.assign(**dict(zip(SYSTEM_KEYS, key)), bin_low=edges[:-1],
                                 bin_high=edges[1:], share=per_bin["count"] / len(group))
        tables.append(per_bin)
    columns = [*SYSTEM_KEYS, "bin", "bin_low", "bin_high", "count", "share", "mean_confidence",
               "accuracy"]
    if not tables:
        return pd.DataFrame(columns=columns)
    return _sorted(pd.concat(tables, ignore_index=True)[columns], extra=["bin"])


def _sorted(table: pd.DataFrame, extra: list[str] | None = None) -> pd.DataFrame:
    """Rows by system with layers in numeric order, non-numeric layers (``all``, ``1-k``) first,
    as :func:`serlib.report.uncertainty.layer_intervals` orders them."""
    extra = extra or []
    numeric = pd.to_numeric(table["layer"], errors="coerce")
    return (table.assign(_order=numeric.fillna(-1))
            .sort_values([*SYSTEM_KEYS[:4], "_order", *extra], kind="stable")
            .drop(columns="_order").reset_index(drop=True))
