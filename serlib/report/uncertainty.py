"""Intervals and paired tests from per-utterance predictions, and the nested choice of a layer.

Every number the report gives comes with a 95% interval that accounts for both sources of
noise: which utterances happened to be tested, and which training seeds were drawn.

- **Bootstrap.** A system's test predictions are laid out as observations (fold x utterance)
  by seeds. One bootstrap draw resamples *speakers* with replacement (all observations of a
  drawn speaker go in together: utterances of one speaker are not independent) and, on its own,
  the seeds. The statistic is the accuracy over the drawn observations, averaged over the drawn
  seeds. With ``cluster="utterance"`` every observation is its own cluster.
- **Paired comparisons.** Two systems scored on the same observations and seeds are resampled
  with the *same* draws, so their difference keeps the pairing. Reported: the difference in
  accuracy, the relative error reduction ``(err_B - err_A) / err_B`` with its interval, and a
  two-sided bootstrap p-value for "no difference". :func:`holm` controls the family-wise error
  of a table of comparisons.
- **Nested selection.** :func:`nested_best_layer` chooses, inside every fold, the layer (and the
  probe family) with the best mean *dev* accuracy over seeds, and takes that layer's test
  predictions for the fold: never chosen on test, never once across folds.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score, f1_score

BOOTSTRAP_DRAWS = 2000
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 20230817  # fixed: the same predictions always give the same interval
SYSTEM_KEYS = ["corpus", "model", "probe", "protocol", "layer"]


@dataclass(frozen=True)
class Outcomes:
    """Correctness of one system's test predictions: ``correct[observation, seed]``."""

    observations: pd.DataFrame  # fold, utterance_id, speaker (one row per observation)
    seeds: list[int]
    correct: np.ndarray  # bool [N, S]

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())


def outcomes(predictions: pd.DataFrame, seeds: Sequence[int] | None = None) -> Outcomes:
    """The test outcomes of the predictions of ONE system (one probe x layer choice)."""
    test = predictions[predictions["split"] == "test"]
    if seeds is not None:
        test = test[test["seed"].isin(list(seeds))]
    table = test.assign(correct=test["label"] == test["predicted"]).pivot_table(
        index=["fold", "utterance_id", "speaker"], columns="seed", values="correct", aggfunc="first")
    if table.isna().any().any():
        raise ValueError("predictions are not complete: some fold x utterance lacks a seed")
    return Outcomes(table.index.to_frame(index=False), [int(seed) for seed in table.columns],
                    table.to_numpy(dtype=bool))


def paired_outcomes(first: pd.DataFrame, second: pd.DataFrame) -> tuple[Outcomes, Outcomes]:
    """Outcomes of two systems restricted to the observations and seeds they share."""
    seeds = sorted(set(first.loc[first["split"] == "test", "seed"])
                   & set(second.loc[second["split"] == "test", "seed"]))
    a, b = outcomes(first, seeds), outcomes(second, seeds)
    keys = ["fold", "utterance_id"]
    shared = a.observations[keys].merge(b.observations[keys], on=keys)
    if len(shared) < max(len(a.observations), len(b.observations)):
        a, b = (_restrict(outcome, shared) for outcome in (a, b))
    return a, b


def _restrict(outcome: Outcomes, shared: pd.DataFrame) -> Outcomes:
    keep = outcome.observations.merge(shared.assign(_keep=True), how="left",
                                      on=["fold", "utterance_id"])["_keep"].fillna(False).to_numpy(bool)
    return Outcomes(outcome.observations[keep].reset_index(drop=True), outcome.seeds,
                    outcome.correct[keep])


def _draw_weights(outcome: Outcomes, draws: int, cluster: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap weights ``[N, B]`` of the observations and ``[S, B]`` of the seeds."""
    generator = np.random.default_rng(seed)
    units = (outcome.observations["speaker"] if cluster == "speaker"
             else pd.Series(np.arange(len(outcome.observations))))
    codes, uniques = pd.factorize(units)
    cluster_counts = generator.multinomial(len(uniques), np.full(len(uniques), 1 / len(uniques)), size=draws)
    seed_counts = generator.multinomial(len(outcome.seeds), np.full(len(outcome.seeds), 1 / len(outcome.seeds)),
                                        size=draws)
    return cluster_counts[:, codes].T.astype(float), seed_counts.T.astype(float)


def bootstrap_weights(outcome: Outcomes, draws: int = BOOTSTRAP_DRAWS, cluster: str = "speaker",
                      seed: int = BOOTSTRAP_SEED,
                      strata: Sequence | np.ndarray | pd.Series | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The bootstrap draws as weights: ``[N, B]`` of the observations and ``[S, B]`` of the seeds.

    Without ``strata`` these are exactly the draws :func:`accuracy_interval` makes (same
    ``seed``, same draws), for statistics other than accuracy (e.g. a calibration error). With
    ``strata`` (one value per observation, e.g. the speaker's sex) clusters are resampled within
    each stratum, so every draw keeps each stratum's number of clusters; seeds are resampled
    once per draw for all strata together. A cluster must lie in one stratum."""
    if strata is None:
        return _draw_weights(outcome, draws, cluster, seed)
    strata = np.asarray(strata, dtype=object)
    if strata.shape != (len(outcome.observations),):
        raise ValueError(f"strata gives {strata.shape[0] if strata.ndim else 0} values for "
                         f"{len(outcome.observations)} observations")
    generator = np.random.default_rng(seed)
    units = (outcome.observations["speaker"].to_numpy() if cluster == "speaker"
             else np.arange(len(outcome.observations)))
    codes, uniques = pd.factorize(units)
    stratum_of_cluster = pd.Series(strata).groupby(codes).nunique()
    if (stratum_of_cluster > 1).any():
        raise ValueError("a cluster lies in more than one stratum; strata must follow clusters")
    first_stratum = pd.Series(strata).groupby(codes).first().to_numpy()
    cluster_counts = np.zeros((draws, len(uniques)), dtype=np.int64)
    for stratum in pd.unique(first_stratum):
        members = np.flatnonzero(first_stratum == stratum)
        cluster_counts[:, members] = generator.multinomial(
            len(members), np.full(len(members), 1 / len(members)), size=draws)
    seed_counts = generator.multinomial(len(outcome.seeds), np.full(len(outcome.seeds), 1 / len(outcome.seeds)),
                                        size=draws)
    return cluster_counts[:, codes].T.astype(float), seed_counts.T.astype(float)


def bootstrap_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The central ``confidence`` interval of bootstrap draws, as every interval of the report
    is taken (NaN draws left out; see :func:`_interval`)."""
    return _interval(values, confidence)


def _bootstrap_accuracies(outcome: Outcomes, weights: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    observation_weights, seed_weights = weights
    per_observation = outcome.correct.astype(float) @ seed_weights / seed_weights.sum(axis=0)
    return (observation_weights * per_observation).sum(axis=0) / observation_weights.sum(axis=0)


def _interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The central ``confidence`` interval of bootstrap draws.

    Draws that are NaN (a relative error reduction 0/0: neither system erred in that draw) are
    left out; when every draw is NaN the interval is undefined and comes back as NaN (no
    warning). Infinite draws (B made no error but A did) make the interval's end infinite:
    the quantiles are then taken without interpolation, which would compute inf - inf.
    """
    tail = (1 - confidence) / 2
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    method = "linear" if np.isfinite(values).all() else "inverted_cdf"
    low, high = np.quantile(values, [tail, 1 - tail], method=method)
    return float(low), float(high)


def accuracy_interval(predictions: pd.DataFrame, cluster: str = "speaker", draws: int = BOOTSTRAP_DRAWS,
                      seed: int = BOOTSTRAP_SEED) -> dict:
    """Test accuracy of one system with its 95% bootstrap interval (speakers and seeds
    resampled), UAR and macro-F1 (means over seeds of the pooled predictions), and the counts
    behind them."""
    outcome = outcomes(predictions)
    accuracies = _bootstrap_accuracies(outcome, _draw_weights(outcome, draws, cluster, seed))
    low, high = _interval(accuracies)
    test = predictions[predictions["split"] == "test"]
    with warnings.catch_warnings():  # a class predicted but absent from test is counted, not warned
        warnings.simplefilter("ignore", UserWarning)
        per_seed = [(balanced_accuracy_score(rows["label"], rows["predicted"]),
                     f1_score(rows["label"], rows["predicted"], average="macro", zero_division=0))
                    for _, rows in test.groupby("seed")]
    return {"accuracy": outcome.accuracy, "ci_low": low, "ci_high": high,
            "uar": float(np.mean([uar for uar, _ in per_seed])),
            "macro_f1": float(np.mean([f1 for _, f1 in per_seed])),
            "n_utterances": int(outcome.observations["utterance_id"].nunique()),
            "n_observations": len(outcome.observations), "n_speakers": int(outcome.observations["speaker"].nunique()),
            "n_folds": int(outcome.observations["fold"].nunique()), "n_seeds": len(outcome.seeds)}


def layer_intervals(predictions: pd.DataFrame, cluster: str = "speaker") -> pd.DataFrame:
    """:func:`accuracy_interval` for every system (corpus, model, probe, protocol, layer)."""
    rows = [{**dict(zip(SYSTEM_KEYS, key)), **accuracy_interval(group, cluster)}
            for key, group in predictions.groupby(SYSTEM_KEYS, sort=True)]
    table = pd.DataFrame(rows)
    numeric = pd.to_numeric(table["layer"], errors="coerce")
    return table.assign(_order=numeric.fillna(-1)).sort_values(SYSTEM_KEYS[:4] + ["_order"]).drop(
        columns="_order").reset_index(drop=True)


def paired_comparison(first: pd.DataFrame, second: pd.DataFrame, cluster: str = "speaker",
                      draws: int = BOOTSTRAP_DRAWS, seed: int = BOOTSTRAP_SEED) -> dict:
    """System A (``first``) against system B (``second``) on the test observations and seeds
    both have: accuracies, their difference A - B, the relative error reduction of A against B,
    each with a 95% paired-bootstrap interval, and the two-sided p-value of "no difference"."""
    a, b = paired_outcomes(first, second)
    weights = _draw_weights(a, draws, cluster, seed)
    accuracy_a, accuracy_b = _bootstrap_accuracies(a, weights), _bootstrap_accuracies(b, weights)
    differences = accuracy_a - accuracy_b
    with np.errstate(divide="ignore", invalid="ignore"):
        reductions = ((1 - accuracy_b) - (1 - accuracy_a)) / (1 - accuracy_b)
    observed_difference = a.accuracy - b.accuracy
    error_b = 1 - b.accuracy
    observed_reduction = (error_b - (1 - a.accuracy)) / error_b if error_b > 0 else np.nan
    at_or_below = (np.sum(differences <= 0) + 1) / (draws + 1)
    at_or_above = (np.sum(differences >= 0) + 1) / (draws + 1)
    return {"accuracy_a": a.accuracy, "accuracy_b": b.accuracy,
            "difference": observed_difference, "difference_ci_low": _interval(differences)[0],
            "difference_ci_high": _interval(differences)[1],
            "relative_error_reduction": observed_reduction,
            "reduction_ci_low": _interval(reductions)[0], "reduction_ci_high": _interval(reductions)[1],
            "p_value": float(min(1.0, 2 * min(at_or_below, at_or_above))),
            "n_utterances": int(a.observations["utterance_id"].nunique()),
            "n_observations": len(a.observations), "n_speakers": int(a.observations["speaker"].nunique()),
            "n_folds": int(a.observations["fold"].nunique()), "n_seeds": len(a.seeds)}


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (family-wise error control over one table)."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def with_holm(table: pd.DataFrame, column: str = "p_value") -> pd.DataFrame:
    """``table`` with ``p_holm`` (Holm over all its rows) and the family size said in ``family``."""
    return table.assign(p_holm=holm(table[column].to_numpy()), family=len(table))


def dev_accuracy_by_fold(results: pd.DataFrame) -> pd.DataFrame:
    """Mean dev accuracy over seeds per corpus, model, probe, protocol, fold and numeric layer."""
    dev = results[(results["split"] == "dev") & (results["metric"] == "accuracy")].copy()
    dev["layer_index"] = pd.to_numeric(dev["layer"], errors="coerce")
    dev = dev[dev["layer_index"].notna()]
    return (dev.groupby(["corpus", "model", "probe", "protocol", "fold", "layer"], sort=True)
            .agg(dev_accuracy=("value", "mean"), layer_index=("layer_index", "first")).reset_index())


def nested_best_layer(results: pd.DataFrame, predictions: pd.DataFrame, probes: Sequence[str],
                      label: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The best single layer chosen on dev inside every fold, among the layers of ``probes``.

    Per corpus x model x protocol x fold, the (probe, layer) with the highest mean dev accuracy
    over the seeds all ``probes`` share (ties: the lower layer, then the earlier probe) is
    chosen, and its dev and test predictions for that fold become the system's. Returns the
    system's predictions (probe renamed ``label``, default ``best-layer(<probes>)``, ``layer``
    the chosen one) and the choices (one row per fold)."""
    label = label or f"best-layer({'|'.join(probes)})"
    results = results[results["probe"].isin(probes)]
    predictions = predictions[predictions["probe"].isin(probes)]
    seed_sets = [set(predictions.loc[predictions["probe"] == probe, "seed"]) for probe in probes
                 if (predictions["probe"] == probe).any()]
    seeds = sorted(set.intersection(*seed_sets)) if seed_sets else []
    results, predictions = results[results["seed"].isin(seeds)], predictions[predictions["seed"].isin(seeds)]
    dev = dev_accuracy_by_fold(results)
    dev["probe_order"] = dev["probe"].map({probe: order for order, probe in enumerate(probes)})
    dev = dev.sort_values(["dev_accuracy", "layer_index", "probe_order"], ascending=[False, True, True])
    choices = dev.groupby(["corpus", "model", "protocol", "fold"], sort=True).head(1)
    choices = choices.sort_values(["corpus", "model", "protocol", "fold"]).reset_index(drop=True)
    chosen = predictions.merge(choices[["corpus", "model", "protocol", "fold", "probe", "layer"]],
                               on=["corpus", "model", "protocol", "fold", "probe", "layer"])
    chosen = chosen.assign(chosen_probe=chosen["probe"], probe=label)
    return chosen, choices.drop(columns=["probe_order"]).assign(system=label)


def paper_best_layer(results: pd.DataFrame, probe: str) -> pd.DataFrame:
    """The paper's own choice: per corpus x model, the layer with the highest mean TEST accuracy
    over seeds (and folds). Optimistic by construction; labelled as such wherever it is shown."""
    test = results[(results["split"] == "test") & (results["metric"] == "accuracy")
                   & (results["probe"] == probe)].copy()
    test["layer_index"] = pd.to_numeric(test["layer"], errors="coerce")
    test = test[test["layer_index"].notna()]
    means = test.groupby(["corpus", "model", "protocol", "layer"]).agg(
        test_accuracy=("value", "mean"), layer_index=("layer_index", "first")).reset_index()
    means = means.sort_values(["test_accuracy", "layer_index"], ascending=[False, True])
    return means.groupby(["corpus", "model", "protocol"]).head(1).reset_index(drop=True)
