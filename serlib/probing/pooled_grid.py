"""The pooled probes of one model x corpus: every hidden state x seed x fold in one batched pass.

A probe on pooled features does little work per mini-batch (a 32 x D batch through a head of a
few hundred units), so trained one run (fold x seed) at a time its time is the fixed cost of each
step: launching the products, autograd's bookkeeping, the optimiser. :func:`fit_pooled_grid`
trains many runs at once instead: the module holds the groups of every run, run-major (see
:mod:`serlib.probing.probes`), and each step gathers every run's own mini-batch and takes one
forward, one backward and one fused Adam step for all of them.

Nothing about a run changes by being trained among others:

- run (fold, seed) shuffles its training rows every epoch with its own generator seeded with
  ``seed`` (:func:`~serlib.probing.probes.epoch_batches`), and its groups are initialised from
  ``group_init_seed(seed, group)``, as when it trains alone;
- the loss is the sum over groups of each group's mean cross-entropy, so each group's gradient
  is the one it receives alone; Adam is elementwise;
- every run's features are standardised with its own fold's training statistics, in each gathered
  mini-batch (the same float operations as standardising the whole table first).

Runs train together when their steps line up: the same number of training rows (hence the same
mini-batch sizes in every epoch) and of rows in every evaluated part. The repeats of a random
split do; the folds of a speaker-grouped split mostly do not, so there each fold's seeds train
together. At most :data:`~serlib.probing.sizes.PASS_BYTES` of parameters, gradients, Adam moments and evaluation inputs
go in one pass: constants per kind of device, never the free memory, so that the passes (and the
float rounding, which for most kinds does not depend on them at all) are the same on any machine
of a kind. A CPU gets a small budget: its per-step overhead is small, and a large head of several
runs at once (``mlp-wide``) was measured 1.3x slower there than run by run, out of cache; a GPU,
where every step is a few dozen kernel launches whatever its size, a large one.

The paper's MLP probe (``linear``) and softmax regression have hand-written gradients (their
cost is nothing but a few batched matrix products; :data:`HAND_WRITTEN`); every other pooled probe
is trained with autograd.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from serlib.common.errors import SerlibError
from serlib.probing.histories import RunHistory, join_group_histories
from serlib.probing.inputs import LabelledSplit, evaluated_parts
from serlib.probing.kinds import ProbeKind
from serlib.probing.probes import PaperMLPProbe, SoftmaxLinearProbe, epoch_batches
from serlib.probing.sizes import runs_per_pass


@dataclass
class PooledRun:
    """One training run of a pooled probe: a fold's split (its train part possibly a subsample),
    the seed, and the mean and scale ``[S, D]`` its features are standardised with (``None``: the
    features as they are)."""

    fold: int
    seed: int
    split: LabelledSplit
    statistics: tuple[np.ndarray, np.ndarray] | None = None


def adam(parameters: list[nn.Parameter], learning_rate: float, device: torch.device) -> torch.optim.Adam:
    """The paper's optimiser, fused where torch has a fused kernel (elementwise either way)."""
    return torch.optim.Adam(parameters, lr=learning_rate, fused=device.type in ("cpu", "cuda"))


def _mlp_step(module: PaperMLPProbe, batch: torch.Tensor, onehot: torch.Tensor, batch_size: int) -> None:
    """Gradients of the paper's MLP for one batch: ``z = x w1 + b1``, ``a = relu(z)``,
    ``logits = a w2 + b2``; ``dlogits = (softmax - onehot) / B``, ``dw2 = a^T dlogits``,
    ``dz = (dlogits w2^T) * [z > 0]``, ``dw1 = x^T dz``."""
    pre_activation = torch.baddbmm(module.b1, batch, module.w1)
    activation = torch.relu(pre_activation)
    logits = torch.baddbmm(module.b2, activation, module.w2)
    logit_grad = torch.softmax(logits, dim=-1).sub_(onehot)
    logit_grad.div_(batch_size)
    torch.bmm(activation.transpose(1, 2), logit_grad, out=module.w2.grad)
    torch.sum(logit_grad, dim=1, keepdim=True, out=module.b2.grad)
    hidden_grad = torch.bmm(logit_grad, module.w2.transpose(1, 2))
    hidden_grad.mul_(pre_activation > 0)
    torch.bmm(batch.transpose(1, 2), hidden_grad, out=module.w1.grad)
    torch.sum(hidden_grad, dim=1, keepdim=True, out=module.b1.grad)


def _softmax_step(module: SoftmaxLinearProbe, batch: torch.Tensor, onehot: torch.Tensor, batch_size: int) -> None:
    """Gradients of softmax regression for one batch: ``dlogits = (softmax(x w + b) - onehot) / B``,
    ``dw = x^T dlogits``, ``db = sum dlogits``."""
    logit_grad = torch.softmax(torch.baddbmm(module.bias, batch, module.weight), dim=-1).sub_(onehot)
    logit_grad.div_(batch_size)
    torch.bmm(batch.transpose(1, 2), logit_grad, out=module.weight.grad)
    torch.sum(logit_grad, dim=1, keepdim=True, out=module.bias.grad)


#: Pooled probes trained without autograd: their parameters, in order, and one step's gradients.
HAND_WRITTEN = {"PaperMLPProbe": (("w1", "b1", "w2", "b2"), _mlp_step),
                "SoftmaxLinearProbe": (("weight", "bias"), _softmax_step)}


def _signature(split: LabelledSplit) -> tuple:
    """What must match for runs to step together: rows of the train and of every evaluated part."""
    return tuple((part, len(split.rows[part])) for part in ["train", *evaluated_parts(split)])


def pooled_passes(kind: ProbeKind, features: torch.Tensor, runs: Sequence[PooledRun], group_ids: Sequence[int],
                  eval_batch_size: int) -> list[list[int]]:
    """The runs trained together, as lists of indices into ``runs``: those with the same
    :func:`_signature`, in order of first appearance, at most ``PASS_BYTES`` per pass."""
    buckets: dict[tuple, list[int]] = {}
    for index, run in enumerate(runs):
        buckets.setdefault(_signature(run.split), []).append(index)
    per_pass = runs_per_pass(kind, features.shape[1], features.shape[2], len(group_ids),
                             len(runs[0].split.class_names), eval_batch_size, features.device.type)
    return [indices[start:start + per_pass] for indices in buckets.values()
            for start in range(0, len(indices), per_pass)]


def fit_pooled_grid(kind: ProbeKind, pooled: np.ndarray | torch.Tensor, runs: Sequence[PooledRun],
                    group_ids: Sequence[int], config, progress: bool = False) -> list[RunHistory]:
    """Train the groups ``group_ids`` of the pooled probe ``kind`` in every run of ``runs`` on
    ``pooled [N, S, D]`` features (rows as the splits index them); one :class:`RunHistory` per
    run, in order. ``config``: a :class:`serlib.probing.train.TrainingConfig`; its
    ``groups_per_pass`` trains that many groups at a time (the result does not depend on it).
    With ``progress``, a tqdm bar counts the steps of every pass (runs, passes and epochs done,
    and an ETA)."""
    if kind.input != "pooled" or kind.trainer != "torch":
        raise SerlibError(f"the pooled grid trains torch probes on pooled features, not {kind.name!r}")
    if not runs:
        return []
    if len({tuple(run.split.class_names) for run in runs}) > 1:
        raise SerlibError("the runs of one pooled grid must share their classes")
    device = torch.device(config.device)
    features = torch.as_tensor(np.asarray(pooled, dtype=np.float32)).to(device)
    chunk = config.groups_per_pass or len(group_ids)
    chunks = [list(group_ids)[start:start + chunk] for start in range(0, len(group_ids), chunk)]
    histories: list[RunHistory | None] = [None] * len(runs)
    passes = pooled_passes(kind, features, runs, chunks[0], config.eval_batch_size)
    steps = len(chunks) * config.epochs * sum(-(-len(runs[indices[0]].split.rows["train"]) // config.batch_size)
                                              for indices in passes)
    with tqdm(total=steps, disable=not progress, unit="step", dynamic_ncols=True,
              desc=f"{kind.name} x {len(group_ids)} probes x {len(runs)} runs") as bar:
        for number, indices in enumerate(passes, start=1):
            bar.set_postfix_str(f"pass {number}/{len(passes)} ({len(indices)} runs)")
            parts = [_fit_pass(kind, features, [runs[index] for index in indices], groups, config, bar)
                     for groups in chunks]
            for position, index in enumerate(indices):
                histories[index] = join_group_histories([part[position] for part in parts])
    return histories


class _PassInputs:
    """The features one pass reads: every run's rows gathered from the shared table, standardised
    with the run's statistics, shaped as the module takes them."""

    def __init__(self, kind: ProbeKind, features: torch.Tensor, runs: Sequence[PooledRun], group_ids: Sequence[int]):
        self.per_layer = kind.scope == "per_layer"
        self.runs = len(runs)
        states = list(group_ids) if self.per_layer else list(range(features.shape[1]))
        self.features = features[:, states].contiguous() if len(states) < features.shape[1] else features
        self.mean = self.scale = None
        if runs[0].statistics is not None:
            self.mean = torch.stack([torch.from_numpy(run.statistics[0][states]) for run in runs])[:, None]
            self.scale = torch.stack([torch.from_numpy(run.statistics[1][states]) for run in runs])[:, None]
            self.mean, self.scale = self.mean.to(features.device), self.scale.to(features.device)

    def gather(self, rows: torch.Tensor) -> torch.Tensor:
        """``[R, n]`` rows -> ``[R, n, S, D]`` standardised features."""
        values = self.features[rows]
        if self.mean is not None:
            values.sub_(self.mean).div_(self.scale)
        return values

    def logits(self, module: nn.Module, values: torch.Tensor) -> torch.Tensor:
        """``[G, n, C]`` logits of every group on its run's ``[R, n, S, D]`` features."""
        if self.per_layer:
            return module(self.per_group(values))
        return module(values, None, runs=self.runs)

    def per_group(self, values: torch.Tensor) -> torch.Tensor:
        """``[R, n, L, D]`` -> ``[R * L, n, D]``: group ``r * L + l`` reads hidden state l of run r."""
        runs, count, layers, width = values.shape
        return values.transpose(1, 2).reshape(runs * layers, count, width)


def _fit_pass(kind: ProbeKind, features: torch.Tensor, runs: Sequence[PooledRun], group_ids: Sequence[int],
              config, bar: tqdm) -> list[RunHistory]:
    """One pass: the groups ``group_ids`` of every run of ``runs`` (steps that line up)."""
    device = features.device
    num_runs, groups_per_run = len(runs), len(group_ids)
    num_classes = len(runs[0].split.class_names)
    module = kind.build_runs(features.shape[1], features.shape[2], num_classes, group_ids,
                             [run.seed for run in runs]).to(device)
    hand_written = HAND_WRITTEN.get(type(module).__name__)
    if hand_written:
        parameters = [getattr(module, name) for name in hand_written[0]]
        for parameter in parameters:
            parameter.grad = torch.zeros_like(parameter)
    else:
        parameters = list(module.parameters())
    optimiser = adam(parameters, config.learning_rate, device)
    inputs = _PassInputs(kind, features, runs, group_ids)
    train_rows = torch.stack([torch.as_tensor(run.split.rows["train"]) for run in runs]).to(device)
    train_labels = torch.stack([torch.as_tensor(run.split.labels["train"]) for run in runs]).to(device)
    train_onehot = F.one_hot(train_labels, num_classes).float()
    parts = evaluated_parts(runs[0].split)
    eval_rows = torch.stack([torch.as_tensor(np.concatenate([run.split.rows[part] for part in parts]))
                             for run in runs]).to(device)
    generators = [torch.Generator().manual_seed(int(run.seed)) for run in runs]
    run_index = torch.arange(num_runs, device=device)[:, None]
    logits_history, weights_history = [], []
    for _ in range(config.epochs):
        module.train()
        epochs = [epoch_batches(train_rows.shape[1], config.batch_size, generator) for generator in generators]
        for step in range(len(epochs[0])):
            positions = torch.stack([epoch[step] for epoch in epochs]).to(device)  # [R, B]
            batch_size = positions.shape[1]
            values = inputs.gather(train_rows[run_index, positions])
            if hand_written:
                with torch.no_grad():
                    onehot = (train_onehot[run_index, positions][:, None].expand(-1, groups_per_run, -1, -1)
                              .reshape(num_runs * groups_per_run, batch_size, num_classes))
                    hand_written[1](module, inputs.per_group(values), onehot, batch_size)
            else:
                logits = inputs.logits(module, values)
                targets = train_labels[run_index, positions][:, None].expand(-1, groups_per_run, -1).reshape(-1)
                loss = F.cross_entropy(logits.reshape(-1, num_classes), targets, reduction="sum") / batch_size
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
            optimiser.step()
            bar.update(1)
        module.eval()
        with torch.no_grad():
            logits_history.append(torch.cat([
                inputs.logits(module, inputs.gather(eval_rows[:, start:start + config.eval_batch_size])).cpu()
                for start in range(0, eval_rows.shape[1], config.eval_batch_size)], dim=1))
            if hasattr(module, "layer_weights"):
                weights_history.append(module.layer_weights().cpu().numpy())
    logits = torch.stack(logits_history).numpy()  # [E, R * g, N_eval, C]
    weights = np.stack(weights_history) if weights_history else None  # [E, R * g, S]
    bounds = np.cumsum([0] + [len(runs[0].split.rows[part]) for part in parts])
    histories = []
    for run in range(num_runs):
        groups = slice(run * groups_per_run, (run + 1) * groups_per_run)
        by_part = {part: logits[:, groups, bounds[index]:bounds[index + 1]] for index, part in enumerate(parts)}
        histories.append(RunHistory(by_part.pop("dev"), by_part.pop("test"),
                                    None if weights is None else weights[:, groups], by_part))
    return histories


__all__ = ["HAND_WRITTEN", "PooledRun", "adam", "fit_pooled_grid", "pooled_passes"]
