"""The frame-level probes of one model x corpus: every hidden state x seed x fold in one pass.

The paper's frame-level systems (arXiv 2308.08713, code v1.5) are its dense probe, one per
hidden state (``PROBING_DENSE``: per frame Linear(D, 256) -> ReLU -> Linear(256, 256) -> ReLU,
mean over the utterance's frames, Linear(256, C)), and its all-layer aggregation ``DENSE`` (a
learned unnormalised weighted sum of all hidden states per frame, then the same head). They are
trained with the paper's protocol, as every probe of :mod:`serlib.probing.train`: Adam 1e-3,
batch 32 per probe, 30 epochs, the epoch of the best dev accuracy (the first on ties) and the
test scores at that epoch.

:func:`fit_frame_grid` trains every group (hidden state, or the single aggregation) of every
(fold, seed) run at once, epoch by epoch and mini-batch by mini-batch:

- the frames are held once, float16, hidden-state-major (:class:`serlib.features.frames.FrameBank`);
  a run's mini-batch is gathered as contiguous rows of every hidden state (utterances packed
  one after the other, no padding) and standardised on the fly with its fold's training
  statistics, so that the folds share the bank;
- every probe of a run reads the same gathered mini-batch: the dense probe of hidden state s
  its rows of state s, the aggregation their weighted sum over states (one matrix product);
- forward and backward are written out as the matrix products autograd would run, without its
  bookkeeping: ``z1 = x w1 + b1``, ``a1 = relu(z1)``, ``z2 = a1 w2 + b2``, ``a2 = relu(z2)``,
  ``p = M a2`` (``M [B, frames]`` averages each utterance's frames), ``logits = p wo + bo``;
  ``dlogits = (softmax - onehot) / B``, ``dwo = pᵀ dlogits``, ``da2 = Mᵀ (dlogits woᵀ)``,
  ``dz2 = da2 [z2 > 0]``, ``dw2 = a1ᵀ dz2``, ``dz1 = (dz2 w2ᵀ) [z1 > 0]``, ``dw1 = xᵀ dz1``
  (and ``dx = dz1 w1ᵀ`` where the input is a learned mixture); the few parameters that feed
  the mixture (layer weights) get their gradient from autograd on that small map;
- on a CPU each group is its own matrix product (measured faster there than batched products),
  on a GPU the groups of a run are one batched product;
- one fused Adam step per run and mini-batch.

Randomness is that of the one-probe-at-a-time path: run ``seed`` of a fold shuffles its training
utterances every epoch with a generator seeded by ``seed`` (one per fold and seed, shared by the
run's groups), and group ``g`` is initialised from ``group_init_seed(seed, g)`` by the same
modules (:class:`serlib.probing.probes.DenseHead`, :class:`~serlib.probing.probes.AggregateDenseProbe`).
The results equal those of :func:`serlib.probing.train.fit_groups` on the same frames to float
rounding (``tests/test_frame_grid.py``); ``benchmarks/frame_probe_speed.py`` sets the time
against the floor of the counted multiply-adds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from serlib.common.errors import SerlibError
from serlib.features.frames import FrameBank
from serlib.probing.histories import RunHistory
from serlib.probing.inputs import LabelledSplit
from serlib.probing.kinds import ProbeKind
from serlib.probing.probes import AggregateDenseProbe, DenseHead, group_init_seed

#: The frame-level kinds this grid trains, and whether they read one hidden state per group.
FRAME_GRID_KINDS = {"dense": "per_layer", "aggregate": "all_layers"}
#: Frames per chunk when evaluating dev and test (bounds the memory of one chunk).
EVAL_FRAMES = 16384


@dataclass
class FrameFold:
    """One fold to train on: its number and its labelled split (rows index the bank)."""

    fold: int
    split: LabelledSplit


@dataclass
class UtteranceMoments:
    """Per utterance, the float64 sum and sum of squares of its frames ``[N, S, D]``: computed in
    one pass over the bank, they give every fold's statistics without reading a frame again."""

    sums: torch.Tensor
    squares: torch.Tensor
    counts: np.ndarray

    @classmethod
    def of(cls, bank: FrameBank) -> "UtteranceMoments":
        frames = bank.frames
        sums = torch.zeros(bank.num_utterances, frames.shape[0], frames.shape[2], dtype=torch.float64,
                           device=frames.device)
        squares = torch.zeros_like(sums)
        for row, (start, count) in enumerate(zip(bank.starts.tolist(), bank.counts.tolist())):
            utterance = frames[:, start: start + count].double()
            sums[row] = utterance.sum(dim=1)
            squares[row] = utterance.mul_(utterance).sum(dim=1)
        return cls(sums, squares, bank.counts)

    def statistics(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation ``[S, D]`` (float32) of the frames of ``rows``;
        dimensions that do not vary get scale 1 (as :func:`serlib.probing.train.streaming_statistics`)."""
        index = torch.from_numpy(np.asarray(rows)).to(self.sums.device)
        count = float(self.counts[rows].sum())
        mean = self.sums[index].sum(dim=0) / count
        scale = torch.sqrt(torch.clamp(self.squares[index].sum(dim=0) / count - mean.square(), min=0.0))
        scale = torch.where(scale > 1e-6, scale, torch.ones_like(scale))
        return mean.float(), scale.float()


class _Workspace:
    """Reused buffers (one per name, grown when a larger one is asked for): a fresh large tensor
    per mini-batch would cost page faults, measured as half the run's time."""

    def __init__(self, device: torch.device):
        self.device = device
        self.buffers: dict[str, torch.Tensor] = {}

    def get(self, name: str, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        size = int(np.prod(shape))
        buffer = self.buffers.get(name)
        if buffer is None or buffer.numel() < size or buffer.dtype != dtype:
            buffer = torch.empty(max(size, int(1.25 * (buffer.numel() if buffer is not None else 0))),
                                 dtype=dtype, device=self.device)
            self.buffers[name] = buffer
        return buffer[:size].view(shape)


class _Gatherer:
    """Mini-batches of frames from the bank, standardised with one fold's statistics."""

    def __init__(self, bank: FrameBank, mean: torch.Tensor | None, scale: torch.Tensor | None,
                 device: torch.device):
        self.bank = bank
        self.device = device
        self.mean = None if mean is None else mean[:, None, :].to(device)
        self.scale = None if scale is None else scale[:, None, :].to(device)

    def gather(self, rows: np.ndarray, workspace: _Workspace) -> tuple[torch.Tensor, torch.Tensor]:
        """``[S, frames, D]`` float32 frames of ``rows`` (packed, utterance after utterance) and
        the ``[B, frames]`` matrix that averages each utterance's frames."""
        frames, device = self.bank.frames, self.device
        starts, counts = self.bank.starts[rows], self.bank.counts[rows]
        total = int(counts.sum())
        batch = workspace.get("frames", frames.shape[0], total, frames.shape[2])
        position = 0
        for start, count in zip(starts.tolist(), counts.tolist()):  # each utterance is a block
            batch[:, position: position + count].copy_(frames[:, start: start + count])  # (to the device)
            position += count
        if self.mean is not None:
            batch.sub_(self.mean).div_(self.scale)
        averaging = workspace.get("averaging", len(rows), total).zero_()
        owner = torch.from_numpy(np.repeat(np.arange(len(rows)), counts)).to(device)
        weights = torch.from_numpy(np.repeat(1.0 / counts, counts).astype(np.float32)).to(device)
        averaging[owner, torch.arange(total, device=device)] = weights
        return batch, averaging


class _Products:
    """Matrix products over a leading group axis: one product per group on a CPU, one batched
    product elsewhere."""

    def __init__(self, device: torch.device):
        self.per_group = device.type == "cpu"

    def mm(self, a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``out[g] = a[g] b[g]``; ``a`` or ``b`` may be one matrix shared by every group."""
        if self.per_group:
            for group in range(out.shape[0]):
                torch.mm(a[group] if a.dim() == 3 else a, b[group] if b.dim() == 3 else b, out=out[group])
            return out
        return torch.matmul(a, b, out=out)

    def addmm(self, bias: torch.Tensor, a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``out[g] = bias[g] + a[g] b[g]`` with ``bias [G, 1, K]``."""
        if self.per_group:
            for group in range(a.shape[0]):
                torch.addmm(bias[group], a[group], b[group], out=out[group])
            return out
        return torch.baddbmm(bias, a, b, out=out)


@dataclass
class _Run:
    """One (fold, seed) run: its groups' parameters and optimiser, its shuffling, its history."""

    fold: FrameFold
    seed: int
    gatherer: _Gatherer
    head: DenseHead
    mixing: AggregateDenseProbe | None
    optimiser: torch.optim.Optimizer
    generator: torch.Generator
    onehot: torch.Tensor
    batches: list[torch.Tensor] = field(default_factory=list)
    dev: list[np.ndarray] = field(default_factory=list)
    test: list[np.ndarray] = field(default_factory=list)
    weights: list[np.ndarray] = field(default_factory=list)

    def new_epoch(self, batch_size: int) -> None:
        order = torch.randperm(len(self.fold.split.rows["train"]), generator=self.generator)
        self.batches = list(torch.split(order, batch_size))


def _head_parameters(head: DenseHead) -> list[torch.Tensor]:
    return [head.w1, head.b1, head.w2, head.b2, head.w_out, head.b_out]


def _build_run(kind: ProbeKind, bank: FrameBank, fold: FrameFold, seed: int, groups: list[int],
               gatherer: _Gatherer, config, device: torch.device) -> _Run:
    num_classes = len(fold.split.class_names)
    mixing = None
    if kind.scope == "per_layer":
        head = DenseHead(bank.width, num_classes, [group_init_seed(seed, group) for group in groups]).to(device)
    else:
        mixing = kind.build(bank.num_hidden_states, bank.width, num_classes, groups, seed).to(device)
        head = mixing.head
    parameters = _head_parameters(head) + ([mixing.raw_layer_weights] if mixing is not None else [])
    for parameter in parameters:
        parameter.requires_grad_(False)
        parameter.grad = torch.zeros_like(parameter)
    optimiser = torch.optim.Adam(parameters, lr=config.learning_rate,
                                 fused=device.type in ("cpu", "cuda"))
    onehot = F.one_hot(torch.as_tensor(fold.split.labels["train"]), num_classes).float().to(device)
    return _Run(fold, seed, gatherer, head, mixing, optimiser,
                torch.Generator().manual_seed(int(seed)), onehot)


def _inputs(run: _Run, frames: torch.Tensor, workspace: _Workspace) -> torch.Tensor:
    """``[G, frames, D]`` what the heads read: the frames of each hidden state (dense), or the
    run's learned weighted sums of all of them (one product over the hidden-state axis)."""
    if run.mixing is None:
        return frames
    weights = run.mixing.raw_layer_weights  # [G, S]
    states, count, width = frames.shape
    mixture = workspace.get("mixture", weights.shape[0], count, width)
    torch.mm(weights, frames.view(states, count * width), out=mixture.view(weights.shape[0], -1))
    return mixture


def _forward(run: _Run, products: _Products, inputs: torch.Tensor, averaging: torch.Tensor,
             workspace: _Workspace):
    """The dense head of every group on ``inputs [G, frames, D]``; the activations and logits."""
    head = run.head
    groups, count, _ = inputs.shape
    hidden = head.w1.shape[-1]
    act1 = products.addmm(head.b1[:, None, :], inputs, head.w1,
                          workspace.get("act1", groups, count, hidden)).relu_()
    act2 = products.addmm(head.b2[:, None, :], act1, head.w2,
                          workspace.get("act2", groups, count, hidden)).relu_()
    pooled = products.mm(averaging, act2, workspace.get("pooled", groups, averaging.shape[0], hidden))
    logits = torch.baddbmm(head.b_out, pooled, head.w_out)
    return act1, act2, pooled, logits


def _train_step(run: _Run, products: _Products, workspace: _Workspace, rows: np.ndarray,
                positions: torch.Tensor) -> None:
    frames, averaging = run.gatherer.gather(rows, workspace)
    inputs = _inputs(run, frames, workspace)
    head = run.head
    act1, act2, pooled, logits = _forward(run, products, inputs, averaging, workspace)
    groups, count, hidden = act1.shape
    logit_grad = torch.softmax(logits, dim=-1).sub_(run.onehot[positions][None])
    logit_grad.div_(len(rows))
    torch.bmm(pooled.transpose(1, 2), logit_grad, out=head.w_out.grad)
    torch.sum(logit_grad, dim=1, keepdim=True, out=head.b_out.grad)
    pooled_grad = torch.bmm(logit_grad, head.w_out.transpose(1, 2))  # [G, B, H]
    grad = products.mm(averaging.t(), pooled_grad, workspace.get("grad2", groups, count, hidden))  # d act2
    grad = torch.ops.aten.threshold_backward(grad, act2, 0.0)  # d pre2
    products.mm(act1.transpose(1, 2), grad, head.w2.grad)
    torch.sum(grad, dim=1, out=head.b2.grad)
    grad = products.mm(grad, head.w2.transpose(1, 2), workspace.get("grad1", groups, count, hidden))
    grad = torch.ops.aten.threshold_backward(grad, act1, 0.0)  # d pre1
    products.mm(inputs.transpose(1, 2), grad, head.w1.grad)
    torch.sum(grad, dim=1, out=head.b1.grad)
    if run.mixing is not None:
        input_grad = products.mm(grad, head.w1.transpose(1, 2), workspace.get("input_grad", *inputs.shape))
        states, count, width = frames.shape
        torch.mm(input_grad.view(groups, -1), frames.view(states, count * width).t(),
                 out=run.mixing.raw_layer_weights.grad)
    run.optimiser.step()


def _evaluate(run: _Run, products: _Products, workspace: _Workspace, rows: np.ndarray) -> np.ndarray:
    """``[G, len(rows), C]`` logits of every group on ``rows`` (chunks of about EVAL_FRAMES frames)."""
    counts = run.gatherer.bank.counts[rows]
    ends = np.cumsum(counts)
    chunks, start = [], 0
    while start < len(rows):
        stop = max(start + 1, int(np.searchsorted(ends, ends[start] - counts[start] + EVAL_FRAMES, "right")))
        frames, averaging = run.gatherer.gather(rows[start:stop], workspace)
        inputs = _inputs(run, frames, workspace)
        chunks.append(_forward(run, products, inputs, averaging, workspace)[3].cpu())
        start = stop
    return torch.cat(chunks, dim=1).numpy()


def grid_groups(kind: ProbeKind, bank: FrameBank) -> list[int]:
    """The group ids the grid trains for ``kind`` on ``bank``: the hidden states it holds (dense),
    or the single aggregation (which needs every hidden state)."""
    if kind.name not in FRAME_GRID_KINDS:
        raise SerlibError(f"the frame-level grid trains {', '.join(FRAME_GRID_KINDS)}, not {kind.name!r}")
    if kind.scope == "per_layer":
        return list(bank.layers)
    if tuple(bank.layers) != tuple(range(bank.num_hidden_states)):
        raise SerlibError(f"probe {kind.name!r} mixes every hidden state, but the frame bank holds "
                          f"only {list(bank.layers)} of {bank.num_hidden_states}")
    return [0]


def fit_frame_grid(kind: ProbeKind, bank: FrameBank, folds: Sequence[FrameFold], seeds: Sequence[int],
                   config, standardize: bool = True, progress: bool = False,
                   description: str = "") -> dict[tuple[int, int], RunHistory]:
    """Train ``kind`` (``dense`` or ``aggregate``) for every group x fold x seed on ``bank``.

    ``config``: a :class:`serlib.probing.train.TrainingConfig` (epochs, batch size, learning rate,
    evaluation batch, device). With ``standardize`` every fold's frames are scaled with the
    statistics of that fold's training frames. Returns one :class:`RunHistory` per (fold, seed).
    With ``progress``, a tqdm bar counts mini-batch steps of all runs (probes, folds and epochs
    done, and an ETA).
    """
    device = torch.device(config.device)
    if bank.frames.device.type != device.type and not bank.spilled:
        raise SerlibError(f"the frame bank is on {bank.frames.device}, training asked for {device}")
    groups = grid_groups(kind, bank)
    products, workspace = _Products(device), _Workspace(device)
    runs = []
    moments = UtteranceMoments.of(bank) if standardize else None
    for fold in folds:
        statistics = moments.statistics(fold.split.rows["train"]) if standardize else (None, None)
        gatherer = _Gatherer(bank, *statistics, device)
        runs += [_build_run(kind, bank, fold, seed, groups, gatherer, config, device) for seed in seeds]
    steps_per_epoch = [-(-len(run.fold.split.rows["train"]) // config.batch_size) for run in runs]
    bar = tqdm(total=config.epochs * sum(steps_per_epoch), disable=not progress, unit="step",
               desc=description or f"{kind.name} x {len(groups)} probes", dynamic_ncols=True)
    with bar, torch.no_grad():
        for epoch in range(config.epochs):
            for run in runs:
                run.new_epoch(config.batch_size)
            for step in range(max(steps_per_epoch)):
                for run in runs:
                    if step < len(run.batches):
                        positions = run.batches[step]
                        _train_step(run, products, workspace, run.fold.split.rows["train"][positions.numpy()],
                                    positions.to(device))
                        bar.update(1)
            for run in runs:
                run.dev.append(_evaluate(run, products, workspace, run.fold.split.rows["dev"]))
                run.test.append(_evaluate(run, products, workspace, run.fold.split.rows["test"]))
                if run.mixing is not None:
                    run.weights.append(run.mixing.layer_weights().cpu().numpy())
            bar.set_postfix_str(f"{len(groups) * len(runs)} probes, {len(folds)} folds, "
                                f"epoch {epoch + 1}/{config.epochs}")
    return {(run.fold.fold, run.seed): RunHistory(np.stack(run.dev), np.stack(run.test),
                                                    np.stack(run.weights) if run.weights else None)
            for run in runs}


__all__ = ["FRAME_GRID_KINDS", "FrameFold", "UtteranceMoments", "fit_frame_grid", "grid_groups"]
