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
from serlib.probing.probes import AggregateDenseProbe, DenseHead, epoch_batches, group_init_seed

#: The frame-level kinds this grid trains, and whether they read one hidden state per group.
FRAME_GRID_KINDS = {"dense": "per_layer", "aggregate": "all_layers"}
#: Frames per chunk when evaluating dev and test (bounds the memory of one chunk).
EVAL_FRAMES = 4096


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
        self.shapes: dict[str, tuple[int, ...]] = {}

    def get(self, name: str, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        size = int(np.prod(shape))
        buffer = self.buffers.get(name)
        if buffer is None or buffer.numel() < size or buffer.dtype != dtype:
            buffer = torch.empty(max(size, int(1.25 * (buffer.numel() if buffer is not None else 0))),
                                 dtype=dtype, device=self.device)
            self.buffers[name] = buffer
            self.shapes.pop(name, None)
        return buffer[:size].view(shape)

    def get_with_ones(self, name: str, *shape: int) -> torch.Tensor:
        """A ``[..., W + 1]`` buffer for ``W = shape[-1]`` values per row and a last column of
        ones (written only when its shape changes: callers write the first W columns only)."""
        full = (*shape[:-1], shape[-1] + 1)
        view = self.get(name, *full)
        if self.shapes.get(name) != full:
            view[..., -1] = 1.0
            self.shapes[name] = full
        return view


class _Pooling:
    """The mean over each utterance's frames of a packed batch, and its gradient.

    Utterances of one length (the common case: EmoDB's 2 s clips, corpora of fixed-length clips)
    are a reshape; mixed lengths a product with the ``[B, frames]`` averaging matrix."""

    def __init__(self, counts: np.ndarray, workspace: _Workspace, device: torch.device):
        self.batch = len(counts)
        self.length = int(counts[0]) if (counts == counts[0]).all() else None
        self.averaging = None
        if self.length is None:
            total = int(counts.sum())
            self.averaging = workspace.get("averaging", self.batch, total).zero_()
            owner = torch.from_numpy(np.repeat(np.arange(self.batch), counts)).to(device)
            weights = torch.from_numpy(np.repeat(1.0 / counts, counts).astype(np.float32)).to(device)
            self.averaging[owner, torch.arange(total, device=device)] = weights

    def mean(self, products: _Products, values: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``[G, B, H]`` means of ``[G, frames, H]`` values."""
        if self.length is None:
            return products.mm(self.averaging, values, out)
        groups, _, hidden = values.shape
        return torch.mean(values.view(groups, self.batch, self.length, hidden), dim=2, out=out)

    def relu_backward(self, products: _Products, grad: torch.Tensor, activations: torch.Tensor,
                      out: torch.Tensor) -> torch.Tensor:
        """``[G, frames, H]`` gradient before the ReLU whose ``activations`` were averaged, from
        the gradient ``[G, B, H]`` of the means (for equal lengths a broadcast, never written out)."""
        if self.length is None:
            products.mm(self.averaging.t(), grad, out)
            return torch.ops.aten.threshold_backward.grad_input(out, activations, 0.0, grad_input=out)
        groups, _, hidden = grad.shape
        shape = (groups, self.batch, self.length, hidden)
        spread = grad.div(self.length)[:, :, None, :].expand(shape)
        torch.ops.aten.threshold_backward.grad_input(spread, activations.view(shape), 0.0,
                                                     grad_input=out.view(shape))
        return out


class _Gatherer:
    """Mini-batches of frames from the bank, standardised with one fold's statistics."""

    def __init__(self, bank: FrameBank, mean: torch.Tensor | None, scale: torch.Tensor | None,
                 device: torch.device):
        self.bank = bank
        self.device = device
        self.mean = None if mean is None else mean[:, None, :].to(device)
        if mean is not None:
            self.inverse_scale = (1.0 / scale[:, None, :]).to(device)
            self.shift = -self.mean * self.inverse_scale

    def gather(self, rows: np.ndarray, workspace: _Workspace, states: slice = slice(None)) -> torch.Tensor:
        """``[S, frames, D + 1]`` float32 frames of ``rows`` (packed, utterance after utterance)
        of the bank's hidden states ``states``, with a last column of ones (the first layer's
        bias is a row of its weights)."""
        frames = self.bank.frames[states]
        starts, counts = self.bank.starts[rows], self.bank.counts[rows]
        batch = workspace.get_with_ones("frames", frames.shape[0], int(counts.sum()), frames.shape[2])
        values = batch[..., :-1]
        position = 0
        for start, count in zip(starts.tolist(), counts.tolist()):  # each utterance is a block
            values[:, position: position + count].copy_(frames[:, start: start + count])  # (to the device)
            position += count
        if self.mean is not None:  # (x - mean) / scale in one pass
            torch.addcmul(self.shift[states], values, self.inverse_scale[states], out=values)
        return batch

    def pooling(self, rows: np.ndarray, workspace: _Workspace) -> _Pooling:
        """The mean over each utterance's frames of a batch of ``rows``."""
        return _Pooling(self.bank.counts[rows], workspace, self.device)


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


@dataclass
class _Heads:
    """The dense heads of a run's ``G`` groups, their first two biases folded into the weights
    as a last row (read against a last input column of ones, so that one product computes
    ``x w + b`` and one gives both gradients): ``layer1 [G, D + 1, H]``, ``layer2 [G, H + 1, H]``,
    ``w_out [G, H, C]``, ``b_out [G, 1, C]``; initialised with the values of a
    :class:`~serlib.probing.probes.DenseHead`'s ``w1, b1, w2, b2, w_out, b_out``."""

    layer1: torch.Tensor
    layer2: torch.Tensor
    w_out: torch.Tensor
    b_out: torch.Tensor

    @classmethod
    def of(cls, head: DenseHead, device: torch.device) -> "_Heads":
        with torch.no_grad():
            layer1 = torch.cat([head.w1, head.b1[:, None, :]], dim=1)
            layer2 = torch.cat([head.w2, head.b2[:, None, :]], dim=1)
        heads = cls(*(tensor.detach().clone().to(device) for tensor in (layer1, layer2, head.w_out, head.b_out)))
        for parameter in heads.parameters():
            parameter.grad = torch.zeros_like(parameter)
        return heads

    def parameters(self) -> list[torch.Tensor]:
        return [self.layer1, self.layer2, self.w_out, self.b_out]


@dataclass
class _Run:
    """One (fold, seed) run: its groups' parameters and optimiser, its shuffling, its history."""

    fold: FrameFold
    seed: int
    gatherer: _Gatherer
    heads: _Heads
    mixing: AggregateDenseProbe | None
    optimiser: torch.optim.Optimizer
    generator: torch.Generator
    onehot: torch.Tensor
    batches: list[torch.Tensor] = field(default_factory=list)
    dev: list[np.ndarray] = field(default_factory=list)
    test: list[np.ndarray] = field(default_factory=list)
    weights: list[np.ndarray] = field(default_factory=list)

    def new_epoch(self, batch_size: int) -> None:
        self.batches = epoch_batches(len(self.fold.split.rows["train"]), batch_size, self.generator)


def _build_run(kind: ProbeKind, bank: FrameBank, fold: FrameFold, seed: int, groups: list[int],
               gatherer: _Gatherer, config, device: torch.device) -> _Run:
    num_classes = len(fold.split.class_names)
    mixing = None
    if kind.scope == "per_layer":
        head = DenseHead(bank.width, num_classes, [group_init_seed(seed, group) for group in groups])
    else:
        mixing = kind.build(bank.num_hidden_states, bank.width, num_classes, groups, seed).to(device)
        mixing.raw_layer_weights.requires_grad_(False)
        mixing.raw_layer_weights.grad = torch.zeros_like(mixing.raw_layer_weights)
        head = mixing.head
    heads = _Heads.of(head, device)
    parameters = heads.parameters() + ([mixing.raw_layer_weights] if mixing is not None else [])
    optimiser = torch.optim.Adam(parameters, lr=config.learning_rate,
                                 fused=device.type in ("cpu", "cuda"))
    onehot = F.one_hot(torch.as_tensor(fold.split.labels["train"]), num_classes).float().to(device)
    return _Run(fold, seed, gatherer, heads, mixing, optimiser,
                torch.Generator().manual_seed(int(seed)), onehot)


@dataclass
class _HeadView:
    """The parameters and gradients of some groups of a run's heads (views)."""

    layer1: torch.Tensor
    layer2: torch.Tensor
    w_out: torch.Tensor
    b_out: torch.Tensor
    grads: tuple[torch.Tensor, ...]

    @classmethod
    def of(cls, heads: _Heads, groups: slice) -> "_HeadView":
        parameters = [parameter[groups] for parameter in heads.parameters()]
        return cls(*parameters, tuple(parameter.grad[groups] for parameter in heads.parameters()))


def _group_passes(run: _Run, products: _Products) -> list[slice]:
    """The groups computed together: one hidden state at a time on a CPU (its frames, activations
    and gradients stay in cache: measured 4% faster than all states at once), all of them at once
    elsewhere; an aggregation is one group over every hidden state."""
    groups = run.heads.layer1.shape[0]
    if products.per_group and run.mixing is None:
        return [slice(group, group + 1) for group in range(groups)]
    return [slice(None)]


def _inputs(run: _Run, rows: np.ndarray, groups: slice, workspace: _Workspace) -> tuple[torch.Tensor, torch.Tensor]:
    """``[G, frames, D + 1]`` what the heads of ``groups`` read (a last column of ones): the frames
    of their hidden states (dense), or the run's learned weighted sums of all hidden states (one
    product over the hidden-state axis); and the frames gathered."""
    frames = run.gatherer.gather(rows, workspace, groups if run.mixing is None else slice(None))
    if run.mixing is None:
        return frames, frames
    weights = run.mixing.raw_layer_weights  # [G, S]
    states, count, width = frames.shape
    mixture = workspace.get("mixture", weights.shape[0], count, width)
    torch.mm(weights, frames.view(states, count * width), out=mixture.view(weights.shape[0], -1))
    mixture[..., -1] = 1.0  # the ones, not their weighted sum
    return mixture, frames


def _forward(view: _HeadView, products: _Products, inputs: torch.Tensor, pooling: _Pooling,
             workspace: _Workspace):
    """The dense heads of ``view`` on ``inputs [G, frames, D + 1]``: the activations (the first
    with its column of ones), the means over each utterance and the logits."""
    groups, count, _ = inputs.shape
    hidden = view.layer2.shape[-1]
    pre1 = products.mm(inputs, view.layer1, workspace.get("pre1", groups, count, hidden))
    act1 = workspace.get_with_ones("act1", groups, count, hidden)
    torch.clamp_min(pre1, 0.0, out=act1[..., :hidden])
    act2 = products.mm(act1, view.layer2, workspace.get("act2", groups, count, hidden)).relu_()
    pooled = pooling.mean(products, act2, workspace.get("pooled", groups, pooling.batch, hidden))
    logits = torch.baddbmm(view.b_out, pooled, view.w_out)
    return act1, act2, pooled, logits


def _backward(view: _HeadView, products: _Products, workspace: _Workspace, inputs: torch.Tensor,
              pooling: _Pooling, onehot: torch.Tensor, forward, input_grad: bool) -> torch.Tensor | None:
    """Every gradient of the heads of ``view`` (and, with ``input_grad``, of their inputs)."""
    act1, act2, pooled, logits = forward
    groups, count, hidden = act2.shape
    grad_layer1, grad_layer2, grad_w_out, grad_b_out = view.grads
    logit_grad = torch.softmax(logits, dim=-1).sub_(onehot[None])
    logit_grad.div_(pooling.batch)
    torch.bmm(pooled.transpose(1, 2), logit_grad, out=grad_w_out)
    torch.sum(logit_grad, dim=1, keepdim=True, out=grad_b_out)
    pooled_grad = torch.bmm(logit_grad, view.w_out.transpose(1, 2))  # [G, B, H]
    pre2_grad = pooling.relu_backward(products, pooled_grad, act2, workspace.get("grad_act2", groups, count, hidden))
    products.mm(act1.transpose(1, 2), pre2_grad, grad_layer2)  # and the bias's row
    grad = products.mm(pre2_grad, view.layer2[:, :hidden].transpose(1, 2),
                       workspace.get("grad_act1", groups, count, hidden))
    pre1_grad = torch.ops.aten.threshold_backward.grad_input(grad, act1[..., :hidden], 0.0, grad_input=grad)
    products.mm(inputs.transpose(1, 2), pre1_grad, grad_layer1)  # and the bias's row
    if not input_grad:
        return None
    grad = products.mm(pre1_grad, view.layer1.transpose(1, 2), workspace.get("input_grad", *inputs.shape))
    grad[..., -1] = 0.0  # the ones are not mixed
    return grad


def _train_step(run: _Run, products: _Products, workspace: _Workspace, rows: np.ndarray,
                positions: torch.Tensor) -> None:
    pooling = run.gatherer.pooling(rows, workspace)
    onehot = run.onehot[positions]
    for groups in _group_passes(run, products):
        view = _HeadView.of(run.heads, groups)
        inputs, frames = _inputs(run, rows, groups, workspace)
        forward = _forward(view, products, inputs, pooling, workspace)
        input_grad = _backward(view, products, workspace, inputs, pooling, onehot, forward,
                               input_grad=run.mixing is not None)
        if input_grad is not None:  # the mixture's weights
            states, count, width = frames.shape
            torch.mm(input_grad.view(input_grad.shape[0], -1), frames.view(states, count * width).t(),
                     out=run.mixing.raw_layer_weights.grad)
    run.optimiser.step()


def _evaluate(run: _Run, products: _Products, workspace: _Workspace, rows: np.ndarray) -> np.ndarray:
    """``[G, len(rows), C]`` logits of every group on ``rows`` (chunks of about EVAL_FRAMES frames)."""
    counts = run.gatherer.bank.counts[rows]
    ends = np.cumsum(counts)
    chunks, start = [], 0
    while start < len(rows):
        stop = max(start + 1, int(np.searchsorted(ends, ends[start] - counts[start] + EVAL_FRAMES, "right")))
        chunk_rows = rows[start:stop]
        pooling = run.gatherer.pooling(chunk_rows, workspace)
        chunks.append(torch.cat([
            _forward(_HeadView.of(run.heads, groups), products, _inputs(run, chunk_rows, groups, workspace)[0],
                     pooling, workspace)[3].cpu()
            for groups in _group_passes(run, products)]))
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
    if bank.frames.device.type not in (device.type, "cpu"):  # a bank in host memory streams to a GPU
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
