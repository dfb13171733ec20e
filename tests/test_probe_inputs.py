"""What the probes are fed: standardised inputs, and which stores a probe applies to."""

from __future__ import annotations

import numpy as np

from planted_features import write_planted_store
from serlib.probing.kinds import get_probe_kind
from serlib.probing.histories import feature_statistics, streaming_statistics
from serlib.probing.train import ProbeInputs, join_split, load_feature_folder, run_probe


def test_statistics_of_chunks_equal_those_of_the_whole():
    rng = np.random.default_rng(0)
    chunks = [rng.normal(3.0, 2.0, size=(length, 2, 5)) for length in (4, 9, 1)]
    whole_mean, whole_scale = feature_statistics(np.concatenate(chunks))
    mean, scale = streaming_statistics(chunks)
    np.testing.assert_allclose(mean, whole_mean, rtol=1e-5)
    np.testing.assert_allclose(scale, whole_scale, rtol=1e-5)
    constant_mean, constant_scale = feature_statistics(np.ones((3, 1, 2)))
    assert constant_scale.tolist() == [[1.0, 1.0]] and constant_mean.tolist() == [[1.0, 1.0]]


def test_only_training_rows_set_the_statistics(tmp_path):
    folder_path, split_csv = write_planted_store(tmp_path / "corpus")
    folder = load_feature_folder(folder_path)
    split = join_split(folder, split_csv)
    kind = get_probe_kind("linear")
    inputs = ProbeInputs(folder, kind, torch_device(), split.rows["train"])
    train = inputs.pooled[split.rows["train"]].numpy()
    np.testing.assert_allclose(train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(train.std(axis=0), 1.0, atol=1e-4)
    # changing test features changes nothing the training rows see
    folder.pooled[split.rows["test"]] += 1000.0
    moved = ProbeInputs(folder, kind, torch_device(), split.rows["train"])
    np.testing.assert_array_equal(moved.pooled[split.rows["train"]].numpy(), train)


def test_standardising_rescues_a_probe_on_badly_scaled_features(tmp_path):
    folder_path, split_csv = write_planted_store(tmp_path / "corpus", per_class=30, strength=1.5)
    pooled = np.load(folder_path / "pooled.npy")
    np.save(folder_path / "pooled.npy", (pooled * 1e-3 + 50.0).astype(np.float32))  # tiny spread, big offset
    scores = {}
    for standardize in (False, True):
        results, _ = run_probe(folder_path, split_csv, probe="linear", seeds=2, epochs=30,
                               standardize=standardize)
        test = results[(results["split"] == "test") & (results["metric"] == "accuracy")]
        scores[standardize] = test[test["layer"] == 2]["value"].mean()
    assert scores[True] >= 0.8 > 0.5 > scores[False]


def torch_device():
    import torch

    return torch.device("cpu")


def test_probes_that_combine_layers_refuse_a_single_hidden_state(tmp_path):
    import pytest

    from serlib.common.errors import SerlibError

    folder_path, split_csv = write_planted_store(tmp_path / "acoustic", hidden_states=1,
                                                 informative_layer=0)
    for probe in ("cumulative", "aggregate-softmax"):
        with pytest.raises(SerlibError, match="has 1; use a per-layer probe"):
            run_probe(folder_path, split_csv, probe=probe, seeds=1, epochs=1)
