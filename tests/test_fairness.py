"""Accuracy per group, the sex gap and the worst speaker, from hand-made predictions."""

from __future__ import annotations

import pandas as pd
import pytest

from serlib.common.errors import SerlibError
from serlib.report.fairness import fairness_summary, genders_of_speakers, group_accuracy_table

# speaker -> (gender, anger errors out of 6, sadness errors out of 4)
SPEAKERS = {
    "f1": ("female", 1, 0),  # 9/10
    "f2": ("female", 0, 3),  # 7/10
    "m1": ("male", 3, 2),    # 5/10
    "m2": ("male", 2, 2),    # 6/10
}


def make_predictions(speakers=SPEAKERS, seeds=(0, 1), layer=3, probe="linear"):
    """10 test utterances per speaker (6 anger, 4 sadness) with the given errors, the same for
    every seed, and a dev copy that is all wrong (it must be ignored)."""
    rows = []
    for split in ("test", "dev"):
        for seed in seeds:
            for speaker, (_, anger_errors, sadness_errors) in speakers.items():
                for number in range(10):
                    label = "anger" if number < 6 else "sadness"
                    wrong = number < anger_errors if label == "anger" else number - 6 < sadness_errors
                    if split == "dev":
                        wrong = True
                    other = "sadness" if label == "anger" else "anger"
                    rows.append({"corpus": "toy", "model": "m", "probe": probe,
                                 "protocol": "speaker-cv", "fold": 0, "seed": seed, "layer": layer,
                                 "split": split, "utterance_id": f"{speaker}/u{number}",
                                 "speaker": speaker, "label": label,
                                 "predicted": other if wrong else label})
    return pd.DataFrame(rows)


def make_manifest(speakers=SPEAKERS):
    return pd.DataFrame([{"utterance_id": f"{speaker}/u{number}", "speaker": speaker,
                          "gender": gender}
                         for speaker, (gender, _, _) in speakers.items() for number in range(10)])


def test_group_accuracy_by_sex():
    manifest = make_manifest()
    table = group_accuracy_table(make_predictions(), manifest.set_index("utterance_id")["gender"],
                                 "sex")
    assert table["sex"].tolist() == ["female", "male"]
    female, male = table.iloc[0], table.iloc[1]
    assert female["accuracy"] == pytest.approx(0.8)
    assert male["accuracy"] == pytest.approx(0.55)
    # female: anger recall 11/12, sadness recall 5/8; male: anger 7/12, sadness 4/8
    assert female["uar"] == pytest.approx((11 / 12 + 5 / 8) / 2)
    assert male["uar"] == pytest.approx((7 / 12 + 4 / 8) / 2)
    assert set(table["interval_over"]) == {"speakers"}
    # two speakers per sex, both seeds alike: every draw lies between the two speakers' accuracies
    assert 0.7 - 1e-12 <= female["ci_low"] < 0.8 < female["ci_high"] <= 0.9 + 1e-12
    assert 0.5 - 1e-12 <= male["ci_low"] < 0.55 < male["ci_high"] <= 0.6 + 1e-12
    assert (female["n_utterances"], female["n_speakers"], female["n_seeds"]) == (20, 2, 2)
    assert table.attrs["ungrouped_utterances"] == 0


def test_group_accuracy_by_speaker_resamples_utterances():
    manifest = make_manifest()
    table = group_accuracy_table(make_predictions(), dict(zip(manifest["utterance_id"],
                                                              manifest["speaker"])), "speaker")
    assert table["speaker"].tolist() == ["f1", "f2", "m1", "m2"]
    assert table["accuracy"].tolist() == pytest.approx([0.9, 0.7, 0.5, 0.6])
    assert set(table["interval_over"]) == {"utterances"}
    m1 = table.iloc[2]
    assert 0.1 < m1["ci_low"] < 0.5 < m1["ci_high"] < 0.9  # 10 utterances: a wide interval


def test_empty_groups_are_left_out_and_unknown_utterances_stop():
    manifest = make_manifest()
    genders = manifest.set_index("utterance_id")["gender"].copy()
    genders[genders.index.str.startswith("m2/")] = ""
    table = group_accuracy_table(make_predictions(), genders, "sex")
    assert table.loc[table["sex"] == "male", "accuracy"].item() == pytest.approx(0.5)
    assert table.attrs["ungrouped_utterances"] == 10
    with pytest.raises(SerlibError, match=r"10 utterance\(s\) .* no entry .*'m2/u0'"):
        group_accuracy_table(make_predictions(), genders[~genders.index.str.startswith("m2/")],
                             "sex")


def test_fairness_summary_gap_and_worst_speaker():
    genders = genders_of_speakers(make_manifest())
    row = fairness_summary(make_predictions(), genders).iloc[0]
    assert (row["accuracy_female"], row["accuracy_male"]) == pytest.approx((0.8, 0.55))
    assert row["gap_female_minus_male"] == pytest.approx(0.25)
    # within-sex resampling of two speakers each: female 0.7..0.9, male 0.5..0.6
    assert 0.1 - 1e-12 <= row["gap_ci_low"] < 0.25 < row["gap_ci_high"] <= 0.4 + 1e-12
    assert row["gap_p_value"] < 0.01  # every draw has a positive gap
    assert (row["worst_speaker"], row["worst_speaker_accuracy"]) == ("m1", pytest.approx(0.5))
    assert row["worst_ci_low"] < 0.5 < row["worst_ci_high"]
    assert (row["best_speaker"], row["best_speaker_accuracy"]) == ("f1", pytest.approx(0.9))
    assert (row["n_speakers"], row["n_female_speakers"], row["n_male_speakers"],
            row["n_utterances"], row["n_seeds"]) == (4, 2, 2, 40, 2)


def test_no_gap_when_sexes_match():
    speakers = {"f1": ("female", 1, 1), "f2": ("female", 2, 1),
                "m1": ("male", 2, 1), "m2": ("male", 1, 1)}
    genders = genders_of_speakers(make_manifest(speakers))
    row = fairness_summary(make_predictions(speakers), genders).iloc[0]
    assert row["gap_female_minus_male"] == pytest.approx(0.0)
    assert row["gap_ci_low"] < 0 < row["gap_ci_high"]
    assert row["gap_p_value"] > 0.5
    assert row["worst_speaker"] == "f2"  # 7/10, against 8/10 for the others


def test_per_system_rows_and_one_sex_only():
    speakers = {name: spec for name, spec in SPEAKERS.items() if spec[0] == "female"}
    predictions = pd.concat([make_predictions(speakers, layer=12),
                             make_predictions(speakers, layer=4)], ignore_index=True)
    table = fairness_summary(predictions, {"f1": "female", "f2": "female"})
    assert table["layer"].tolist() == [4, 12]
    assert table["gap_female_minus_male"].isna().all() and table["gap_ci_low"].isna().all()
    assert table["worst_speaker"].tolist() == ["f2", "f2"]


def test_speaker_without_gender_entry_stops_and_two_genders_stop():
    with pytest.raises(SerlibError, match=r"1 speaker\(s\) .*'m2'"):
        fairness_summary(make_predictions(), {"f1": "female", "f2": "female", "m1": "male"})
    manifest = make_manifest()
    manifest.loc[0, "gender"] = "male"
    with pytest.raises(SerlibError, match="speaker 'f1' more than one gender"):
        genders_of_speakers(manifest)


def test_stratified_draws_keep_each_stratum_size():
    from serlib.report.uncertainty import bootstrap_weights, outcomes

    outcome = outcomes(make_predictions())
    strata = outcome.observations["speaker"].str[0].to_numpy()  # f or m
    observation_weights, seed_weights = bootstrap_weights(outcome, draws=200, strata=strata)
    first = outcome.observations.drop_duplicates("speaker")
    counts = pd.DataFrame(observation_weights[first.index].T, columns=first["speaker"].to_list())
    assert ((counts["f1"] + counts["f2"]) == 2).all() and ((counts["m1"] + counts["m2"]) == 2).all()
    assert counts["f1"].nunique() == 3  # 0, 1 or 2 copies: speakers really are resampled
    assert (seed_weights.sum(axis=0) == 2).all()
    with pytest.raises(ValueError, match="more than one stratum"):
        bootstrap_weights(outcome, draws=10, strata=outcome.observations["utterance_id"].str[-1])
