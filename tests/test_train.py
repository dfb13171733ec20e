"""Training: batched == alone, dev-based epoch selection, run_probe tables, the CLI end to end."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from serlib import cli
from serlib.report import analysis
from serlib.probing.metrics import accuracy
from serlib.probing.kinds import get_probe_kind
from serlib.probing.histories import best_dev_epochs
from serlib.probing.pooled_grid import PooledRun, fit_pooled_grid
from serlib.probing.train import (ProbeInputs, TrainingConfig, _fit_autograd, fit_seeds, train_probe,
                                  fit_groups, join_split, load_feature_folder, run_probe)

HIDDEN_STATES, DIM, CLASSES, UTTERANCES = 4, 16, 3, 60


def write_feature_folder(folder, seed=0):
    """A feature store folder in the contract format: class signal grows with the layer index
    (none in hidden state 0); frames of 3..8 per utterance; a 60/20/20 split CSV beside it."""
    rng = np.random.default_rng(seed)
    labels = np.arange(UTTERANCES) % CLASSES
    centers = rng.normal(size=(CLASSES, HIDDEN_STATES, DIM)) * np.linspace(0, 1.5, HIDDEN_STATES)[None, :, None]
    lengths = rng.integers(3, 9, UTTERANCES)
    frames = [(centers[labels[i]][None] + rng.normal(size=(lengths[i], HIDDEN_STATES, DIM))).astype(np.float16)
              for i in range(UTTERANCES)]
    folder.mkdir(parents=True)
    np.save(folder / "pooled.npy", np.stack([f.astype(np.float32).mean(axis=0) for f in frames]))
    np.save(folder / "frames.npy", np.concatenate(frames))
    np.save(folder / "frame_offsets.npy", np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))
    ids = [f"spk{i % 5}/utt{i:03d}" for i in range(UTTERANCES)]
    pd.DataFrame({"utterance_id": ids, "num_frames": lengths}).to_csv(folder / "utterances.csv", index=False)
    (folder / "index.json").write_text(json.dumps({"model": "fake/model", "corpus": "fakecorpus",
                                                   "complete": True}))
    parts = np.array(["train", "train", "train", "dev", "test"] * (UTTERANCES // 5))
    order = rng.permutation(UTTERANCES)  # split rows in another order than the feature rows
    split = pd.DataFrame({"utterance_id": np.array(ids)[order], "speaker": "s",
                          "label": np.array(["anger", "neutral", "sadness"])[labels][order],
                          "split": parts})
    split_csv = folder.parent / "split.csv"
    split.to_csv(split_csv, index=False)
    return folder, split_csv


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return write_feature_folder(tmp_path_factory.mktemp("features") / "fakemodel" / "fakecorpus")


def _train_alone_and_together(store, probe, layer=2, seed=3, epochs=4):
    """The pooled grid's groups of every layer against autograd training of one layer alone."""
    folder_path, split_csv = store
    folder = load_feature_folder(folder_path)
    split = join_split(folder, split_csv)
    kind = get_probe_kind(probe)
    inputs = ProbeInputs(folder, kind, torch.device("cpu"))
    config = TrainingConfig(epochs=epochs)
    together_history = fit_pooled_grid(kind, folder.pooled, [PooledRun(0, seed, split)],
                                       list(range(HIDDEN_STATES)), config)[0]
    alone = kind.build(HIDDEN_STATES, DIM, CLASSES, [layer], seed)
    alone_history = _fit_autograd(alone, inputs, split, [layer], seed, config)
    torch.testing.assert_close(torch.from_numpy(together_history.test_logits[:, layer]),
                               torch.from_numpy(alone_history.test_logits[:, 0]), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(together_history.test_predictions[:, layer],
                                  alone_history.test_predictions[:, 0])


def test_fast_batched_paper_probe_equals_autograd_training_of_one_layer_alone(store):
    _train_alone_and_together(store, "linear")


def test_fast_batched_softmax_regression_equals_autograd_training_of_one_layer_alone(store):
    _train_alone_and_together(store, "softmax", layer=3)


def test_seeds_trained_in_one_pass_equal_seeds_trained_one_by_one(store):
    folder_path, split_csv = store
    folder = load_feature_folder(folder_path)
    split = join_split(folder, split_csv)
    kind = get_probe_kind("linear")
    config = TrainingConfig(epochs=3)
    layers = list(range(HIDDEN_STATES))
    fused = fit_seeds(kind, folder, split, layers, [0, 4, 7], config)
    for seed, history in zip([0, 4, 7], fused):
        alone = fit_groups(kind, folder, split, layers, seed, config)
        np.testing.assert_array_equal(history.dev_predictions, alone.dev_predictions)
        np.testing.assert_array_equal(history.test_predictions, alone.test_predictions)
    assert not np.array_equal(fused[0].dev_predictions, fused[1].dev_predictions)  # the seeds differ


def test_batched_autograd_dense_head_equals_one_layer_alone(store):
    _train_alone_and_together(store, "dense-pooled", layer=1, seed=0)


def test_training_in_chunks_of_layers_changes_nothing(store):
    folder_path, split_csv = store
    folder = load_feature_folder(folder_path)
    split = join_split(folder, split_csv)
    kind = get_probe_kind("softmax")
    whole = fit_groups(kind, folder, split, [0, 1, 2, 3], 1, TrainingConfig(epochs=3))
    chunked = fit_groups(kind, folder, split, [0, 1, 2, 3], 1, TrainingConfig(epochs=3, groups_per_pass=3))
    np.testing.assert_array_equal(whole.dev_predictions, chunked.dev_predictions)


def test_best_epoch_is_the_first_with_the_highest_dev_accuracy():
    dev_labels = np.array([0, 1, 1, 0])
    dev_predictions = np.array([  # [E=3, G=2, N=4]
        [[0, 1, 0, 0], [1, 1, 1, 1]],  # accuracies 3/4, 2/4
        [[0, 1, 1, 0], [0, 0, 0, 0]],  # 4/4, 2/4
        [[0, 1, 1, 0], [0, 1, 1, 1]],  # 4/4, 3/4
    ])
    np.testing.assert_array_equal(best_dev_epochs(dev_predictions, dev_labels), [1, 2])


def test_reported_test_score_is_the_one_at_the_best_dev_epoch(store):
    folder_path, split_csv = store
    folder = load_feature_folder(folder_path)
    split = join_split(folder, split_csv)
    history = fit_groups(get_probe_kind("linear"), folder, split, list(range(HIDDEN_STATES)), 0,
                         TrainingConfig(epochs=6))
    results, _ = run_probe(folder_path, split_csv, probe="linear", seeds=[0], epochs=6, device="cpu")
    test_accuracy = results[(results["split"] == "test") & (results["metric"] == "accuracy")]
    for _, row in test_accuracy.iterrows():
        epoch = row["best_epoch"] - 1
        dev_by_epoch = (history.dev_predictions[:, row["layer"]] == split.labels["dev"]).mean(axis=1)
        assert dev_by_epoch[epoch] == dev_by_epoch.max()
        assert (dev_by_epoch[:epoch] < dev_by_epoch.max()).all()
        assert row["value"] == accuracy(split.labels["test"], history.test_predictions[epoch, row["layer"]])


def test_linear_probe_beats_chance_clearly_where_the_layer_carries_the_classes(store):
    folder_path, split_csv = store
    results, weights = run_probe(folder_path, split_csv, probe="linear", seeds=2, epochs=30, device="cpu")
    assert weights.empty
    assert len(results) == HIDDEN_STATES * 2 * 2 * 4
    assert set(results["corpus"]) == {"fakecorpus"} and set(results["model"]) == {"fake/model"}
    test = results[(results["split"] == "test") & (results["metric"] == "accuracy")]
    by_layer = test.groupby("layer")["value"].mean()
    assert by_layer[3] >= 0.9  # chance is 1/3
    assert by_layer[0] <= 0.6  # hidden state 0 carries no class signal
    best = analysis.best_layer_by_dev(results)
    assert best.loc[0, "best_layer"] >= 2 and best.loc[0, "blocks"] == 3


def test_cumulative_and_aggregation_tables_and_layer_weights(store):
    folder_path, split_csv = store
    cumulative, cumulative_weights = run_probe(folder_path, split_csv, probe="cumulative", seeds=1,
                                               epochs=2, device="cpu")
    assert sorted(set(cumulative["layer"])) == ["1-1", "1-2", "1-3"]
    assert len(cumulative_weights) == 3 * HIDDEN_STATES
    sums = cumulative_weights.groupby("layers")["weight"].sum()
    # each weight is written to 5 significant digits (train.WEIGHT_DIGITS): k of them sum to 1
    # within k half-units of the fifth digit
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=HIDDEN_STATES * 5e-6)
    assert all(len(f"{weight:g}".replace("0.", "").lstrip("0")) <= 5 for weight in cumulative_weights["weight"])
    aggregate, aggregate_weights = run_probe(folder_path, split_csv, probe="aggregate", seeds=2,
                                             epochs=2, device="cpu")
    assert set(aggregate["layer"]) == {"all"}
    assert list(aggregate_weights["layer"]) == list(range(HIDDEN_STATES)) * 2
    linear, _ = run_probe(folder_path, split_csv, probe="linear", seeds=2, epochs=2, device="cpu")
    table = analysis.paper_definition_comparison(pd.concat([linear, aggregate]), ["linear"], "aggregate")
    row = table.iloc[0]
    error_best, error_aggregate = 1 - row["best_layer_accuracy"], 1 - row["aggregate_accuracy"]
    assert row["relative_error_reduction"] == pytest.approx((error_aggregate - error_best) / error_aggregate)


def test_cli_writes_results_and_layer_weights(store, tmp_path):
    folder_path, split_csv = store
    out = tmp_path / "results" / "emo.csv"
    status = cli.main(["probe", "--features", str(folder_path), "--split", str(split_csv),
                       "--probe", "aggregate-softmax", "--out", str(out), "--seeds", "2",
                       "--epochs", "2", "--device", "cpu", "--language", "de"])
    assert status == 0
    results = pd.read_csv(out)
    assert list(results.columns[:11]) == ["corpus", "language", "model", "probe", "protocol", "fold",
                                          "layer", "seed", "split", "metric", "value"]
    assert len(results) == 2 * 2 * 4 and set(results["language"]) == {"de"}
    assert set(results["protocol"]) == {"custom"} and set(results["fold"]) == {0}
    predictions = pd.read_csv(tmp_path / "results" / "emo.predictions.csv.gz")
    assert len(predictions) == 2 * len(pd.read_csv(split_csv).query("split != 'train'"))
    weights = pd.read_csv(tmp_path / "results" / "emo.layer_weights.csv")
    # softmax weights, each written to 5 significant digits: 4 of them sum to 1 within 2e-5
    np.testing.assert_allclose(weights.groupby("seed")["weight"].sum(), 1.0, atol=HIDDEN_STATES * 5e-6)
    probabilities = predictions[["p_anger", "p_neutral", "p_sadness"]]
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=3 * 5e-5)
    assert (probabilities.idxmax(axis=1).str.removeprefix("p_") == predictions["predicted"]).mean() > 0.95


def test_cli_reports_split_utterances_without_features(store, tmp_path, capsys):
    folder_path, split_csv = store
    bad_split = tmp_path / "bad.csv"
    table = pd.read_csv(split_csv)
    table.loc[0, "utterance_id"] = "nobody/utt999"
    table.to_csv(bad_split, index=False)
    status = cli.main(["probe", "--features", str(folder_path), "--split", str(bad_split),
                       "--out", str(tmp_path / "r.csv"), "--device", "cpu"])
    assert status == 2
    assert "nobody/utt999" in capsys.readouterr().err


def test_frame_probe_without_frames_names_the_folder(store, tmp_path):
    folder_path, split_csv = store
    pooled_only = tmp_path / "pooled_only"
    pooled_only.mkdir()
    for name in ("pooled.npy", "utterances.csv", "index.json"):
        (pooled_only / name).write_bytes((folder_path / name).read_bytes())
    status = cli.main(["probe", "--features", str(pooled_only), "--split", str(split_csv),
                       "--probe", "dense", "--out", str(tmp_path / "r.csv"), "--device", "cpu"])
    assert status == 2


@pytest.mark.parametrize("probe", ["linear", "aggregate-softmax", "aggregate-concat"])
def test_test_copies_are_scored_by_the_probes_trained_on_the_clean_train_part(store, tmp_path, probe):
    """A copy of the corpus's features (a degraded recording's) adds the part test@<condition>:
    the clean parts are those of a run without it, and an identical copy predicts as the test part."""
    import shutil

    folder_path, split_csv = store
    same = tmp_path / "same"
    shutil.copytree(folder_path, same)
    noisy = tmp_path / "noisy"
    shutil.copytree(folder_path, noisy)
    pooled = np.load(noisy / "pooled.npy")
    np.save(noisy / "pooled.npy", pooled + np.random.default_rng(0).normal(scale=20.0, size=pooled.shape).astype(np.float32))
    settings = dict(probe=probe, seeds=1, epochs=3, device="cpu", standardize=True)
    plain = run_probe(folder_path, split_csv, **settings)[0]
    both = train_probe(folder_path, split_csv, test_copies={"same": same, "noisy": noisy}, **settings)
    assert set(both.results["split"]) == {"dev", "test", "test@same", "test@noisy"}
    clean = both.results[both.results["split"].isin(["dev", "test"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(clean.drop(columns=["regularisation_C"], errors="ignore"),
                                  plain.drop(columns=["regularisation_C"], errors="ignore"))
    predictions = both.predictions
    test = predictions[predictions["split"] == "test"].reset_index(drop=True)
    copy = predictions[predictions["split"] == "test@same"].reset_index(drop=True)
    assert (test["utterance_id"] == copy["utterance_id"]).all() and (test["predicted"] == copy["predicted"]).all()
    accuracy_of = both.results[both.results["metric"] == "accuracy"].groupby("split")["value"].mean()
    assert accuracy_of["test@noisy"] < accuracy_of["test"] - 0.05


def test_speaker_standardisation_centres_every_speaker(store):
    from serlib.probing.train import speaker_standardized

    folder_path, split_csv = store
    folder = load_feature_folder(folder_path)
    table = pd.read_csv(split_csv).assign(speaker=lambda t: t["utterance_id"].str.split("/").str[0])
    normalised = speaker_standardized(folder, table)
    speakers = pd.Series(folder.utterance_ids).str.split("/").str[0]
    for speaker in speakers.unique():
        rows = np.flatnonzero(speakers == speaker)
        np.testing.assert_allclose(normalised.pooled[rows].mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(normalised.pooled[rows].std(axis=0), 1.0, atol=1e-4)
    run = train_probe(folder_path, table, probe="linear", seeds=1, epochs=2, device="cpu", standardize="speaker")
    assert run.results["value"].notna().all()


def test_fresh_predictions_equal_their_cached_csv_exactly(store, tmp_path):
    """Probabilities are float64 with the values their 4 decimals read back as, so a table is the
    same whether its rows were computed now or read from a probe cache (a float32 0.4 joined with
    cached rows would be 0.4000000059604645 and cross a reliability bin's edge)."""
    from serlib.common.files import write_csv_atomically
    from serlib.probing.histories import rounded_probabilities

    np.testing.assert_array_equal(rounded_probabilities(np.float32([0.4, 0.00349999, 0.99995, 1.0])),
                                  [0.4, 0.0035, 1.0, 1.0])
    folder_path, split_csv = store
    fresh = train_probe(folder_path, split_csv, probe="linear", epochs=2).predictions
    probabilities = [column for column in fresh.columns if column.startswith("p_")]
    assert (fresh[probabilities].dtypes == np.float64).all()
    cached = pd.read_csv(write_csv_atomically(fresh, tmp_path / "cached.csv.gz"),
                         dtype={"utterance_id": str, "speaker": str, "layer": str})
    pd.testing.assert_frame_equal(pd.concat([fresh, cached])[probabilities],
                                  pd.concat([cached, cached])[probabilities], check_exact=True)
