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

Paper correspondence (arXiv 2308.08713, code v1.5):

- :class:`PaperMLPProbe` = ``PROBING`` (the paper's "linear" probe, one hidden layer of 128),
- :class:`SoftmaxLinearProbe` = a truly linear softmax regression (our addition),
- :class:`DenseHead` = ``PROBING_DENSE`` on frames (or on pooled features, ``T = 1``),
- :class:`AggregateDenseProbe` = ``DENSE`` (learned unnormalised layer weights, dense head),
- :class:`AggregateSoftmaxProbe` = SUPERB-style softmax layer weights + the paper's MLP head,
- :class:`CumulativeSoftmaxProbe` = ``CM_PROBING`` (softmax over layers 1..k, gain, MLP head).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


PAPER_MLP_HIDDEN = 128
DENSE_HIDDEN = 256


def group_init_seed(seed: int, group_id: int) -> int:
    """The initialisation seed of probe group ``group_id`` in training run ``seed``.

    Derived with NumPy's SeedSequence so that nearby (seed, group) pairs give unrelated streams.
    """
    return int(np.random.SeedSequence([int(seed), int(group_id)]).generate_state(1)[0])


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
        if features.dim() == 3:
            features = features.unsqueeze(2)
            mask = None
        groups, batch, frames, _ = features.shape
        if mask is None:
            mask = torch.ones(batch, frames, dtype=torch.bool, device=features.device)
        hidden = torch.relu(torch.einsum("gbtd,gdh->gbth", features, self.w1) + self.b1[:, None, None, :])
        hidden = torch.relu(torch.einsum("gbth,ghk->gbtk", hidden, self.w2) + self.b2[:, None, None, :])
        pooled = masked_frame_mean(hidden, mask)
        return torch.baddbmm(self.b_out, pooled, self.w_out)


def _mix_layers(features: torch.Tensor, layer_weights: torch.Tensor) -> torch.Tensor:
    """Weighted sums over the hidden-state axis: ``[B, S, D]`` or ``[B, T, S, D]`` with ``[G, S]`` -> ``[G, B, (T,) D]``."""
    if features.dim() == 3:
        return torch.einsum("bsd,gs->gbd", features, layer_weights)
    return torch.einsum("btsd,gs->gbtd", features, layer_weights)


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

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, S, D]`` pooled or ``[B, T, S, D]`` frames (+ ``[B, T]`` mask) -> ``[G, B, C]``."""
        return self.head(_mix_layers(features, self.raw_layer_weights), mask)


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

    def forward(self, pooled: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, S, D]`` pooled features -> ``[G, B, C]``."""
        return self.head(_mix_layers(pooled, torch.softmax(self.layer_logits, dim=-1)))


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

    def forward(self, pooled: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, S, D]`` pooled features -> ``[G, B, C]``."""
        weights = self._normalised(self.layer_logits) * self.gain[:, None]
        return self.head(_mix_layers(pooled, weights))

