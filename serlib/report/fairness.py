"""Fairness of the probes: accuracy per group of speakers (sex, speaker), the gap between the
sexes and the worst-served speaker, each with its 95% interval.

Everything is computed on the test rows of the prediction tables, with the bootstrap of
:mod:`serlib.report.uncertainty` (observations = fold x utterance, seeds resampled on their own):

- :func:`group_accuracy_table`: per system and group, the accuracy with an interval that
  resamples the group's speakers and the seeds, or, for a group of one speaker, its utterances
  and the seeds (column ``interval_over`` says which); UAR and macro-F1 (means over seeds); n.
- :func:`fairness_summary`: per system, female and male accuracy and the gap female - male with
  an interval that resamples speakers within each sex (each draw keeps the number of female and
  of male speakers) and the seeds once for both, so the gap keeps the seed pairing; a two-sided
  bootstrap p-value of "no gap"; the worst and the best speaker with their accuracies and
  intervals over their utterances and the seeds. The worst speaker is picked on the same
  predictions its accuracy is read from, so that accuracy is an optimistic (low) estimate of
  the worst case, not a fresh one.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from serlib.common.errors import SerlibError
from serlib.report.uncertainty import (
    BOOTSTRAP_DRAWS,
    BOOTSTRAP_SEED,
    SYSTEM_KEYS,
    Outcomes,
    accuracy_interval,
    bootstrap_interval,
    bootstrap_weights,
    outcomes,
)

SEXES = ("female", "male")
EXAMPLES_SHOWN = 5


def genders_of_speakers(manifest: pd.DataFrame) -> pd.Series:
    """speaker -> gender from a manifest (``gender`` empty where the corpus does not say); a
    speaker listed with two genders is an error."""
    pairs = manifest[["speaker", "gender"]].fillna("").astype(str).drop_duplicates()
    repeated = pairs.loc[pairs["speaker"].duplicated(), "speaker"]
    if not repeated.empty:
        raise SerlibError(f"the manifest gives speaker {repeated.iloc[0]!r} more than one gender; "
                          "fix its gender column")
    return pairs.set_index("speaker")["gender"]


def _as_series(mapping: pd.Series | Mapping, what: str) -> pd.Series:
    series = mapping if isinstance(mapping, pd.Series) else pd.Series(dict(mapping), dtype=object)
    if series.index.has_duplicates:
        raise SerlibError(f"the {what} mapping lists {series.index[series.index.duplicated()][0]!r} "
                          "more than once; give one value per key")
    return series


def _looked_up(keys: pd.Series, mapping: pd.Series, what: str, fix: str) -> pd.Series:
    """``mapping[key]`` for every key (NaN and blank values become ""); unknown keys stop."""
    values = keys.map(mapping)
    unknown = keys[~keys.isin(mapping.index)].drop_duplicates()
    if not unknown.empty:
        shown = ", ".join(repr(key) for key in unknown.head(EXAMPLES_SHOWN))
        more = f" and {len(unknown) - EXAMPLES_SHOWN} more" if len(unknown) > EXAMPLES_SHOWN else ""
        raise SerlibError(f"{len(unknown)} {what}(s) of the predictions have no entry in the "
                          f"mapping: {shown}{more}; {fix}")
    return values.fillna("").astype(str).str.strip()


def group_accuracy_table(predictions: pd.DataFrame, groups: pd.Series | Mapping[str, str],
                         group_name: str, draws: int = BOOTSTRAP_DRAWS,
                         seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """Test accuracy per system and group; ``groups`` maps utterance_id -> group (e.g. the
    manifest's ``gender`` column indexed by ``utterance_id``, or its ``speaker`` column).

    Columns: corpus, model, probe, protocol, layer, ``group_name``, accuracy, ci_low, ci_high,
    interval_over (``speakers`` or, for a one-speaker group, ``utterances``; seeds are always
    resampled too), uar, macro_f1, n_utterances, n_observations, n_speakers, n_folds, n_seeds.
    Utterances whose group is empty (a corpus that does not give it) are left out; their number
    is in ``table.attrs["ungrouped_utterances"]``. An utterance the mapping lacks is an error.
    """
    mapping = _as_series(groups, "group")
    test = predictions[predictions["split"] == "test"]
    labelled = test.assign(_group=_looked_up(
        test["utterance_id"], mapping, "utterance",
        "give a group for every tested utterance (e.g. from the manifest that the predictions "
        "were made on)").to_numpy())
    ungrouped = labelled.loc[labelled["_group"] == "", "utterance_id"].nunique()
    labelled = labelled[labelled["_group"] != ""]
    rows = []
    for key, group in labelled.groupby([*SYSTEM_KEYS, "_group"], sort=True):
        over = "speakers" if group["speaker"].nunique() > 1 else "utterances"
        interval = accuracy_interval(group.drop(columns="_group"),
                                     cluster="speaker" if over == "speakers" else "utterance",
                                     draws=draws, seed=seed)
        rows.append({**dict(zip([*SYSTEM_KEYS, group_name], key)),
                     **{name: interval[name] for name in ("accuracy", "ci_low", "ci_high")},
                     "interval_over": over,
                     **{name: value for name, value in interval.items()
                        if name not in ("accuracy", "ci_low", "ci_high")}})
    columns = [*SYSTEM_KEYS, group_name, "accuracy", "ci_low", "ci_high", "interval_over", "uar",
               "macro_f1", "n_utterances", "n_observations", "n_speakers", "n_folds", "n_seeds"]
    table = _sorted(pd.DataFrame(rows, columns=columns), [group_name])
    table.attrs["ungrouped_utterances"] = int(ungrouped)
    return table


def system_fairness(predictions: pd.DataFrame, gender_of_speaker: pd.Series | Mapping[str, str],
                    draws: int = BOOTSTRAP_DRAWS, seed: int = BOOTSTRAP_SEED) -> dict:
    """:func:`fairness_summary`'s row for ONE system."""
    genders = _as_series(gender_of_speaker, "gender")
    test = predictions[predictions["split"] == "test"]
    outcome = outcomes(test)
    observed = outcome.observations.assign(
        gender=_looked_up(outcome.observations["speaker"], genders, "speaker",
                          "give every tested speaker's gender (empty when unknown), e.g. "
                          "genders_of_speakers(manifest)").to_numpy())
    per_observation = outcome.correct.mean(axis=1)
    row = {**_sex_gap(outcome, observed["gender"].to_numpy(), per_observation, draws, seed),
           **_extreme_speakers(test, observed, per_observation, draws, seed),
           "n_utterances": int(observed["utterance_id"].nunique()),
           "n_observations": len(observed), "n_speakers": int(observed["speaker"].nunique()),
           "n_female_speakers": int(observed.loc[observed["gender"] == "female", "speaker"].nunique()),
           "n_male_speakers": int(observed.loc[observed["gender"] == "male", "speaker"].nunique()),
           "n_folds": int(observed["fold"].nunique()), "n_seeds": len(outcome.seeds)}
    return row


def _sex_gap(outcome: Outcomes, gender: np.ndarray, per_observation: np.ndarray, draws: int,
             seed: int) -> dict:
    """Female and male accuracy, the gap female - male, its interval and p-value."""
    masks = {sex: gender == sex for sex in SEXES}
    accuracy = {sex: float(per_observation[mask].mean()) if mask.any() else float("nan")
                for sex, mask in masks.items()}
    result = {"accuracy_female": accuracy["female"], "accuracy_male": accuracy["male"],
              "gap_female_minus_male": accuracy["female"] - accuracy["male"],
              "gap_ci_low": float("nan"), "gap_ci_high": float("nan"),
              "gap_p_value": float("nan")}
    if not all(mask.any() for mask in masks.values()):
        return result
    known = masks["female"] | masks["male"]
    sub = Outcomes(outcome.observations[known].reset_index(drop=True), outcome.seeds,
                        outcome.correct[known])
    observation_weights, seed_weights = bootstrap_weights(sub, draws, "speaker", seed,
                                                          strata=gender[known])
    per_draw = sub.correct.astype(float) @ seed_weights / seed_weights.sum(axis=0)
    drawn = {}
    for sex in SEXES:
        mask = gender[known] == sex
        weights = observation_weights[mask]
        drawn[sex] = (weights * per_draw[mask]).sum(axis=0) / weights.sum(axis=0)
    gaps = drawn["female"] - drawn["male"]
    low, high = bootstrap_interval(gaps)
    at_or_below = (np.sum(gaps <= 0) + 1) / (draws + 1)
    at_or_above = (np.sum(gaps >= 0) + 1) / (draws + 1)
    return {**result, "gap_ci_low": low, "gap_ci_high": high,
            "gap_p_value": float(min(1.0, 2 * min(at_or_below, at_or_above)))}


def _extreme_speakers(test: pd.DataFrame, observed: pd.DataFrame, per_observation: np.ndarray,
                      draws: int, seed: int) -> dict:
    """The worst and the best speaker (ties: the first speaker id) with intervals over their
    utterances and the seeds."""
    by_speaker = pd.Series(per_observation).groupby(observed["speaker"].to_numpy()).mean()
    by_speaker = by_speaker.sort_index(kind="stable")
    result = {}
    for name, speaker in (("worst", by_speaker.idxmin()), ("best", by_speaker.idxmax())):
        interval = accuracy_interval(test[test["speaker"] == speaker], cluster="utterance",
                                     draws=draws, seed=seed)
        result.update({f"{name}_speaker": speaker, f"{name}_speaker_accuracy": interval["accuracy"],
                       f"{name}_ci_low": interval["ci_low"], f"{name}_ci_high": interval["ci_high"]})
    return result


def fairness_summary(predictions: pd.DataFrame, gender_of_speaker: pd.Series | Mapping[str, str],
                     draws: int = BOOTSTRAP_DRAWS, seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """Per system (test rows): the accuracy gap between the sexes and the worst speaker.

    ``gender_of_speaker`` maps speaker -> ``female``, ``male`` or "" (unknown: such speakers
    count for the worst and best speaker, not for the gap); e.g. :func:`genders_of_speakers`.
    Columns: corpus, model, probe, protocol, layer, accuracy_female, accuracy_male,
    gap_female_minus_male, gap_ci_low, gap_ci_high, gap_p_value (NaN without both sexes),
    worst_speaker, worst_speaker_accuracy, worst_ci_low, worst_ci_high, best_speaker,
    best_speaker_accuracy, best_ci_low, best_ci_high, n_utterances, n_observations,
    n_speakers, n_female_speakers, n_male_speakers, n_folds, n_seeds.
    """
    test = predictions[predictions["split"] == "test"]
    rows = [{**dict(zip(SYSTEM_KEYS, key)), **system_fairness(group, gender_of_speaker, draws, seed)}
            for key, group in test.groupby(SYSTEM_KEYS, sort=True)]
    columns = [*SYSTEM_KEYS, "accuracy_female", "accuracy_male", "gap_female_minus_male",
               "gap_ci_low", "gap_ci_high", "gap_p_value", "worst_speaker",
               "worst_speaker_accuracy", "worst_ci_low", "worst_ci_high", "best_speaker",
               "best_speaker_accuracy", "best_ci_low", "best_ci_high", "n_utterances",
               "n_observations", "n_speakers", "n_female_speakers", "n_male_speakers", "n_folds",
               "n_seeds"]
    return _sorted(pd.DataFrame(rows, columns=columns))


def _sorted(table: pd.DataFrame, extra: list[str] | None = None) -> pd.DataFrame:
    """Rows by system, layers in numeric order (non-numeric layers first, as in
    :func:`serlib.report.uncertainty.layer_intervals`)."""
    numeric = pd.to_numeric(table["layer"], errors="coerce")
    return (table.assign(_order=numeric.fillna(-1))
            .sort_values([*SYSTEM_KEYS[:4], "_order", *(extra or [])], kind="stable")
            .drop(columns="_order").reset_index(drop=True))
