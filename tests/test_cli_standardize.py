"""`serlib probe` and `serlib best-layer` standardise features by default, as the profiles do."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from planted_features import write_planted_store
from serlib import cli
from serlib.probing import train


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    folder, split_csv = write_planted_store(
        tmp_path_factory.mktemp("features") / "fakemodel" / "planted", informative_layer=2)
    # one feature dimension on a huge scale: raw training is dominated by it
    pooled = np.load(folder / "pooled.npy")
    pooled[..., 0] = pooled[..., 0] * 1000.0 + 5000.0
    np.save(folder / "pooled.npy", pooled)
    return folder, split_csv


@pytest.mark.parametrize("flags, expected", [([], True), (["--standardize"], True),
                                             (["--no-standardize"], False)])
def test_probe_and_best_layer_pass_the_standardize_choice(planted, tmp_path, monkeypatch, flags,
                                                          expected):
    folder, split_csv = planted
    seen = []
    real_train_probe = train.train_probe

    def spy(*args, **kwargs):
        seen.append(kwargs["standardize"])
        return real_train_probe(*args, **kwargs)

    monkeypatch.setattr(train, "train_probe", spy)  # run_probe trains through it too
    common = ["--features", str(folder), "--split", str(split_csv), "--device", "cpu"]
    assert cli.main(["probe", *common, "--seeds", "1", "--epochs", "2",
                     "--out", str(tmp_path / "r.csv"), *flags]) == 0
    assert cli.main(["best-layer", *common, "--criterion", "dev-probe", "--seeds", "1",
                     "--epochs", "2", *flags]) == 0
    assert seen == [expected, expected]


def test_standardised_and_raw_training_give_different_numbers(planted, tmp_path):
    folder, split_csv = planted
    tables = {}
    for flag in ("--standardize", "--no-standardize"):
        out = tmp_path / f"{flag}.csv"
        assert cli.main(["probe", "--features", str(folder), "--split", str(split_csv),
                         "--device", "cpu", "--seeds", "1", "--epochs", "10", "--out", str(out),
                         flag]) == 0
        tables[flag] = pd.read_csv(out, dtype={"layer": str})
    dev = {flag: table.query("split == 'dev' and metric == 'accuracy' and layer == '2'")["value"]
           .iloc[0] for flag, table in tables.items()}
    assert dev["--standardize"] > dev["--no-standardize"]
