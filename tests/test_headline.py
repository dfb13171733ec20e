"""The headline with intervals: nested layer choice, paired bootstrap, Holm; the paper's own definition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from serlib.report import analysis, paper_reference, uncertainty


def results_rows(probe, layer, dev, test, fold=0, corpus="c", model="m", seeds=(0, 1)):
    return [{"corpus": corpus, "language": "de", "model": model, "probe": probe, "protocol": "p",
             "fold": fold, "layer": str(layer), "seed": seed, "split": split, "metric": "accuracy",
             "value": value} for seed in seeds for split, value in (("dev", dev), ("test", test))]


def prediction_rows(probe, layer, correct, fold=0, model="m", speakers=10, seeds=(0, 1), split="test"):
    """One prediction per utterance: ``correct[i]`` says whether utterance i is predicted right."""
    return [{"corpus": "c", "model": model, "probe": probe, "protocol": "p", "fold": fold, "seed": seed,
             "layer": str(layer), "split": split, "utterance_id": f"f{fold}u{index}",
             "speaker": f"s{index % speakers}", "label": "anger", "predicted": "anger" if right else "sadness"}
            for seed in seeds for index, right in enumerate(correct)]


def test_bootstrap_interval_covers_the_accuracy_and_narrows_with_more_speakers():
    generator = np.random.default_rng(0)
    narrow = pd.DataFrame(prediction_rows("linear", 1, generator.random(2000) < 0.7, speakers=200))
    wide = pd.DataFrame(prediction_rows("linear", 1, generator.random(100) < 0.7, speakers=5))
    narrow_interval, wide_interval = (uncertainty.accuracy_interval(table) for table in (narrow, wide))
    for summary in (narrow_interval, wide_interval):
        assert summary["ci_low"] <= summary["accuracy"] <= summary["ci_high"]
    assert 0.65 < narrow_interval["accuracy"] < 0.75
    assert narrow_interval["ci_high"] - narrow_interval["ci_low"] < 0.06
    assert wide_interval["ci_high"] - wide_interval["ci_low"] > 2 * (narrow_interval["ci_high"] - narrow_interval["ci_low"])
    assert narrow_interval["n_utterances"] == 2000 and narrow_interval["n_seeds"] == 2


def test_paired_comparison_tells_a_real_difference_from_noise():
    generator = np.random.default_rng(1)
    base = generator.random(400) < 0.6
    better = base | (generator.random(400) < 0.5)  # fixes about half of base's errors
    same = pd.DataFrame(prediction_rows("a", 1, base))
    improved = pd.DataFrame(prediction_rows("b", "all", better))
    real = uncertainty.paired_comparison(improved, same)
    assert real["difference"] == pytest.approx(better.mean() - base.mean())
    assert real["difference_ci_low"] > 0 and real["p_value"] < 0.01
    assert real["relative_error_reduction"] == pytest.approx(((1 - base.mean()) - (1 - better.mean())) / (1 - base.mean()))
    assert real["reduction_ci_low"] < real["relative_error_reduction"] < real["reduction_ci_high"]
    shuffled = base.copy()
    generator.shuffle(shuffled)  # same accuracy, unrelated errors: no difference to find
    null = uncertainty.paired_comparison(pd.DataFrame(prediction_rows("b", 1, shuffled)), same)
    assert null["difference"] == pytest.approx(0.0) and null["p_value"] > 0.5


def test_perfect_systems_give_an_undefined_reduction_interval_without_a_warning(recwarn):
    """Tiny test sets (the rehearsal's 5 utterances): no errors leaves the reduction undefined."""
    from serlib.report.findings import interval

    perfect = pd.DataFrame(prediction_rows("a", 1, np.ones(5, bool), speakers=4, seeds=(0,)))
    also_perfect = pd.DataFrame(prediction_rows("b", 1, np.ones(5, bool), speakers=4, seeds=(0,)))
    both = uncertainty.paired_comparison(perfect, also_perfect)
    assert np.isnan(both["reduction_ci_low"]) and np.isnan(both["reduction_ci_high"])
    assert both["difference_ci_low"] == both["difference_ci_high"] == 0.0
    assert interval(both["reduction_ci_low"], both["reduction_ci_high"]).startswith("[undefined")
    one_error = pd.DataFrame(prediction_rows("c", 1, np.arange(5) > 0, speakers=4, seeds=(0,)))
    worse = uncertainty.paired_comparison(one_error, perfect)  # A errs where B never does
    assert worse["reduction_ci_low"] == -np.inf and np.isnan(worse["relative_error_reduction"])
    assert not [warning for warning in recwarn if issubclass(warning.category, RuntimeWarning)]


def test_holm_adjustment():
    np.testing.assert_allclose(uncertainty.holm([0.01, 0.04, 0.03, 0.5]), [0.04, 0.09, 0.09, 0.5])


def test_best_layer_is_chosen_on_dev_inside_every_fold_never_on_test():
    results = pd.DataFrame(
        # fold 0: dev prefers layer 1 although layer 2 is better on test; fold 1: dev prefers layer 2
        results_rows("linear", 1, 0.9, 0.6, fold=0) + results_rows("linear", 2, 0.5, 0.95, fold=0)
        + results_rows("linear", 1, 0.4, 0.9, fold=1) + results_rows("linear", 2, 0.8, 0.5, fold=1)
        + results_rows("dense", 1, 0.95, 0.1, fold=1))  # dense wins fold 1 on dev when allowed
    predictions = pd.DataFrame(
        prediction_rows("linear", 1, [True] * 6 + [False] * 4, fold=0)
        + prediction_rows("linear", 2, [True] * 9 + [False], fold=0)
        + prediction_rows("linear", 1, [True] * 9 + [False], fold=1)
        + prediction_rows("linear", 2, [True] * 5 + [False] * 5, fold=1)
        + prediction_rows("dense", 1, [True] + [False] * 9, fold=1))
    chosen, choices = uncertainty.nested_best_layer(results, predictions, ["linear"])
    assert choices.set_index("fold")["layer"].to_dict() == {0: "1", 1: "2"}
    assert uncertainty.outcomes(chosen).accuracy == pytest.approx((6 + 5) / 20)  # not the test-best 0.95/0.9
    _, both = uncertainty.nested_best_layer(results, predictions, ["linear", "dense"])
    assert both.set_index("fold")["probe"].to_dict() == {0: "linear", 1: "dense"}


def test_aggregation_comparison_pairs_the_nested_choice_with_each_aggregation():
    results = pd.DataFrame(results_rows("linear", 0, 0.5, 0.5) + results_rows("linear", 1, 0.8, 0.8))
    predictions = pd.DataFrame(
        prediction_rows("linear", 0, [True] * 50 + [False] * 50) + prediction_rows("linear", 1, [True] * 80 + [False] * 20)
        + prediction_rows("aggregate-softmax", "all", [True] * 70 + [False] * 30))
    table, choices = analysis.aggregation_comparisons(results, predictions, ["linear"], ["aggregate-softmax"])
    row = table.iloc[0]
    assert row["single"] == "best-layer(linear)" and row["layers_chosen"] == "linear 1 (1/1)"
    assert row["accuracy_a"] == pytest.approx(0.8) and row["accuracy_b"] == pytest.approx(0.7)
    assert row["relative_error_reduction"] == pytest.approx((0.3 - 0.2) / 0.3)
    assert row["family"] == 1 and row["p_holm"] == row["p_value"]


def test_paper_definition_chooses_on_test_as_the_paper_does():
    results = pd.DataFrame(
        results_rows("linear", 0, 0.50, 0.50) + results_rows("linear", 1, 0.70, 0.80)
        + results_rows("dense", 0, 0.75, 0.60) + results_rows("dense", 1, 0.60, 0.95)
        + results_rows("aggregate", "all", 0.70, 0.75))
    row = analysis.paper_definition_comparison(results, ["linear", "dense"], "aggregate").iloc[0]
    assert row["single_probe"] == "dense" and row["best_layer"] == "1"  # the test-best, 0.95
    assert row["relative_error_reduction"] == pytest.approx((0.25 - 0.05) / 0.25)


def test_paper_headline_from_its_own_table():
    headline = analysis.headline(analysis.paper_comparison(paper_reference.load_paper_results()))
    by_model = headline.set_index("model")["mean_relative_error_reduction"]
    # REFERENCE.md: about 23% over corpus x model pairs, about 30% taking the best model per corpus
    assert by_model["all models"] == pytest.approx(0.232, abs=0.001)
    assert by_model["best model per corpus"] == pytest.approx(0.303, abs=0.001)
