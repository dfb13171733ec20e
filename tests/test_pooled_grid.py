"""The pooled grid: runs (folds x seeds) trained together give what each gives trained alone."""

import numpy as np
import pytest
import torch

from test_train import write_feature_folder

from serlib.common.errors import SerlibError
from serlib.probing import sizes
from serlib.probing.histories import best_dev_epochs, feature_statistics
from serlib.probing.inputs import LabelledSplit, load_feature_folder
from serlib.probing.kinds import PROBE_KINDS, get_probe_kind, group_ids_for
from serlib.probing.pooled_grid import PooledRun, fit_pooled_grid, pooled_passes
from serlib.probing.train import ProbeInputs, TrainingConfig, _fit_autograd

POOLED_TORCH_KINDS = [name for name, kind in PROBE_KINDS.items() if kind.input == "pooled" and kind.trainer == "torch"]
EPOCHS = 3


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path, _ = write_feature_folder(tmp_path_factory.mktemp("grid") / "fakemodel" / "fakecorpus", seed=4)
    return load_feature_folder(path)


def _split(folder, seed, train):
    """A random split of the folder's rows: ``train`` training rows, 10 dev, 10 test."""
    rows = np.random.default_rng(seed).permutation(len(folder.utterance_ids))
    labels = np.arange(len(folder.utterance_ids)) % 3
    parts = {"train": rows[:train], "dev": rows[train:train + 10], "test": rows[train + 10:train + 20]}
    return LabelledSplit(["a", "b", "c"], parts, {name: labels[part] for name, part in parts.items()})


def _runs(folder):
    """Folds 0 and 1 of 37 training rows (one mini-batch of 32 and one of 5), fold 2 of 30; two seeds each."""
    pooled = np.asarray(folder.pooled, dtype=np.float32)
    runs = []
    for fold, train in [(0, 37), (1, 37), (2, 30)]:
        split = _split(folder, fold, train)
        runs += [PooledRun(fold, seed, split, feature_statistics(pooled[split.rows["train"]])) for seed in (0, 5)]
    return runs


def test_runs_that_step_together_share_a_pass_and_the_rest_train_apart(folder):
    runs = _runs(folder)
    kind = get_probe_kind("dense-pooled")
    features = torch.from_numpy(np.asarray(folder.pooled))
    assert pooled_passes(kind, features, runs, [0, 1, 2, 3], 256) == [[0, 1, 2, 3], [4, 5]]


def test_passes_are_cut_to_the_pass_budget(folder, monkeypatch):
    runs = _runs(folder)
    kind = get_probe_kind("linear")
    features = torch.from_numpy(np.asarray(folder.pooled))
    one_run = sizes.run_bytes(kind, folder.num_hidden_states, folder.dim, 4, 3, 256)
    monkeypatch.setitem(sizes.PASS_BYTES, "cpu", 3 * one_run)
    assert pooled_passes(kind, features, runs, [0, 1, 2, 3], 256) == [[0, 1, 2], [3], [4, 5]]


@pytest.mark.parametrize("probe", POOLED_TORCH_KINDS)
def test_every_fold_and_seed_trained_together_equals_each_trained_alone(folder, probe):
    """Each run of the fused grid against the autograd loop on that run alone, with the run's
    fold's training statistics: the same logits to float rounding, the same best dev epochs and
    predictions, the same layer weights."""
    kind = get_probe_kind(probe)
    group_ids, _ = group_ids_for(kind, folder.num_hidden_states)
    runs = _runs(folder)
    fused = fit_pooled_grid(kind, folder.pooled, runs, group_ids, TrainingConfig(epochs=EPOCHS))
    assert len(fused) == len(runs)
    for run, history in zip(runs, fused):
        inputs = ProbeInputs(folder, kind, torch.device("cpu"), run.split.rows["train"])
        module = kind.build(folder.num_hidden_states, folder.dim, 3, group_ids, run.seed)
        alone = _fit_autograd(module, inputs, run.split, group_ids, run.seed, TrainingConfig(epochs=EPOCHS))
        assert history.dev_logits.shape == (EPOCHS, len(group_ids), 10, 3)
        np.testing.assert_allclose(history.dev_logits, alone.dev_logits, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(history.test_logits, alone.test_logits, rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(history.test_predictions, alone.test_predictions)
        np.testing.assert_array_equal(best_dev_epochs(history.dev_predictions, run.split.labels["dev"]),
                                      best_dev_epochs(alone.dev_predictions, run.split.labels["dev"]))
        assert (history.layer_weights is None) == (alone.layer_weights is None)
        if alone.layer_weights is not None:
            np.testing.assert_allclose(history.layer_weights, alone.layer_weights, rtol=1e-4, atol=1e-6)
    assert not np.allclose(fused[0].test_logits, fused[1].test_logits)  # seeds differ
    assert not np.allclose(fused[0].test_logits, fused[2].test_logits)  # folds differ


@pytest.mark.parametrize("shape", [(7, 512, 7), (13, 768, 4), (25, 1024, 4)])
def test_the_planned_parameters_of_a_group_are_those_of_the_module(shape):
    """serlib plan counts a pass's memory without torch (serlib.probing.sizes): its parameter
    counts must be those of the modules, for every torch kind."""
    states, width, classes = shape
    for kind in PROBE_KINDS.values():
        if kind.trainer != "torch":
            continue
        group = 1 if kind.scope == "cumulative" else 0
        module = kind.build_runs(states, width, classes, [group], [0])
        assert sizes.GROUP_PARAMETERS[kind.module_name](states, width, classes) == sum(
            parameter.numel() for parameter in module.parameters()), kind.name


def test_the_plan_chunks_evaluation_as_training_does():
    from serlib.study.plan_rates import EVAL_BATCH_SIZE

    assert EVAL_BATCH_SIZE == TrainingConfig().eval_batch_size


def test_the_grid_shows_its_steps_passes_and_runs(folder, capsys):
    """Two passes (folds 0-1 of 37 training rows: 2 steps an epoch; fold 2 of 30: 1), 3 epochs."""
    fit_pooled_grid(get_probe_kind("linear"), folder.pooled, _runs(folder), [0, 1, 2, 3], TrainingConfig(epochs=EPOCHS),
                    progress=True)
    bar = capsys.readouterr().err
    assert "linear x 4 probes x 6 runs" in bar and "9/9" in bar and "pass 2/2 (2 runs)" in bar


def test_the_grid_refuses_frame_level_and_scikit_learn_probes(folder):
    runs = _runs(folder)
    for probe in ("dense", "aggregate-concat"):
        with pytest.raises(SerlibError, match="pooled grid trains torch probes"):
            fit_pooled_grid(get_probe_kind(probe), folder.pooled, runs, [0], TrainingConfig(epochs=1))
