"""The chance level beside each attribute's layer curve (serlib.study.attributes)."""

import pandas as pd
import pytest

from serlib.study.attributes import chance_levels


def speaker_cv_predictions(labels_by_speaker: dict[str, list[str]], layers=(0, 1), seeds=(0, 1)) -> pd.DataFrame:
    """Test rows of a speaker-grouped cross-validation: one fold per speaker, every utterance
    tested once per seed and hidden state; dev rows too, which chance must ignore."""
    rows = []
    for fold, (speaker, labels) in enumerate(labels_by_speaker.items()):
        for seed in seeds:
            for layer in layers:
                for index, label in enumerate(labels):
                    for split in ("test", "dev"):
                        rows.append({"corpus": "c", "model": "m", "protocol": "speaker-cv", "fold": fold,
                                     "seed": seed, "layer": layer, "split": split, "speaker": speaker,
                                     "utterance_id": f"{speaker}-{index}", "label": label,
                                     "prediction": label})
    return pd.DataFrame(rows)


def test_sex_under_speaker_cv_has_the_corpus_majority_share_as_chance_not_one():
    # each fold tests a single speaker, so each fold's test part has a single sex; 3 female
    # speakers of 10 utterances and 2 male speakers of 10: the most frequent sex is 30 of 50
    labels = {f"f{i}": ["female"] * 10 for i in range(3)} | {f"m{i}": ["male"] * 10 for i in range(2)}
    chance = chance_levels(speaker_cv_predictions(labels))
    assert chance.loc[("c", "m")] == pytest.approx(0.6)


def test_chance_of_an_unbalanced_label_pools_the_folds():
    labels = {"a": ["angry"] * 6 + ["sad"] * 2, "b": ["sad"] * 5 + ["angry"] * 3}
    # pooled: angry 9, sad 7 of 16; per fold the majority shares would be 6/8 and 5/8
    assert chance_levels(speaker_cv_predictions(labels)).loc[("c", "m")] == pytest.approx(9 / 16)
