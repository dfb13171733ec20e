"""The fused frame-level grid equals training one probe at a time, on every fold and seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from serlib.features.frames import FrameBank, FrameCollector, planned_frames
from serlib.probing.frame_grid import FrameFold, UtteranceMoments, _Products, fit_frame_grid
from serlib.probing.kinds import get_probe_kind
from serlib.probing.histories import best_dev_epochs, streaming_statistics
from serlib.probing.train import ProbeInputs, TrainingConfig, _fit_autograd, join_split, load_feature_folder, train_probe

from test_train import CLASSES, HIDDEN_STATES, write_feature_folder

EPOCHS = 4


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The training tests' store (60 utterances of 3..8 frames, 4 hidden states x 16) and a
    split of two folds that train on different utterances."""
    folder, split_csv = write_feature_folder(tmp_path_factory.mktemp("frames") / "fakemodel" / "fakecorpus", seed=4)
    table = pd.read_csv(split_csv)
    other = table.copy()
    other["split"] = np.roll(table["split"].to_numpy(), 2)  # a second fold: other rows train
    folds = pd.concat([table.assign(fold=0), other.assign(fold=1)], ignore_index=True)
    folds_csv = split_csv.parent / "two_folds.csv"
    folds.to_csv(folds_csv, index=False)
    return folder, folds_csv


def _folds(folder, split_csv):
    return [FrameFold(fold, join_split(folder, split_csv, fold)) for fold in (0, 1)]


def _alone(kind_name, folder, split, groups, seed):
    """The one-probe-at-a-time path: autograd on padded frames standardised by ProbeInputs."""
    kind = get_probe_kind(kind_name)
    inputs = ProbeInputs(folder, kind, torch.device("cpu"), split.rows["train"])
    module = kind.build(HIDDEN_STATES, 16, CLASSES, groups, seed)
    return _fit_autograd(module, inputs, split, groups, seed, TrainingConfig(epochs=EPOCHS))


@pytest.mark.parametrize("kind_name, alone_groups", [("dense", [[0], [2], [3]]), ("aggregate", [[0]])])
def test_fused_grid_equals_each_probe_trained_alone(store, kind_name, alone_groups):
    folder = load_feature_folder(store[0])
    folds = _folds(folder, store[1])
    bank = FrameBank.from_store(folder.path)
    grid = fit_frame_grid(get_probe_kind(kind_name), bank, folds, [0, 5], TrainingConfig(epochs=EPOCHS))
    assert sorted(grid) == [(0, 0), (0, 5), (1, 0), (1, 5)]
    for fold in folds:
        for seed in (0, 5):
            fused = grid[(fold.fold, seed)]
            for groups in alone_groups:
                alone = _alone(kind_name, folder, fold.split, groups, seed)
                position = groups[0] if kind_name == "dense" else 0
                # products summed in another order differ by ~1e-7; Adam can turn that into a
                # step of about lr (1e-3) where a gradient is near zero, as in hidden state 0,
                # which carries no class signal here: logits agree to 1e-3, predictions exactly
                np.testing.assert_allclose(fused.dev_logits[:, position], alone.dev_logits[:, 0],
                                           rtol=1e-3, atol=1e-3)
                np.testing.assert_allclose(fused.test_logits[:, position], alone.test_logits[:, 0],
                                           rtol=1e-3, atol=1e-3)
                np.testing.assert_array_equal(fused.test_logits[:, position].argmax(-1),
                                              alone.test_predictions[:, 0])
                dev_labels = fold.split.labels["dev"]
                assert (best_dev_epochs(fused.dev_logits[:, [position]].argmax(-1), dev_labels)
                        == best_dev_epochs(alone.dev_predictions, dev_labels)).all()
                if kind_name == "aggregate":
                    np.testing.assert_allclose(fused.layer_weights[:, 0], alone.layer_weights[:, 0],
                                               rtol=1e-4, atol=1e-5)
    # the runs differ: another seed, another fold
    assert not np.allclose(grid[(0, 0)].test_logits, grid[(0, 5)].test_logits)
    assert not np.allclose(grid[(0, 0)].dev_logits[..., :3, :], grid[(1, 0)].dev_logits[..., :3, :])


def test_batched_products_and_hidden_state_chunks_change_nothing(store, monkeypatch):
    folder = load_feature_folder(store[0])
    folds = _folds(folder, store[1])
    kind = get_probe_kind("dense")
    bank = FrameBank.from_store(folder.path)
    config = TrainingConfig(epochs=2)
    whole = fit_frame_grid(kind, bank, folds, [1], config)
    chunk = fit_frame_grid(kind, bank.load_layers([1, 3]), folds, [1], config)
    np.testing.assert_allclose(chunk[(0, 1)].test_logits, whole[(0, 1)].test_logits[:, [1, 3]], rtol=1e-5, atol=1e-6)
    monkeypatch.setattr(_Products, "__init__", lambda self, device: setattr(self, "per_group", False))
    batched = fit_frame_grid(kind, bank, folds, [1], config)
    np.testing.assert_allclose(batched[(1, 1)].test_logits, whole[(1, 1)].test_logits, rtol=1e-4, atol=1e-5)


def test_frame_statistics_equal_the_streaming_ones(store):
    folder = load_feature_folder(store[0])
    split = join_split(folder, store[1], 0)
    bank = FrameBank.from_store(folder.path)
    mean, scale = UtteranceMoments.of(bank).statistics(split.rows["train"])
    expected_mean, expected_scale = streaming_statistics(folder.frames[int(row)] for row in split.rows["train"])
    np.testing.assert_allclose(mean.numpy(), expected_mean, rtol=1e-6)
    np.testing.assert_allclose(scale.numpy(), expected_scale, rtol=1e-6)


def test_a_bank_collected_from_batches_equals_the_store(store):
    """Frames handed over batch by batch (the extraction engine's order, not the manifest's) make
    the same bank, in memory or through a spill file that is deleted with the bank."""
    folder = load_feature_folder(store[0])
    stored = FrameBank.from_store(folder.path)
    order = np.random.default_rng(0).permutation(stored.num_utterances)
    spill_dir = store[0].parent / "spill"
    total = int(stored.counts.sum())
    for collector in (FrameCollector(stored.num_utterances),
                      FrameCollector(stored.num_utterances, expected_frames=total + 9),  # reserved, spare
                      FrameCollector(stored.num_utterances, expected_frames=total // 3),  # reserved too few
                      FrameCollector(stored.num_utterances, layers=[1, 2], spill_dir=spill_dir,
                                     expected_frames=total)):
        for batch in np.array_split(order, 7):
            frames = torch.cat([stored.utterance(int(row)).transpose(0, 1) for row in batch])
            collector(batch, stored.counts[batch], frames)
        bank = collector.bank(stored.utterance_ids)
        assert bank.frames.shape[:2] == (len(bank.layers), total)
        if collector.expected_frames == total + 9:  # filled in place: the reserve is the bank
            assert bank.frames.untyped_storage().nbytes() == (total + 9) * len(bank.layers) * bank.width * 2
        if bank.spilled:
            assert bank.spill_path.is_file() and bank.spill_path.parent == spill_dir
            assert torch.equal(bank.utterance(5), stored.utterance(5)[[1, 2]])  # read from the file
            bank = bank.load_layers([2])
        for row in (0, 17, 59):
            expected = stored.utterance(row)[list(bank.layers)]
            assert torch.equal(bank.utterance(row), expected)
    spilled = FrameCollector(2, spill_dir=spill_dir, expected_frames=5)
    spilled(np.array([0, 1]), np.array([2, 3]), torch.zeros(5, HIDDEN_STATES, 16, dtype=torch.float16))
    bank = spilled.bank(["a", "b"])
    path = bank.spill_path
    bank.drop()
    assert not path.exists()


def test_planned_frames_reserve_at_least_every_frame():
    """Each utterance's frames rounded up, plus one spare: never fewer than a model at that rate
    gives for the clip (wav2vec2's convolutions give 99 frames for 2 s at 50 per second)."""
    assert planned_frames([2.0, 1.01], 50.0) == 100 + 51 + 2
    assert planned_frames([], 50.0) == 0


def test_train_probe_runs_frame_kinds_through_the_grid(store):
    """``serlib probe --probe dense`` (train_probe) gives the grid's tables: one best epoch per
    fold x seed x layer, predictions with probabilities."""
    folder_path, split_csv = store
    run = train_probe(folder_path, split_csv, probe="dense", seeds=2, epochs=3, device="cpu", standardize=True)
    test = run.results[(run.results["split"] == "test") & (run.results["metric"] == "accuracy")]
    assert len(test) == 2 * 2 * HIDDEN_STATES
    assert set(test["best_epoch"]) <= {1, 2, 3}
    assert {"p_anger", "p_neutral", "p_sadness"} <= set(run.predictions.columns)
    chunked = train_probe(folder_path, split_csv, probe="dense", seeds=2, epochs=3, device="cpu",
                          standardize=True, groups_per_pass=3)
    pd.testing.assert_frame_equal(chunked.results, run.results)
