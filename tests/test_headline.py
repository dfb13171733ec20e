"""The paper's headline: best single layer (chosen on dev) against all-layer aggregation."""

from __future__ import annotations

import pandas as pd
import pytest

from serlib.report import analysis
from serlib.report import paper_reference


def rows(probe, layer, dev, test, corpus="c", model="m"):
    return [{"corpus": corpus, "language": "de", "model": model, "probe": probe, "layer": str(layer),
             "seed": seed, "split": split, "metric": "accuracy", "value": value}
            for seed in (0, 1) for split, value in (("dev", dev), ("test", test))]


def test_single_probe_is_chosen_on_dev_and_error_reduction_is_exact():
    results = pd.DataFrame(
        rows("linear", 0, 0.50, 0.50) + rows("linear", 1, 0.70, 0.80)      # linear: dev picks layer 1
        + rows("dense", 0, 0.75, 0.60) + rows("dense", 1, 0.60, 0.95)      # dense: dev picks layer 0
        + rows("aggregate", "all", 0.70, 0.75))
    table = analysis.best_single_layer_comparison(results)
    assert len(table) == 1
    chosen = table.iloc[0]
    # dense's dev 0.75 beats linear's 0.70, although linear's test (0.80) beats dense layer 0's (0.60)
    assert chosen["single_probe"] == "dense" and chosen["best_layer"] == 0
    assert chosen["relative_error_reduction"] == pytest.approx((0.25 - 0.40) / 0.25)


def test_paper_headline_from_its_own_table():
    headline = analysis.headline(analysis.paper_comparison(paper_reference.load_paper_results()))
    by_model = headline.set_index("model")["mean_relative_error_reduction"]
    # REFERENCE.md: about 23% over corpus x model pairs, about 30% taking the best model per corpus
    assert by_model["all models"] == pytest.approx(0.232, abs=0.001)
    assert by_model["best model per corpus"] == pytest.approx(0.303, abs=0.001)
