"""Probe heads as plain ``torch.nn.Module``s that hold many independent probes at once.

Every module carries a leading *group* axis ``G`` on its parameters: group ``g`` is one
independent probe (one hidden state for per-layer probes, one ``k`` for cumulative probes,
the single all-layer probe for aggregation). Groups never share parameters, so one batched
forward/backward pass trains ``G`` probes exactly as ``G`` separate runs would.

Each group is initialised from its own generator seeded by :func:`group_init_seed(seed,
group_id)`, so a module built for one group alone starts from the same weights as that
group inside a module built for all groups. Initial values follow PyTorch's defaults for
``nn.Linear``/``nn.Conv1d`` (uniform in +-1/sqrt(fan_in)).

Shapes: ``B`` utterances, ``T`` frames, ``S`` hidden states (``L + 1``), ``D`` feature width,
``C`` classes. Per-layer modules take ``[G, B, D]`` pooled or ``[G, B, T, D]`` frames (+ a
``[B, T]`` mask); all-layer modules take ``[B, S, D]`` pooled or ``[B, T, S, D]`` frames.
All return logits ``[G, B, C]``.

Runs: the groups of one module may belong to ``R`` independent training runs (seeds, folds),
run-major (run r owns groups ``r * g .. (r + 1) * g - 1``), so that several runs train in one
batched pass (:mod:`serlib.probing.pooled_grid`). A per-layer module needs nothing for that (each
group reads its own ``[B, D]``); an all-layer module is then given ``runs=R`` and pooled features
``[R, B, S, D]``, every run's own mini-batch, read by that run's groups only.

Paper correspondence (arXiv 2308.08713, code v1.5):

- :class:`PaperMLPProbe` = ``PROBING`` (the paper's "linear" probe, one hidden layer of 128),
- :class:`SoftmaxLinearProbe` = a truly linear softmax regression (our addition),
- :class:`DenseHead` = ``PROBING_DENSE`` on frames (or on pooled features, ``T = 1``),
- :class:`AggregateDenseProbe` = ``DENSE`` (learned unnormalised layer weights, dense head),
- :class:`AggregateSoftmaxProbe` = SUPERB-style softmax layer weights + the paper's MLP head,
- :class:`CumulativeSoftmaxProbe` = ``CM_PROBING`` (softmax over layers 1..k, gain, MLP head).

Beyond the paper (issue 19): :class:`WideMLPProbe` (two hidden layers of 512 with dropout, a third
probe capacity), :class:`AggregateSoftmaxLinearProbe` and :class:`AggregateSoftmaxWideProbe`
(softmax layer weights with the linear and the wide head), and :class:`AggregateHierConvProbe`
(Shih & Harwath's hierarchical convolution over the layer axis, arXiv 2406.12209).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from serlib.probing.sizes import (DENSE_HIDDEN, HIERCONV_KERNEL, HIERCONV_STRIDE, PAPER_MLP_HIDDEN, WIDE_MLP_HIDDEN,
                                  hierconv_lengths)




def group_init_seed(seed: int, group_id: int) -> int:
    """The initialisation seed of probe group ``group_id`` in training run ``seed``.

    Derived with NumPy's SeedSequence so that nearby (seed, group) pairs give unrelated streams.
    """
    return int(np.random.SeedSequence([int(seed), int(group_id)]).generate_state(1)[0])


def epoch_batches(num_train: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """One epoch's mini-batches of a training run: positions ``0..num_train-1`` shuffled by the
    run's generator (seeded with its seed, drawn once per epoch), cut into ``batch_size`` pieces."""
    return list(torch.split(torch.randperm(num_train, generator=generator), batch_size))


def _uniform_groups(shape: Sequence[int], fan_in: int, generators: list[torch.Generator]) -> nn.Parameter:
    """A ``[G, *shape]`` parameter, group g drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with generator g."""
    bound = 1.0 / math.sqrt(fan_in)
    values = torch.empty((len(generators), *shape))
    for group_index, generator in enumerate(generators):
        values[group_index].uniform_(-bound, bound, generator=generator)
    return nn.Parameter(values)


def _generators(group_seeds: Sequence[int]) -> list[torch.Generator]:
    if len(group_seeds) == 0:
        raise ValueError("a probe needs at least one group seed")
    return [torch.Generator().manual_seed(int(seed)) for seed in group_seeds]


def masked_frame_mean(frame_values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over valid frames: ``[G, B, T, H]`` values, ``[B, T]`` bool mask -> ``[G, B, H]``.

    Padding frames contribute nothing, whatever their values.
    """
    weights = mask.to(frame_values.dtype)
    counts = weights.sum(dim=1).clamp_min(1.0)  # [B]
    summed = torch.einsum("gbth,bt->gbh", frame_values, weights)
    return summed / counts[None, :, None]


class PaperMLPProbe(nn.Module):
    """The paper's "linear" probe (``PROBING``): Linear(D, 128) -> ReLU -> Linear(128, C) per group.

    Parameters are stored in ``x @ w`` layout: ``w1 [G, D, H]``, ``b1 [G, 1, H]``,
    ``w2 [G, H, C]``, ``b2 [G, 1, C]``.
    """

    def __init__(self, input_dim: int, num_classes: int, group_seeds: Sequence[int],
                 hidden_dim: int = PAPER_MLP_HIDDEN) -> None:
        super().__init__()
        generators = _generators(group_seeds)
        self.w1 = _uniform_groups((input_dim, hidden_dim), input_dim, generators)
        self.b1 = _uniform_groups((1, hidden_dim), input_dim, generators)
        self.w2 = _uniform_groups((hidden_dim, num_classes), hidden_dim, generators)
        self.b2 = _uniform_groups((1, num_classes), hidden_dim, generators)

    def forward(self, pooled: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``[G, B, D]`` pooled features -> ``[G, B, C]`` logits."""
        hidden = torch.relu(torch.baddbmm(self.b1, pooled, self.w1))
        return torch.baddbmm(self.b2, hidden, self.w2)


class SoftmaxLinearProbe(nn.Module):
    """Truly linear softmax regression per group: Linear(D, C) on pooled features."""

    def __init__(self, input_dim: int, num_classes: int, group_seeds: Sequence[int]) -> None:
        super().__init__()
        generators = _generators(group_seeds)
        self.weight = _uniform_groups((input_dim, num_classes), input_dim, generators)
        self.bias = _uniform_groups((1, num_classes), input_dim, generators)

    def forward(self, pooled: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``[G, B, D]`` pooled features -> ``[G, B, C]`` logits."""
        return torch.baddbmm(self.bias, pooled, self.weight)


class DenseHead(nn.Module):
    """The paper's ``PROBING_DENSE`` head per group.

    Per frame Conv1d(D, 256, k=1) -> ReLU -> Conv1d(256, 256, k=1) -> ReLU, then the mean over
    valid frames, then Linear(256, C). Given pooled features ``[G, B, D]`` it treats each as one
    frame (the cheap ``dense-pooled`` variant).
    """

    def __init__(self, input_dim: int, num_classes: int, group_seeds: Sequence[int],
                 hidden_dim: int = DENSE_HIDDEN) -> None:
        super().__init__()
        generators = _generators(group_seeds)
        self.w1 = _uniform_groups((input_dim, hidden_dim), input_dim, generators)
        self.b1 = _uniform_groups((hidden_dim,), input_dim, generators)
        self.w2 = _uniform_groups((hidden_dim, hidden_dim), hidden_dim, generators)
        self.b2 = _uniform_groups((hidden_dim,), hidden_dim, generators)
        self.w_out = _uniform_groups((hidden_dim, num_classes), hidden_dim, generators)
        self.b_out = _uniform_groups((1, num_classes), hidden_dim, generators)

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``[G, B, T, D]`` frames with ``[B, T]`` mask (or ``[G, B, D]`` pooled) -> ``[G, B, C]``."""
        if features.dim() == 3:  # one frame per utterance: three batched products, no mean to take
            hidden = torch.relu(torch.baddbmm(self.b1[:, None], features, self.w1))
            hidden = torch.relu(torch.baddbmm(self.b2[:, None], hidden, self.w2))
            return torch.baddbmm(self.b_out, hidden, self.w_out)
        groups, batch, frames, _ = features.shape
        if mask is None:
            mask = torch.ones(batch, frames, dtype=torch.bool, device=features.device)
        hidden = torch.relu(torch.einsum("gbtd,gdh->gbth", features, self.w1) + self.b1[:, None, None, :])
        hidden = torch.relu(torch.einsum("gbth,ghk->gbtk", hidden, self.w2) + self.b2[:, None, None, :])
        pooled = masked_frame_mean(hidden, mask)
        return torch.baddbmm(self.b_out, pooled, self.w_out)


def _mix_layers(features: torch.Tensor, layer_weights: torch.Tensor, runs: int | None = None) -> torch.Tensor:
    """Weighted sums over the hidden-state axis: ``[B, S, D]`` or ``[B, T, S, D]`` with ``[G, S]`` -> ``[G, B, (T,) D]``;
    with ``runs=R``, pooled ``[R, B, S, D]`` whose run r is mixed by its own ``G / R`` groups only."""
    if runs is not None:
        groups = _groups_per_run(features, runs, layer_weights.shape[0])
        mixed = torch.einsum("rbsd,rgs->rgbd", features, layer_weights.view(runs, groups, -1))
        return mixed.reshape(runs * groups, *mixed.shape[2:])
    if features.dim() == 3:
        return torch.einsum("bsd,gs->gbd", features, layer_weights)
    return torch.einsum("btsd,gs->gbtd", features, layer_weights)


def _groups_per_run(features: torch.Tensor, runs: int, groups: int) -> int:
    """``G / R``, after checking that ``features`` are pooled ``[R, B, S, D]`` of ``R`` runs of a module of ``G`` groups."""
    if features.dim() != 4 or features.shape[0] != runs or groups % runs:
        raise ValueError(f"{runs} runs of a {groups}-group module need pooled features [R={runs}, B, S, D], "
                         f"not {list(features.shape)}")
    return groups // runs


class AggregateDenseProbe(nn.Module):
    """The paper's all-layer ``DENSE`` probe: Conv1d(S -> 1, k=1, no bias) over the hidden-state
    axis (a learned, unnormalised weighted sum of all layers), then :class:`DenseHead`. One group."""

    def __init__(self, num_hidden_states: int, input_dim: int, num_classes: int,
                 group_seeds: Sequence[int]) -> None:
        super().__init__()
        generators = _generators(group_seeds)
        self.raw_layer_weights = _uniform_groups((num_hidden_states,), num_hidden_states, generators)
        self.head = DenseHead(input_dim, num_classes, [seed + 1 for seed in group_seeds])

    def layer_weights(self) -> torch.Tensor:
        """``[G, S]`` the learned (unnormalised) weight of each hidden state."""
        return self.raw_layer_weights.detach()

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None, runs: int | None = None) -> torch.Tensor:
        """``[B, S, D]`` pooled or ``[B, T, S, D]`` frames (+ ``[B, T]`` mask), or ``runs`` runs'
        pooled ``[R, B, S, D]`` -> ``[G, B, C]``."""
        return self.head(_mix_layers(features, self.raw_layer_weights, runs), mask)


class AggregateSoftmaxProbe(nn.Module):
    """SUPERB-style aggregation: softmax-normalised learned weights over all hidden states
    (initialised equal), weighted sum of pooled features, then the paper's MLP head."""

    def __init__(self, num_hidden_states: int, input_dim: int, num_classes: int,
                 group_seeds: Sequence[int]) -> None:
        super().__init__()
        self.layer_logits = nn.Parameter(torch.zeros(len(group_seeds), num_hidden_states))
        self.head = PaperMLPProbe(input_dim, num_classes, group_seeds)

    def layer_weights(self) -> torch.Tensor:
        """``[G, S]`` softmax weights (each row sums to 1)."""
        return torch.softmax(self.layer_logits.detach(), dim=-1)

    def forward(self, pooled: torch.Tensor, mask: torch.Tensor | None = None, runs: int | None = None) -> torch.Tensor:
        """``[B, S, D]`` pooled features (``[R, B, S, D]`` of ``runs`` runs) -> ``[G, B, C]``."""
        return self.head(_mix_layers(pooled, torch.softmax(self.layer_logits, dim=-1), runs))


class CumulativeSoftmaxProbe(nn.Module):
    """The paper's ``CM_PROBING`` for every k at once: group k-1 mixes hidden states 1..k with
    softmax-normalised learned weights and a learned scalar gain gamma, then the MLP head.

    Hidden state 0 (the input to the first block) is never mixed, as in the paper, which used
    the outputs of the transformer blocks only. ``group_ids`` are the k values.
    """

    def __init__(self, num_hidden_states: int, input_dim: int, num_classes: int,
                 group_seeds: Sequence[int], group_ids: Sequence[int]) -> None:
        super().__init__()
        if len(group_ids) != len(group_seeds):
            raise ValueError("one k per group seed is needed")
        if min(group_ids) < 1 or max(group_ids) >= num_hidden_states:
            raise ValueError(f"cumulative k must lie in 1..{num_hidden_states - 1}")
        positions = torch.arange(num_hidden_states)
        k_values = torch.as_tensor(list(group_ids))[:, None]
        self.register_buffer("included", (positions[None, :] >= 1) & (positions[None, :] <= k_values))
        self.layer_logits = nn.Parameter(torch.zeros(len(group_seeds), num_hidden_states))
        self.gain = nn.Parameter(torch.ones(len(group_seeds)))
        self.head = PaperMLPProbe(input_dim, num_classes, group_seeds)

    def layer_weights(self) -> torch.Tensor:
        """``[G, S]`` softmax weights over hidden states 1..k (0 elsewhere), without the gain."""
        return self._normalised(self.layer_logits.detach())

    def _normalised(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits.masked_fill(~self.included, float("-inf")), dim=-1)

    def forward(self, pooled: torch.Tensor, mask: torch.Tensor | None = None, runs: int | None = None) -> torch.Tensor:
        """``[B, S, D]`` pooled features (``[R, B, S, D]`` of ``runs`` runs) -> ``[G, B, C]``."""
        weights = self._normalised(self.layer_logits) * self.gain[:, None]
        return self.head(_mix_layers(pooled, weights, runs))



# --------------------------------------------------------------------------- capacity: a wider MLP

WIDE_MLP_DROPOUT = 0.2
#: Stream number of the dropout generators (the initialisation draws from the group's own seed).
DROPOUT_STREAM = 1


def _stream_seed(group_seed: int, stream: int) -> int:
    """A seed for random stream ``stream`` of a group, unrelated to the group's init stream."""
    return int(np.random.SeedSequence([int(group_seed), int(stream)]).generate_state(1)[0])


class GroupDropout(nn.Module):
    """Inverted dropout on ``[G, B, H]`` whose masks come from one generator per group.

    Group ``g``'s masks are drawn (on the CPU, then moved to the input's device) from a
    generator seeded with ``_stream_seed(group_seeds[g], DROPOUT_STREAM)``, so a group draws
    the same masks alone as among other groups, on any device, and a run is reproducible.
    Active only in training mode (``module.train()``); the identity in ``module.eval()``. One
    instance may be applied several times per forward pass: each call draws the next masks.
    """

    def __init__(self, p: float, group_seeds: Sequence[int]) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must lie in [0, 1), not {p}")
        self.p = float(p)
        self.generators = [torch.Generator().manual_seed(_stream_seed(seed, DROPOUT_STREAM))
                           for seed in group_seeds]

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return values
        if values.shape[0] != len(self.generators):
            raise ValueError(f"dropout built for {len(self.generators)} groups got {values.shape[0]}")
        keep = torch.stack([torch.empty(values.shape[1:]).bernoulli_(1.0 - self.p, generator=generator)
                            for generator in self.generators])
        return values * keep.to(device=values.device, dtype=values.dtype) / (1.0 - self.p)


class WideMLPProbe(nn.Module):
    """A higher-capacity probe per group (``mlp-wide``, our addition): Linear(D, 512) -> ReLU ->
    Dropout(p) -> Linear(512, 512) -> ReLU -> Dropout(p) -> Linear(512, C) on pooled features.

    Beside ``softmax`` (strictly linear) and ``linear`` (the paper's one hidden layer of 128) it is
    the third capacity of the per-layer probes. ``p`` = 0.2, a moderate rate for ~400 training
    utterances; it is fixed, not tuned. Dropout masks: :class:`GroupDropout`. Parameters in
    ``x @ w`` layout like :class:`PaperMLPProbe`: ``w1 [G, D, H]``, ``w2 [G, H, H]``,
    ``w3 [G, H, C]``, biases ``[G, 1, *]``.
    """

    def __init__(self, input_dim: int, num_classes: int, group_seeds: Sequence[int],
                 hidden_dim: int = WIDE_MLP_HIDDEN, dropout: float = WIDE_MLP_DROPOUT) -> None:
        super().__init__()
        generators = _generators(group_seeds)
        self.w1 = _uniform_groups((input_dim, hidden_dim), input_dim, generators)
        self.b1 = _uniform_groups((1, hidden_dim), input_dim, generators)
        self.w2 = _uniform_groups((hidden_dim, hidden_dim), hidden_dim, generators)
        self.b2 = _uniform_groups((1, hidden_dim), hidden_dim, generators)
        self.w3 = _uniform_groups((hidden_dim, num_classes), hidden_dim, generators)
        self.b3 = _uniform_groups((1, num_classes), hidden_dim, generators)
        self.dropout = GroupDropout(dropout, group_seeds)

    def forward(self, pooled: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``[G, B, D]`` pooled features -> ``[G, B, C]`` logits."""
        hidden = self.dropout(torch.relu(torch.baddbmm(self.b1, pooled, self.w1)))
        hidden = self.dropout(torch.relu(torch.baddbmm(self.b2, hidden, self.w2)))
        return torch.baddbmm(self.b3, hidden, self.w3)


# --------------------------------------------------------------------------- softmax layer weights, any head


class _SoftmaxMixedHead(nn.Module):
    """SUPERB's softmax-normalised layer weights (initialised equal) over all hidden states of
    pooled features, then a per-group head on the weighted sum."""

    def __init__(self, num_hidden_states: int, head: nn.Module, num_groups: int) -> None:
        super().__init__()
        self.layer_logits = nn.Parameter(torch.zeros(num_groups, num_hidden_states))
        self.head = head

    def layer_weights(self) -> torch.Tensor:
        """``[G, S]`` softmax weights (each row sums to 1)."""
        return torch.softmax(self.layer_logits.detach(), dim=-1)

    def forward(self, pooled: torch.Tensor, mask: torch.Tensor | None = None, runs: int | None = None) -> torch.Tensor:
        """``[B, S, D]`` pooled features (``[R, B, S, D]`` of ``runs`` runs) -> ``[G, B, C]``."""
        return self.head(_mix_layers(pooled, torch.softmax(self.layer_logits, dim=-1), runs))


class AggregateSoftmaxLinearProbe(_SoftmaxMixedHead):
    """``aggregate-softmax-linear``: softmax layer weights, then a strictly linear softmax
    regression (:class:`SoftmaxLinearProbe`); the ``softmax`` capacity of the aggregation."""

    def __init__(self, num_hidden_states: int, input_dim: int, num_classes: int,
                 group_seeds: Sequence[int]) -> None:
        super().__init__(num_hidden_states, SoftmaxLinearProbe(input_dim, num_classes, group_seeds),
                         len(group_seeds))


class AggregateSoftmaxWideProbe(_SoftmaxMixedHead):
    """``aggregate-softmax-wide``: softmax layer weights, then :class:`WideMLPProbe`; the
    ``mlp-wide`` capacity of the aggregation (``aggregate-softmax`` is the paper-MLP one)."""

    def __init__(self, num_hidden_states: int, input_dim: int, num_classes: int,
                 group_seeds: Sequence[int]) -> None:
        super().__init__(num_hidden_states, WideMLPProbe(input_dim, num_classes, group_seeds),
                         len(group_seeds))


# --------------------------------------------------------------------------- hierarchical convolution

class AggregateHierConvProbe(nn.Module):
    """All-layer aggregation by hierarchical convolution over the layer axis (Shih & Harwath,
    "Interface Design for Self-Supervised Speech Models", Interspeech 2024, arXiv 2406.12209;
    implemented after the design of the authors' public code, github.com/atosystem/SSL_Interface,
    ``HierarchicalConvInterface``, written anew here with a group axis).

    The interface, for every frame (or every pooled vector) on its own: the ``S`` hidden states
    form a sequence of length S with D channels; ``n = floor(log_3 S)`` Conv1d layers run along
    it, each with kernel 5, stride 3, zero padding 2 on each side and a ReLU after it (also after
    the last). Every convolution keeps D channels except the last, which has ``D // S_n``, where
    S_n is the layer-axis length it leaves; its output (channels x S_n, channel-major) is
    flattened to a vector of ``(D // S_n) * S_n`` (about D) that the head reads. Lengths and
    widths: S = 7 -> one conv, 3 positions, D=512 -> 170 x 3 = 510; S = 13 -> two convs, 5 then
    2 positions, D=768 -> 384 x 2 = 768; S = 25 -> two convs, 9 then 3, D=1024 -> 341 x 3 = 1023.

    As in the paper's code: kernel size 5, stride 3 (its defaults, used in its example for 13
    layers), padding ``k // 2``, depth ``floor(log_stride(S))``, channel width D until the last
    conv, ReLU after every conv, no normalisation of the hidden states (the code's ``normalize``
    option defaults to off; serlib standardises features with the training rows instead), no
    dropout, odd or even layer counts handled by the same zero padding and floor.
    Ours: the group axis (one independent interface per group, each convolution one batched
    product over the groups); the integer depth formula and at least one convolution when S = 2 (the code stops there);
    a last width of at least 1 channel; the initialisation (PyTorch's Conv1d default bound
    1/sqrt(D * k), drawn per group from its own generator); and the heads, which are the
    Decoding-Emotions heads rather than the SUPERB downstream models the paper used:

    - ``head="mlp"`` (kind ``aggregate-hierconv``, pooled ``[B, S, D]``): the paper's MLP
      (:class:`PaperMLPProbe`, 128 hidden), the head of ``aggregate-softmax``, so the two
      differ only in the interface (weighted sum vs hierarchical convolution);
    - ``head="dense"`` (:class:`AggregateHierConvDenseProbe`, frames ``[B, T, S, D]`` +
      ``[B, T]`` mask): the interface per frame, then :class:`DenseHead` (per-frame 1x1 convs,
      mean over valid frames), as ``aggregate`` does after its weighted sum. Given pooled
      features the dense head treats each as one frame. It trains with the autograd loop; no
      probe kind names it yet, since ``train_probe`` sends every frame-level kind to the fused
      frame grid (:mod:`serlib.probing.frame_grid`), which trains ``dense`` and ``aggregate``.

    The head's groups are seeded with ``group_seed + 1`` (as :class:`AggregateDenseProbe`'s).
    """

    def __init__(self, num_hidden_states: int, input_dim: int, num_classes: int,
                 group_seeds: Sequence[int], head: str = "mlp",
                 kernel_size: int = HIERCONV_KERNEL, stride: int = HIERCONV_STRIDE) -> None:
        super().__init__()
        if head not in ("mlp", "dense"):
            raise ValueError(f"head must be 'mlp' or 'dense', not {head!r}")
        generators = _generators(group_seeds)
        self.num_groups, self.kernel_size, self.stride = len(group_seeds), kernel_size, stride
        self.head_kind = head
        lengths = hierconv_lengths(num_hidden_states, kernel_size, stride)
        channels = [input_dim] * len(lengths) + [max(1, input_dim // lengths[-1])]
        self.conv_weights, self.conv_biases = nn.ParameterList(), nn.ParameterList()
        for in_channels, out_channels in zip(channels[:-1], channels[1:]):
            fan_in = in_channels * kernel_size
            self.conv_weights.append(_uniform_groups((out_channels, in_channels, kernel_size), fan_in, generators))
            self.conv_biases.append(_uniform_groups((out_channels,), fan_in, generators))
        self.output_dim = channels[-1] * lengths[-1]
        head_seeds = [seed + 1 for seed in group_seeds]
        self.head = (PaperMLPProbe(self.output_dim, num_classes, head_seeds) if head == "mlp"
                     else DenseHead(self.output_dim, num_classes, head_seeds))

    @property
    def depth(self) -> int:
        """Number of convolutions over the layer axis."""
        return len(self.conv_weights)

    def interface(self, vectors: torch.Tensor, runs: int | None = None) -> torch.Tensor:
        """``[N, S, D]`` (hidden states of N frames or utterances) -> ``[G, N, D']`` per group;
        with ``runs=R``, ``[R, N, S, D]``, run r read by its own ``G / R`` groups only.

        Each convolution is one batched product over the groups: the zero-padded layer axis is
        cut into its windows (``unfold``) and every window meets the group's ``[D_in * k, D_out]``
        kernel, the arithmetic of ``conv1d``, which with one group per run was measured up to 12x
        slower as a grouped convolution on a CPU."""
        if runs is not None:
            groups = _groups_per_run(vectors, runs, self.num_groups)
            signal = vectors[:, None].expand(-1, groups, -1, -1, -1).reshape(self.num_groups, *vectors.shape[1:])
        else:
            signal = vectors[None].expand(self.num_groups, -1, -1, -1)  # [G, N, S, D]
        count = signal.shape[1]
        padding = self.kernel_size // 2
        for weight, bias in zip(self.conv_weights, self.conv_biases):  # weight [G, D_out, D_in, k]
            windows = nn.functional.pad(signal, (0, 0, padding, padding)).unfold(2, self.kernel_size, self.stride)
            positions = windows.shape[2]  # windows [G, N, S', D_in, k]
            kernel = weight.permute(0, 2, 3, 1).reshape(self.num_groups, -1, weight.shape[1])  # [G, D_in * k, D_out]
            signal = torch.relu(torch.baddbmm(bias[:, None], windows.reshape(self.num_groups, count * positions, -1),
                                              kernel)).view(self.num_groups, count, positions, -1)
        return signal.transpose(2, 3).reshape(self.num_groups, count, -1)  # [G, N, channels * S_n], channel-major

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None, runs: int | None = None) -> torch.Tensor:
        """``[B, S, D]`` pooled (``[R, B, S, D]`` of ``runs`` runs) or (dense head) ``[B, T, S, D]``
        frames + ``[B, T]`` mask -> ``[G, B, C]``."""
        if runs is not None or features.dim() == 3:
            return self.head(self.interface(features, runs))
        if self.head_kind != "dense":
            raise ValueError("the MLP head reads pooled [B, S, D] features; frames need head='dense'")
        batch, frames = features.shape[:2]
        mixed = self.interface(features.reshape(batch * frames, *features.shape[2:]))
        return self.head(mixed.reshape(self.num_groups, batch, frames, -1), mask)


class AggregateHierConvDenseProbe(AggregateHierConvProbe):
    """:class:`AggregateHierConvProbe` with the dense head, on frames (see there)."""

    def __init__(self, num_hidden_states: int, input_dim: int, num_classes: int,
                 group_seeds: Sequence[int]) -> None:
        super().__init__(num_hidden_states, input_dim, num_classes, group_seeds, head="dense")
