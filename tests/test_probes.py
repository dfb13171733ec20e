"""Probe heads: shapes, per-group independence, layer weights, masking; the paper's table."""

import pytest
import torch

from serlib.common.errors import SerlibError
from serlib.report.paper_reference import load_paper_results
from serlib.probing.kinds import PROBE_KINDS, get_probe_kind
from serlib.probing.probes import CumulativeSoftmaxProbe, DenseHead, PaperMLPProbe, group_init_seed

HIDDEN_STATES, DIM, CLASSES, BATCH, FRAMES = 5, 12, 3, 4, 6


def _inputs(kind, groups):
    torch.manual_seed(0)
    mask = torch.ones(BATCH, FRAMES, dtype=torch.bool)
    if kind.scope == "per_layer":
        shape = (groups, BATCH, FRAMES, DIM) if kind.input == "frames" else (groups, BATCH, DIM)
    else:
        shape = (BATCH, FRAMES, HIDDEN_STATES, DIM) if kind.input == "frames" else (BATCH, HIDDEN_STATES, DIM)
    return torch.randn(shape), mask


@pytest.mark.parametrize("name", [name for name, kind in PROBE_KINDS.items() if kind.trainer == "torch"])
def test_every_probe_returns_group_batch_class_logits(name):
    kind = PROBE_KINDS[name]
    group_ids = {"per_layer": [0, 2, 4], "cumulative": [1, 2, 3, 4], "all_layers": [0]}[kind.scope]
    module = kind.build(HIDDEN_STATES, DIM, CLASSES, group_ids, seed=0)
    features, mask = _inputs(kind, len(group_ids))
    assert module(features, mask).shape == (len(group_ids), BATCH, CLASSES)


def test_a_group_starts_from_the_same_weights_alone_or_among_others():
    together = PaperMLPProbe(DIM, CLASSES, [group_init_seed(7, g) for g in range(4)])
    alone = PaperMLPProbe(DIM, CLASSES, [group_init_seed(7, 2)])
    for name in ("w1", "b1", "w2", "b2"):
        torch.testing.assert_close(getattr(together, name)[2], getattr(alone, name)[0], rtol=0, atol=0)
    assert not torch.equal(together.w1[1], together.w1[2])


def test_initial_weights_follow_the_linear_layer_default_bound():
    probe = PaperMLPProbe(DIM, CLASSES, [1, 2])
    assert probe.w1.abs().max() <= DIM ** -0.5
    assert probe.w2.abs().max() <= 128 ** -0.5


def test_softmax_aggregation_weights_sum_to_one_per_run():
    module = get_probe_kind("aggregate-softmax").build(HIDDEN_STATES, DIM, CLASSES, [0], seed=0)
    weights = module.layer_weights()
    assert weights.shape == (1, HIDDEN_STATES)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(1))


def test_dense_aggregation_weights_are_one_unnormalised_weight_per_hidden_state():
    module = get_probe_kind("aggregate").build(HIDDEN_STATES, DIM, CLASSES, [0], seed=0)
    assert module.layer_weights().shape == (1, HIDDEN_STATES)
    assert module.layer_weights().sum().item() != pytest.approx(1.0)


def test_cumulative_probe_mixes_exactly_hidden_states_one_to_k():
    module = CumulativeSoftmaxProbe(HIDDEN_STATES, DIM, CLASSES, [11, 12, 13, 14], [1, 2, 3, 4])
    with torch.no_grad():
        module.layer_logits.normal_()
    weights = module.layer_weights()
    for row, k in enumerate([1, 2, 3, 4]):
        assert (weights[row, 1:k + 1] > 0).all()
        assert weights[row, 0] == 0 and (weights[row, k + 1:] == 0).all()
        assert weights[row].sum().item() == pytest.approx(1.0)


def test_cumulative_k_outside_the_blocks_is_refused():
    with pytest.raises(ValueError):
        CumulativeSoftmaxProbe(HIDDEN_STATES, DIM, CLASSES, [1], [HIDDEN_STATES])
    with pytest.raises(ValueError):
        CumulativeSoftmaxProbe(HIDDEN_STATES, DIM, CLASSES, [1], [0])


def test_dense_head_ignores_padding_frames():
    head = DenseHead(DIM, CLASSES, [3, 4])
    torch.manual_seed(1)
    real = torch.randn(2, 1, 3, DIM)
    padded = torch.cat([real, 100 * torch.randn(2, 1, 5, DIM)], dim=2)
    mask = torch.tensor([[True] * 3 + [False] * 5])
    torch.testing.assert_close(head(padded, mask), head(real, torch.ones(1, 3, dtype=torch.bool)))


def test_dense_head_on_pooled_features_is_the_one_frame_case():
    head = DenseHead(DIM, CLASSES, [5])
    pooled = torch.randn(1, BATCH, DIM)
    torch.testing.assert_close(head(pooled), head(pooled.unsqueeze(2), torch.ones(BATCH, 1, dtype=torch.bool)))


def test_unknown_probe_name_lists_the_valid_ones():
    with pytest.raises(SerlibError, match="linear"):
        get_probe_kind("lineer")


def test_paper_reference_has_seven_corpora_by_eight_models():
    table = load_paper_results()
    assert table["corpus"].nunique() == 7 and table["model"].nunique() == 8
    assert len(table) == 7 * 8 * 3
    row = table[(table["corpus"] == "EmoDB") & (table["model"] == "WAV2VEC2_LARGE_XLSR")
                & (table["probe"] == "linear")].iloc[0]
    assert row["accuracy_mean"] == pytest.approx(0.9929)
    assert row["layer"] == 18 and row["layer_fraction"] == pytest.approx(0.75)
