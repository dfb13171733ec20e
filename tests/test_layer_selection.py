"""Layer selection: criteria find the planted layer, dev-probe agrees with best_layer_by_dev,
evaluation against the test oracle, and the best-layer command."""

import numpy as np
import pandas as pd
import pytest

from planted_features import write_planted_store
from serlib import cli
from serlib.probing.summary import best_layer_by_dev
from serlib.common.errors import SerlibError
from serlib.probing.layer_selection import (CHEAP_CRITERIA, cheap_criterion_scores, chosen_layers,
                                    dev_probe_scores, evaluate_selection, fisher_ratio,
                                    selection_summary)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return write_planted_store(tmp_path_factory.mktemp("features") / "fakemodel" / "planted",
                               informative_layer=2)


def results_table(dev_by_layer, test_by_layer, corpus="c", model="m", probe="linear"):
    """A results table of one run with one value per seed per layer and split."""
    rows = []
    for split, by_layer in (("dev", dev_by_layer), ("test", test_by_layer)):
        for layer, values in by_layer.items():
            rows += [[corpus, "de", model, probe, str(layer), seed, split, "accuracy", value, 1]
                     for seed, value in enumerate(values)]
    return pd.DataFrame(rows, columns=["corpus", "language", "model", "probe", "layer", "seed",
                                       "split", "metric", "value", "best_epoch"])


def test_every_cheap_criterion_picks_the_planted_layer(planted):
    scores = cheap_criterion_scores(*planted)
    assert set(scores["criterion"]) == set(CHEAP_CRITERIA)
    assert len(scores) == 4 * len(CHEAP_CRITERIA)
    choice = chosen_layers(scores)
    assert choice["chosen_layer"].tolist() == [2, 2, 2]
    assert set(choice["model"]) == {"fake/model"} and set(choice["corpus"]) == {"planted"}
    separability = scores[scores["criterion"] == "separability"].set_index("layer")["score"]
    assert separability[2] == 1.0 and separability.drop(2).max() < 0.7


def test_fisher_ratio_of_a_hand_computed_example():
    # standardised x = [-3, -1, 1, 3] / sqrt(5): within variance 1/5, between variance 4/5
    assert fisher_ratio(np.array([[0.0], [2.0], [4.0], [6.0]]), np.array([0, 0, 1, 1])) == pytest.approx(4.0)


def test_dev_probe_choice_is_the_best_layer_by_dev_lowest_on_ties():
    results = results_table({0: [0.5, 0.5], 1: [0.7, 0.9], 2: [0.9, 0.7]},
                            {0: [0.4, 0.4], 1: [0.6, 0.6], 2: [0.8, 0.8]})
    scores = dev_probe_scores(results, seconds=12.0)
    assert scores.set_index("layer")["score"].tolist() == pytest.approx([0.5, 0.8, 0.8])
    choice = chosen_layers(scores).iloc[0]
    assert choice["chosen_layer"] == 1 == best_layer_by_dev(results)["best_layer"].iloc[0]
    assert choice["seconds"] == 12.0


def test_evaluation_against_the_test_oracle():
    results = results_table({0: [0.5, 0.5], 1: [0.7, 0.9], 2: [0.9, 0.7]},
                            {0: [0.4, 0.5], 1: [0.6, 0.6], 2: [0.8, 0.7]})
    cheap = pd.DataFrame({"corpus": "c", "model": "m", "criterion": "separability",
                          "layer": [0, 1, 2], "score": [0.9, 0.1, 0.2], "seconds": 0.5})
    evaluation = evaluate_selection(results, pd.concat([cheap, dev_probe_scores(results)]))
    rows = evaluation.set_index("criterion")
    assert rows.loc["dev-probe", "chosen_layer"] == 1 and rows.loc["separability", "chosen_layer"] == 0
    assert (rows["oracle_layer"] == 2).all() and not rows["hit"].any()
    assert rows.loc["dev-probe", "accuracy_lost"] == pytest.approx(0.75 - 0.6)
    assert rows.loc["separability", "accuracy_lost"] == pytest.approx(0.75 - 0.45)
    summary = selection_summary(evaluation).set_index("criterion")
    assert summary.loc["separability", "hit_rate"] == 0.0 and summary.loc["dev-probe", "runs"] == 1


def test_unknown_criterion_and_missing_probe_rows_are_explained(planted):
    with pytest.raises(SerlibError, match="unknown layer-selection criteria"):
        cheap_criterion_scores(*planted, criteria=["entropy"])
    with pytest.raises(SerlibError, match="no dev accuracy rows of probe 'linear'"):
        dev_probe_scores(results_table({0: [0.5]}, {0: [0.5]}, probe="softmax"))


def test_cli_prints_the_chosen_layer_last(planted, capsys):
    folder, split_csv = planted
    assert cli.main(["best-layer", "--features", str(folder), "--split", str(split_csv)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "2" and "separability" in lines[0]


def test_cli_dev_probe_from_a_results_file_and_trained_here(planted, tmp_path, capsys):
    folder, split_csv = planted
    results_csv = tmp_path / "results.csv"
    results_table({0: [0.5], 1: [0.6], 2: [0.55], 3: [0.9]}, {0: [0.5], 1: [0.5], 2: [0.5], 3: [0.5]}
                  ).to_csv(results_csv, index=False)
    assert cli.main(["best-layer", "--features", str(folder), "--split", str(split_csv),
                     "--criterion", "dev-probe", "--results", str(results_csv)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "3"
    assert cli.main(["best-layer", "--features", str(folder), "--split", str(split_csv),
                     "--criterion", "dev-probe", "--seeds", "1", "--epochs", "20", "--device", "cpu"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "2"


def test_cli_rejects_results_for_a_cheap_criterion(planted, tmp_path, capsys):
    folder, split_csv = planted
    assert cli.main(["best-layer", "--features", str(folder), "--split", str(split_csv),
                     "--results", str(tmp_path / "r.csv")]) == 2
    assert "--results is only read by --criterion dev-probe" in capsys.readouterr().err
