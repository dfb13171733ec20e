"""Issue 19's probes: the wide MLP and its dropout, softmax aggregation at every capacity, the
hierarchical convolution over layers, and the concatenation into a regularised linear model."""

import numpy as np
import pandas as pd
import pytest
import torch

from planted_features import write_planted_store
from test_train import write_feature_folder

from serlib.common.errors import SerlibError
from serlib.probing.columns import PREDICTION_COLUMNS, RESULT_COLUMNS
from serlib.probing.concat import DEFAULT_C_GRID, fit_concat, train_concat_probe
from serlib.probing.kinds import ProbeKind, get_probe_kind
from serlib.probing.probes import (AggregateHierConvDenseProbe, AggregateHierConvProbe,
                                   AggregateSoftmaxLinearProbe, AggregateSoftmaxWideProbe,
                                   WideMLPProbe, group_init_seed)
from serlib.probing.sizes import hierconv_depth, hierconv_lengths
from serlib.probing.inputs import join_split, load_feature_folder
from serlib.probing.train import ProbeInputs, TrainingConfig, _fit_autograd, train_probe

HIDDEN_STATES, DIM, CLASSES, BATCH, FRAMES = 7, 12, 3, 5, 4
SEEDS = [group_init_seed(11, group) for group in range(3)]

#: name -> (class, scope): per-layer modules read [G, B, D], all-layer ones [B, S, D] or frames.
MODULES = {
    "mlp-wide": (WideMLPProbe, "per_layer"),
    "aggregate-softmax-linear": (AggregateSoftmaxLinearProbe, "pooled"),
    "aggregate-softmax-wide": (AggregateSoftmaxWideProbe, "pooled"),
    "aggregate-hierconv": (AggregateHierConvProbe, "pooled"),
    "hierconv-dense-head": (AggregateHierConvDenseProbe, "frames"),  # a module without a kind yet
}


def _build(name, seeds):
    module_class, scope = MODULES[name]
    if scope == "per_layer":
        return module_class(DIM, CLASSES, seeds)
    return module_class(HIDDEN_STATES, DIM, CLASSES, seeds)


def _inputs(scope, groups, seed=0):
    generator = torch.Generator().manual_seed(seed)
    if scope == "per_layer":
        return torch.randn(groups, BATCH, DIM, generator=generator), None
    if scope == "pooled":
        return torch.randn(BATCH, HIDDEN_STATES, DIM, generator=generator), None
    mask = torch.ones(BATCH, FRAMES, dtype=torch.bool)
    mask[0, 2:] = False
    return torch.randn(BATCH, FRAMES, HIDDEN_STATES, DIM, generator=generator), mask


@pytest.mark.parametrize("name", [name for name in MODULES if name != "hierconv-dense-head"])
def test_kind_builds_its_module_with_group_batch_class_logits(name):
    kind = get_probe_kind(name)
    module_class, scope = MODULES[name]
    assert kind.trainer == "torch" and kind.input == ("frames" if scope == "frames" else "pooled")
    group_ids = [0, 3, 5] if kind.scope == "per_layer" else [0]
    module = kind.build(HIDDEN_STATES, DIM, CLASSES, group_ids, seed=0)
    assert type(module) is module_class
    features, mask = _inputs(scope, len(group_ids))
    logits = module(features, mask)
    assert logits.shape == (len(group_ids), BATCH, CLASSES) and torch.isfinite(logits).all()


@pytest.mark.parametrize("name", list(MODULES))
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_a_group_alone_gives_the_logits_it_gives_among_three(name, mode):
    """Same weights and (in train mode) the same dropout masks, call after call."""
    scope = MODULES[name][1]
    together, alone = _build(name, SEEDS), _build(name, SEEDS[1:2])
    getattr(together, mode)()
    getattr(alone, mode)()
    for call in range(2):
        features, mask = _inputs(scope, 3, seed=call)
        alone_features = features[1:2] if scope == "per_layer" else features
        torch.testing.assert_close(together(features, mask)[1:2], alone(alone_features, mask),
                                   rtol=1e-5, atol=1e-6)
    logits = together(*_inputs(scope, 3))
    assert not torch.allclose(logits[0], logits[1])  # the groups are different probes


@pytest.mark.parametrize("name", list(MODULES))
def test_gradients_reach_every_parameter(name):
    scope = MODULES[name][1]
    module = _build(name, SEEDS[:2])
    module.train()
    features, mask = _inputs(scope, 2)
    targets = torch.arange(BATCH) % CLASSES
    logits = module(features, mask)
    torch.nn.functional.cross_entropy(logits.reshape(-1, CLASSES), targets.repeat(2)).backward()
    for parameter_name, parameter in module.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert parameter.grad.abs().sum() > 0, parameter_name


@pytest.mark.parametrize("hidden_states, depth, lengths", [(7, 1, [3]), (13, 2, [5, 2]), (25, 2, [9, 3]),
                                                           (9, 2, [3, 1]), (27, 3, [9, 3, 1]), (2, 1, [1])])
def test_hierconv_depth_is_floor_log3_of_the_hidden_states(hidden_states, depth, lengths):
    assert hierconv_depth(hidden_states) == depth
    assert hierconv_lengths(hidden_states) == lengths
    module = AggregateHierConvProbe(hidden_states, 64, CLASSES, [1])
    assert module.depth == depth
    assert [weight.shape[2] for weight in module.conv_weights] == [64] * depth  # [G, out, in, k]: D in
    assert module.output_dim == (64 // lengths[-1]) * lengths[-1]  # last conv: D // S_n channels
    assert module(torch.randn(BATCH, hidden_states, 64)).shape == (1, BATCH, CLASSES)


def test_hierconv_widths_of_the_paper_models():
    assert AggregateHierConvProbe(13, 768, CLASSES, [1]).output_dim == 768  # 384 channels x 2
    assert AggregateHierConvProbe(25, 1024, CLASSES, [1]).output_dim == 1023  # 341 x 3
    assert AggregateHierConvProbe(7, 512, CLASSES, [1]).output_dim == 510  # 170 x 3


def test_hierconv_convolves_along_the_layer_axis_with_kernel_5_stride_3_padding_2():
    """S = 7: one convolution, 3 output positions; position j sees hidden states 3j-2 .. 3j+2
    (zero padding 2 each side), and the output is flattened channel-major (channels x positions)."""
    module = AggregateHierConvProbe(HIDDEN_STATES, DIM, CLASSES, [4])
    with torch.no_grad():
        module.conv_biases[0].fill_(10.0)  # every unit active: the ReLU hides no change
    base = torch.randn(1, HIDDEN_STATES, DIM)
    output = module.interface(base)[0].reshape(DIM // 3, 3)
    for hidden_state, positions in [(0, [0]), (1, [0, 1]), (3, [1]), (5, [1, 2]), (6, [2])]:
        changed = base.clone()
        changed[0, hidden_state] += 1.0
        moved = (module.interface(changed)[0].reshape(DIM // 3, 3) - output).abs().sum(dim=0) > 0
        assert moved.nonzero().flatten().tolist() == positions, hidden_state


@pytest.mark.parametrize("hidden_states", [7, 13])
def test_hierconv_interface_is_torchs_conv1d_per_group(hidden_states):
    """The interface's batched products over the groups are the convolutions of nn.functional.conv1d
    (kernel 5, stride 3, zero padding 2, ReLU), group by group, at one and two convolutions deep."""
    module = AggregateHierConvProbe(hidden_states, DIM, CLASSES, SEEDS)
    vectors = torch.randn(BATCH, hidden_states, DIM, generator=torch.Generator().manual_seed(2))
    for group in range(len(SEEDS)):
        signal = vectors.transpose(1, 2)  # [N, D, S]
        for weight, bias in zip(module.conv_weights, module.conv_biases):
            signal = torch.relu(torch.nn.functional.conv1d(signal, weight[group], bias[group], stride=3, padding=2))
        torch.testing.assert_close(module.interface(vectors)[group], signal.reshape(BATCH, -1), rtol=1e-5, atol=1e-6)


def test_hierconv_frames_ignore_padding_and_the_mlp_head_refuses_frames():
    module = AggregateHierConvDenseProbe(HIDDEN_STATES, DIM, CLASSES, [2])
    real = torch.randn(1, 3, HIDDEN_STATES, DIM)
    padded = torch.cat([real, 100 * torch.randn(1, 4, HIDDEN_STATES, DIM)], dim=1)
    mask = torch.tensor([[True] * 3 + [False] * 4])
    torch.testing.assert_close(module(padded, mask), module(real, torch.ones(1, 3, dtype=torch.bool)))
    with pytest.raises(ValueError, match="pooled"):
        AggregateHierConvProbe(HIDDEN_STATES, DIM, CLASSES, [2])(padded, mask)


def test_wide_mlp_dropout_is_active_in_training_only_and_reproducible():
    features = torch.randn(2, 64, DIM)
    first, second = WideMLPProbe(DIM, CLASSES, SEEDS[:2]), WideMLPProbe(DIM, CLASSES, SEEDS[:2])
    first.eval()
    torch.testing.assert_close(first(features), first(features), rtol=0, atol=0)
    first.train()
    second.train()
    draws = [first(features), first(features)]
    assert not torch.allclose(draws[0], draws[1])  # new masks every call
    for draw in draws:  # the same seeds draw the same masks
        torch.testing.assert_close(draw, second(features), rtol=0, atol=0)
    hidden = torch.relu(torch.baddbmm(first.b1, features, first.w1))
    dropped = first.dropout(hidden)
    zeroed = ((dropped == 0) & (hidden > 0)).sum() / (hidden > 0).sum()
    assert 0.1 < zeroed < 0.3  # p = 0.2
    kept = dropped != 0
    torch.testing.assert_close(dropped[kept], hidden[kept] / 0.8)  # inverted dropout


def test_concat_is_no_torch_module():
    kind = get_probe_kind("aggregate-concat")
    assert kind.trainer == "sklearn" and kind.scope == "all_layers" and kind.input == "pooled"
    with pytest.raises(SerlibError, match="not a torch module"):
        kind.build(HIDDEN_STATES, DIM, CLASSES, [0], seed=0)


# --------------------------------------------------------------------------- concat: choosing C


def _standardised(train, dev):
    mean, scale = train.mean(axis=0), train.std(axis=0)
    return (train - mean) / scale, (dev - mean) / scale


def test_concat_chooses_strong_regularisation_for_noisy_features():
    """Weak signal in 60 dimensions from 60 training utterances (the interpolation threshold):
    an unregularised fit overfits, shrinkage towards the class means generalises."""
    rng = np.random.default_rng(0)
    labels = np.arange(660) % 3
    features = rng.normal(size=(660, 60)) + 0.25 * rng.normal(size=(3, 60))[labels]
    train, dev = _standardised(features[:60], features[60:])
    fit = fit_concat(train, labels[:60], dev, labels[60:])
    assert fit.c <= 0.1
    assert fit.dev_accuracies[fit.chosen] > fit.dev_accuracies[-1] + 0.01  # better than C = 10


def test_concat_fits_on_one_blas_thread_and_gives_the_same_bits_under_any_outer_limit(monkeypatch):
    """Multi-threaded BLAS beside torch's OpenMP pool made some folds 20x slower, and lbfgs took
    another path with each thread count: every fit runs on one BLAS thread."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_info, threadpool_limits

    seen = []
    original_fit = LogisticRegression.fit

    def recording_fit(self, *args, **kwargs):
        seen.append({pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"})
        return original_fit(self, *args, **kwargs)

    monkeypatch.setattr(LogisticRegression, "fit", recording_fit)
    rng = np.random.default_rng(1)
    labels = np.arange(500) % 4
    features = rng.normal(size=(500, 300)) + 0.5 * rng.normal(size=(4, 300))[labels]
    train, dev = _standardised(features[:400], features[400:])
    fits = []
    for outer in (2, 1):
        with threadpool_limits(limits=outer, user_api="blas"):
            fits.append(fit_concat(train, labels[:400], dev, labels[400:], c_grid=(0.01, 1.0)))
            assert {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"} == {outer}
    assert seen == [{1}] * 4
    np.testing.assert_array_equal(fits[0].model.coef_, fits[1].model.coef_)


def test_concat_chooses_weak_regularisation_when_only_a_precise_contrast_separates():
    """The classes are separable, but only by dimension 1..3 minus dimension 0 (a shared
    nuisance of variance 9 sits in all four): heavy shrinkage cannot find that contrast."""
    rng = np.random.default_rng(0)
    labels = np.arange(120) % 3
    shared = 3.0 * rng.normal(size=(120, 1))
    features = np.concatenate([shared + 0.05 * rng.normal(size=(120, 1)),
                               shared + np.eye(3)[labels] + 0.05 * rng.normal(size=(120, 3)),
                               rng.normal(size=(120, 20))], axis=1)
    train, dev = _standardised(features[:60], features[60:])
    fit = fit_concat(train, labels[:60], dev, labels[60:])
    assert fit.c == max(DEFAULT_C_GRID)
    assert fit.dev_accuracies[fit.chosen] > fit.dev_accuracies[0] + 0.2


def test_concat_breaks_ties_towards_the_smaller_c():
    rng = np.random.default_rng(1)
    labels = np.arange(60) % 2
    features = rng.normal(size=(60, 4)) + 6.0 * labels[:, None]  # every C classifies dev perfectly
    fit = fit_concat(features[:40], labels[:40], features[40:], labels[40:], c_grid=[1.0, 0.01, 0.1])
    assert fit.c_grid == [0.01, 0.1, 1.0] and fit.dev_accuracies == [1.0, 1.0, 1.0]
    assert fit.chosen == 0


# --------------------------------------------------------------------------- concat: the tables


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return write_planted_store(tmp_path_factory.mktemp("concat") / "planted",
                               labels=("anger", "boredom", "fear", "neutral", "sadness"),
                               informative_layer=2, hidden_states=4, dim=8, per_class=20, strength=1.5)


def test_concat_tables_on_a_store_with_planted_signal(planted):
    folder, split_csv = planted
    run = train_concat_probe(folder, split_csv, seeds=2, language="de")
    results, predictions = run.results, run.predictions
    assert list(results.columns) == [*RESULT_COLUMNS, "regularisation_C"]
    assert set(results["layer"]) == {"all"} and set(results["probe"]) == {"aggregate-concat"}
    assert set(results["language"]) == {"de"} and set(results["protocol"]) == {"custom"}
    assert len(results) == 2 * 2 * 4  # seeds x (dev, test) x metrics
    row = results.iloc[0]
    assert row["regularisation_C"] == pytest.approx(DEFAULT_C_GRID[row["best_epoch"] - 1])
    assert run.layer_weights.empty
    test_accuracy = results.query("split == 'test' and metric == 'accuracy'")["value"]
    assert (test_accuracy >= 0.8).all()  # chance is 0.2

    class_columns = [f"p_{name}" for name in ("anger", "boredom", "fear", "neutral", "sadness")]
    assert list(predictions.columns) == [*PREDICTION_COLUMNS, *class_columns]
    assert len(predictions) == 2 * 40  # seeds x (20 dev + 20 test utterances)
    np.testing.assert_allclose(predictions[class_columns].sum(axis=1), 1.0, atol=1e-3)
    most_likely = np.array(class_columns)[predictions[class_columns].to_numpy().argmax(axis=1)]
    assert (most_likely == "p_" + predictions["predicted"]).all()
    accuracy = (predictions["label"] == predictions["predicted"])[predictions["split"] == "test"].mean()
    assert accuracy == pytest.approx(test_accuracy.mean())
    seed_0, seed_1 = (predictions[predictions["seed"] == seed].drop(columns="seed").reset_index(drop=True)
                      for seed in (0, 1))
    pd.testing.assert_frame_equal(seed_0, seed_1)  # deterministic: identical copies per seed


def test_concat_without_signal_stays_near_chance(tmp_path):
    folder, split_csv = write_planted_store(tmp_path / "none", informative_layer=1, hidden_states=3,
                                            dim=8, per_class=20, strength=0.0)
    results = train_concat_probe(folder, split_csv).results
    assert results.query("split == 'test' and metric == 'accuracy'")["value"].item() <= 0.6  # chance 1/3


def test_concat_with_a_train_fraction_fits_each_seed_on_its_own_subsample(planted):
    folder, split_csv = planted
    run = train_concat_probe(folder, split_csv, seeds=[0, 1], train_fraction=0.5)
    assert set(run.results["train_fraction"]) == {0.5} and set(run.predictions["train_fraction"]) == {0.5}
    probabilities = run.predictions.filter(like="p_")
    assert not np.allclose(probabilities[run.predictions["seed"] == 0].to_numpy(),
                           probabilities[run.predictions["seed"] == 1].to_numpy())


# --------------------------------------------------------------------------- through the trainer


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return write_feature_folder(tmp_path_factory.mktemp("features19") / "fakemodel" / "fakecorpus")


@pytest.mark.parametrize("probe", ["aggregate-hierconv", "aggregate-softmax-linear", "aggregate-softmax-wide"])
def test_aggregations_train_through_the_existing_trainer(store, probe):
    folder, split_csv = store
    run = train_probe(folder, split_csv, probe=probe, seeds=1, epochs=3, device="cpu", standardize=True)
    assert set(run.results["layer"]) == {"all"}
    assert len(run.predictions) == len(pd.read_csv(split_csv).query("split != 'train'"))
    assert run.layer_weights.empty == probe.startswith("aggregate-hierconv")


def test_hierconv_dense_head_trains_on_frames_with_the_autograd_loop(store):
    folder_path, split_csv = store
    folder = load_feature_folder(folder_path)
    split = join_split(folder, split_csv)
    kind = ProbeKind("hierconv-frames", "test only", "all_layers", "frames", "AggregateHierConvDenseProbe")
    module = kind.build(folder.num_hidden_states, folder.dim, len(split.class_names), [0], seed=0)
    history = _fit_autograd(module, ProbeInputs(folder, kind, torch.device("cpu")), split, [0], 0,
                            TrainingConfig(epochs=10))
    dev_accuracy = (history.dev_predictions[:, 0] == split.labels["dev"]).mean(axis=1)
    assert dev_accuracy.max() >= 0.7  # chance 1/3


def test_hierconv_learns_the_planted_classes(store):
    folder, split_csv = store
    results = train_probe(folder, split_csv, probe="aggregate-hierconv", seeds=1, epochs=15,
                          device="cpu", standardize=True).results
    assert results.query("split == 'test' and metric == 'accuracy'")["value"].item() >= 0.7  # chance 1/3


def test_wide_mlp_trains_per_layer_and_reproducibly(store):
    folder, split_csv = store
    first = train_probe(folder, split_csv, probe="mlp-wide", seeds=[3], epochs=8, device="cpu")
    again = train_probe(folder, split_csv, probe="mlp-wide", seeds=[3], epochs=8, device="cpu")
    pd.testing.assert_frame_equal(first.predictions, again.predictions)
    pd.testing.assert_frame_equal(first.results, again.results)
    test = first.results.query("split == 'test' and metric == 'accuracy'").set_index("layer")["value"]
    assert sorted(test.index) == [0, 1, 2, 3]
    assert test[3] >= 0.8 and test[0] <= 0.6  # hidden state 3 carries the classes, 0 does not
    other = train_probe(folder, split_csv, probe="mlp-wide", seeds=[4], epochs=8, device="cpu")
    assert not first.predictions["predicted"].equals(other.predictions["predicted"])


def test_concat_in_the_span_of_the_training_features_fits_as_in_all_dimensions():
    """The L2 optimum lies in the span of the training features: fitting in coordinates of that
    span (what aggregate-concat does, for speed) gives the probabilities of the fit in all S x D
    dimensions."""
    from serlib.probing.concat import _flat_features, _fit_grid, class_probabilities
    from serlib.probing.inputs import LabelledSplit

    rng = np.random.default_rng(5)
    pooled = rng.normal(size=(60, 4, 30)).astype(np.float32)  # 120 dimensions, 36 training rows
    labels = np.repeat(np.arange(3), 20)
    pooled[:, 2] += labels[:, None] * 0.8
    order = rng.permutation(60)
    rows = {"train": order[:36], "dev": order[36:48], "test": order[48:]}
    split = LabelledSplit(["a", "b", "c"], rows, {name: labels[part] for name, part in rows.items()})
    projected = _flat_features(pooled, split, standardize=True)
    assert projected["train"].shape[1] <= 36
    mean, scale = pooled[rows["train"]].mean(0), pooled[rows["train"]].std(0)
    full = {name: ((pooled[part] - mean) / scale).reshape(len(part), -1).astype(np.float64)
            for name, part in rows.items()}
    for c in (0.01, 1.0):
        small, = _fit_grid(projected["train"], split.labels["train"], [c])
        large, = _fit_grid(full["train"], split.labels["train"], [c])
        np.testing.assert_allclose(class_probabilities(small, projected["test"], 3),
                                   class_probabilities(large, full["test"], 3), atol=2e-3)
