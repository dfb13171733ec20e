"""Cross-corpus transfer: shared labels only, planted shared structure transfers, the drop table,
and clear errors for other models, too few shared labels and frame probes."""

import numpy as np
import pandas as pd
import pytest

from planted_features import write_planted_store
from serlib.common.errors import SerlibError
from serlib.probing.train import LabelledSplit, join_split, load_feature_folder
from serlib.probing.transfer import (TRANSFER_COLUMNS, restrict_to_labels, transfer_drop, transfer_matrix,
                             transfer_pair)


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """Two corpora of one fake model: A has anger/boredom/neutral/sadness, B anger/fear/neutral/sadness."""
    root = tmp_path_factory.mktemp("features") / "fakemodel"
    first = write_planted_store(root / "corpus-a", labels=("anger", "boredom", "neutral", "sadness"), seed=1)
    second = write_planted_store(root / "corpus-b", labels=("anger", "fear", "neutral", "sadness"), seed=2)
    return {"corpus-a": first, "corpus-b": second}


def test_restricting_keeps_only_the_given_labels_and_renumbers_them():
    split = LabelledSplit(["anger", "boredom", "sadness"],
                          {"train": np.array([10, 11, 12, 13]), "dev": np.array([20]), "test": np.array([30, 31])},
                          {"train": np.array([0, 1, 2, 1]), "dev": np.array([1]), "test": np.array([2, 0])})
    restricted = restrict_to_labels(split, ["anger", "sadness"])
    assert restricted.class_names == ["anger", "sadness"]
    assert restricted.rows["train"].tolist() == [10, 12] and restricted.labels["train"].tolist() == [0, 1]
    assert restricted.rows["dev"].tolist() == [] and restricted.labels["test"].tolist() == [1, 0]


def test_matrix_on_shared_labels_transfers_planted_structure(corpora):
    table = transfer_matrix({name: paths[0] for name, paths in corpora.items()},
                            {name: paths[1] for name, paths in corpora.items()},
                            seeds=2, epochs=20, device="cpu")
    assert list(table.columns) == TRANSFER_COLUMNS
    pairs = table.groupby(["train_corpus", "target_corpus"])["n_shared_labels"].first().to_dict()
    assert pairs == {("corpus-a", "corpus-a"): 4, ("corpus-a", "corpus-b"): 3,
                     ("corpus-b", "corpus-a"): 3, ("corpus-b", "corpus-b"): 4}
    # per pair: 2 layer choices x 2 seeds x 4 metrics x (1 test part on the diagonal, else 2)
    assert table.groupby(["train_corpus", "target_corpus"]).size().tolist() == [16, 32, 32, 16]
    best = table[table["layer_choice"] == "best"]
    assert set(best["layer"]) == {2} and set(table[table["layer_choice"] == "last"]["layer"]) == {3}
    cross = best[(best["test_corpus"] != best["train_corpus"]) & (best["metric"] == "accuracy")]
    assert len(cross) == 4 and cross["value"].min() >= 0.75  # chance is 1/3
    drop = transfer_drop(table)
    assert len(drop) == 4 and set(drop["n_shared_labels"]) == {3}


def test_transfer_scores_only_shared_label_utterances_of_the_target(corpora):
    first, second = (load_feature_folder(corpora[name][0]) for name in ("corpus-a", "corpus-b"))
    first_split, second_split = (join_split(folder, corpora[name][1]) for folder, name
                                 in ((first, "corpus-a"), (second, "corpus-b")))
    table = transfer_pair(first, first_split, "corpus-a", second, second_split, "corpus-b",
                          layers=[2], seeds=[0], model="fake")
    assert set(table["layer_choice"]) == {"given"} and set(table["model"]) == {"fake"}
    accuracy = table[(table["metric"] == "accuracy")].set_index("test_corpus")["value"]
    # both test parts hold 4 of each shared label: 12 utterances, so accuracies are k / 12
    assert np.allclose(accuracy * 12, np.round(accuracy * 12))


def test_drop_is_within_minus_cross_per_seed():
    rows = [["m", "linear", "A", "B", test, 2, "best", seed, "accuracy", value, 3]
            for test, seed, value in [("A", 0, 0.9), ("A", 1, 0.8), ("B", 0, 0.5), ("B", 1, 0.6)]]
    drop = transfer_drop(pd.DataFrame(rows, columns=TRANSFER_COLUMNS)).iloc[0]
    assert drop["within"] == pytest.approx(0.85) and drop["cross"] == pytest.approx(0.55)
    assert drop["drop"] == pytest.approx(0.3) and drop["drop_std"] == pytest.approx(np.std([0.4, 0.2], ddof=1))


def test_other_models_and_too_few_shared_labels_are_refused(corpora, tmp_path):
    folder_a, split_a = corpora["corpus-a"]
    wide, wide_split = write_planted_store(tmp_path / "wide", dim=12)
    with pytest.raises(SerlibError, match="same model"):
        transfer_matrix({"a": folder_a, "w": wide}, {"a": split_a, "w": wide_split}, seeds=1, epochs=1)
    other, other_split = write_planted_store(tmp_path / "other", index={"model": "other/model"})
    with pytest.raises(SerlibError, match="different models"):
        transfer_matrix({"a": folder_a, "o": other}, {"a": split_a, "o": other_split}, seeds=1, epochs=1)
    lonely, lonely_split = write_planted_store(tmp_path / "lonely", labels=("anger", "fear", "happiness"))
    with pytest.raises(SerlibError, match="share 1 label\\(s\\) \\(anger\\)"):
        transfer_matrix({"a": folder_a, "l": lonely}, {"a": split_a, "l": lonely_split}, seeds=1, epochs=1)


def test_probes_that_are_not_per_layer_on_pooled_features_are_refused(corpora):
    folder_a, split_a = corpora["corpus-a"]
    with pytest.raises(SerlibError, match="per-layer probes on pooled features"):
        transfer_matrix({"a": folder_a}, {"a": split_a}, probe="aggregate-softmax", seeds=1, epochs=1)
