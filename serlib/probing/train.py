"""Training probes for all layers x seeds of one model x corpus, with dev-based epoch selection.

The protocol is the paper's (arXiv 2308.08713, code v1.5) with every number settable: Adam,
learning rate 1e-3, batch 32, cross-entropy, 30 epochs, no early stopping; after every epoch
the dev and test predictions are kept, and per probe the epoch with the best DEV accuracy
(the first one on ties) is selected and its dev and test metrics reported.

All probes of one run (all hidden states, or all k of the cumulative probe) are trained at once
as one batched computation (see :mod:`serlib.probing.probes`). Randomness is arranged so that batching
changes nothing: in run ``seed`` the order of training utterances in every epoch comes from one
generator seeded with ``seed`` and shared by all probes, and probe ``g`` is initialised from
``group_init_seed(seed, g)``. Training one hidden state alone with the same seed therefore
gives the same probe (to float rounding) as training it among all the others.

The paper's "linear" probe and softmax regression on pooled features have a hand-written
forward/backward over all layers and seeds with a fused Adam step (:func:`_fit_pooled_fused`),
since their cost is nothing but a few batched matrix products; every other probe is trained
with autograd (:func:`_fit_autograd`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from serlib.common.errors import SerlibError
from serlib.probing.columns import LAYER_WEIGHT_COLUMNS, PREDICTION_COLUMNS, RESULT_COLUMNS  # noqa: F401
from serlib.probing.metrics import accuracy_per_row, classification_metrics
from serlib.probing.kinds import ProbeKind, get_probe_kind
from serlib.probing.probes import PaperMLPProbe, SoftmaxLinearProbe, group_init_seed
from serlib.probing.inputs import (SPLIT_COLUMNS, FeatureFolder, LabelledSplit,  # noqa: F401 (re-exported)
                                   RunLabels, describe_run, join_split, load_feature_folder,
                                   read_split_table,
                                   subsample_train)

#: Part of every probe cache key: bump it when a change to training changes results.
TRAINING_CODE_VERSION = 2

# --------------------------------------------------------------------------- probe inputs


class ProbeInputs:
    """Builds the input tensors of a probe for a list of feature rows.

    Pooled features are read into memory once; frames are read from the memory-mapped store one
    batch at a time, converted float16 -> float32 and padded, with a ``[B, T]`` validity mask.

    With ``standardize_rows`` (the training rows), every feature dimension of every hidden state
    is standardised with the mean and standard deviation of those rows only (of their frames,
    for frame-level probes), so nothing is learnt from dev or test.
    """

    def __init__(self, folder: FeatureFolder, kind: ProbeKind, device: torch.device,
                 standardize_rows: np.ndarray | None = None) -> None:
        self.kind = kind
        self.device = device
        self.folder = folder
        if kind.input == "frames" and folder.frames is None:
            raise SerlibError(f"{folder.path}: probe {kind.name!r} needs the frame store "
                              "(frames.npy); extract with frames kept, or use a pooled probe")
        pooled = np.array(folder.pooled, dtype=np.float32)
        self.frame_mean = self.frame_scale = None
        if standardize_rows is not None:
            mean, scale = feature_statistics(pooled[standardize_rows])
            pooled = (pooled - mean) / scale
            if kind.input == "frames":
                frames = (folder.frames[int(row)] for row in standardize_rows)
                self.frame_mean, self.frame_scale = streaming_statistics(frames)
        self.pooled = torch.from_numpy(pooled)

    def batch(self, rows: np.ndarray, group_ids: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(features, mask)`` for ``rows`` shaped as the probe's module expects."""
        per_layer = self.kind.scope == "per_layer"
        if self.kind.input == "pooled":
            pooled = self.pooled[torch.as_tensor(rows)]
            if per_layer:
                pooled = pooled[:, list(group_ids)].transpose(0, 1)
            return pooled.contiguous().to(self.device), None
        layers = list(group_ids) if per_layer else list(range(self.folder.num_hidden_states))
        frames, mask = self._padded_frames(rows, layers)
        if per_layer:
            frames = frames.permute(2, 0, 1, 3)
        return frames.to(self.device), mask.to(self.device)

    def _padded_frames(self, rows: np.ndarray, layers: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, T_max, len(layers), D]`` float32 frames and the ``[B, T_max]`` mask of real frames."""
        utterances = [self.folder.frames[int(row)] for row in rows]
        lengths = [len(frames) for frames in utterances]
        frame_dim = utterances[0].shape[-1]
        padded = np.zeros((len(rows), max(lengths), len(layers), frame_dim), dtype=np.float32)
        mask = np.zeros((len(rows), max(lengths)), dtype=bool)
        for position, (frames, length) in enumerate(zip(utterances, lengths)):
            padded[position, :length] = frames[:, layers]
            mask[position, :length] = True
        if self.frame_mean is not None:
            padded = (padded - self.frame_mean[layers]) / self.frame_scale[layers]
            padded[~mask] = 0.0
        return torch.from_numpy(padded), torch.from_numpy(mask)


def feature_statistics(rows: np.ndarray, floor: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over the first axis (``[N, S, D]`` -> two ``[S, D]``);
    dimensions that do not vary get scale 1."""
    mean = rows.mean(axis=0, dtype=np.float64)
    scale = rows.std(axis=0, dtype=np.float64)
    return mean.astype(np.float32), np.where(scale > floor, scale, 1.0).astype(np.float32)


def streaming_statistics(chunks, floor: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """:func:`feature_statistics` over the concatenation of ``chunks`` (each ``[T_i, S, D]``),
    read one chunk at a time (frame stores do not fit in memory)."""
    count, total, total_squares = 0, 0.0, 0.0
    for chunk in chunks:
        chunk = np.asarray(chunk, dtype=np.float64)
        count += len(chunk)
        total = total + chunk.sum(axis=0)
        total_squares = total_squares + np.square(chunk).sum(axis=0)
    mean = total / count
    scale = np.sqrt(np.maximum(total_squares / count - np.square(mean), 0.0))
    return mean.astype(np.float32), np.where(scale > floor, scale, 1.0).astype(np.float32)


# --------------------------------------------------------------------------- training


@dataclass
class TrainingConfig:
    """The paper's training protocol by default; ``groups_per_pass`` limits how many probes are
    trained in one batched pass (``None``: all), to bound memory for frame-level probes."""

    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    eval_batch_size: int = 256
    groups_per_pass: int | None = None
    device: str = "cpu"
    standardize: bool = False


@dataclass
class RunHistory:
    """Per-epoch predictions of one training run of ``G`` probes."""

    dev_predictions: np.ndarray  # int [E, G, N_dev]
    test_predictions: np.ndarray  # int [E, G, N_test]
    layer_weights: np.ndarray | None = None  # float [E, G, S] for probes that learn layer weights


@dataclass
class _Batches:
    """The shuffled mini-batches of one training run: one generator per seed, shared by all groups."""

    num_train: int
    batch_size: int
    seed: int
    generator: torch.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.generator = torch.Generator().manual_seed(int(self.seed))

    def epoch(self) -> list[torch.Tensor]:
        order = torch.randperm(self.num_train, generator=self.generator)
        return list(torch.split(order, self.batch_size))


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; other names are passed to torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _adam(parameters: list[nn.Parameter], learning_rate: float, device: torch.device,
          fused: bool) -> torch.optim.Adam:
    if fused and device.type in ("cpu", "cuda"):
        return torch.optim.Adam(parameters, lr=learning_rate, fused=True)
    return torch.optim.Adam(parameters, lr=learning_rate)


def _fit_autograd(module: nn.Module, inputs: ProbeInputs, split: LabelledSplit,
                  group_ids: Sequence[int], seed: int, config: TrainingConfig) -> RunHistory:
    """Train any probe module with autograd; the loss is the sum over groups of each group's mean
    cross-entropy, so every group receives exactly the gradient it would receive alone."""
    device = inputs.device
    module.to(device)
    optimiser = _adam(list(module.parameters()), config.learning_rate, device, fused=False)
    train_rows, train_labels = split.rows["train"], torch.as_tensor(split.labels["train"])
    batches = _Batches(len(train_rows), config.batch_size, seed)
    history: dict[str, list] = {"dev": [], "test": [], "weights": []}
    for _ in range(config.epochs):
        module.train()
        for batch_positions in batches.epoch():
            features, mask = inputs.batch(train_rows[batch_positions.numpy()], group_ids)
            logits = module(features, mask)  # [G, B, C]
            targets = train_labels[batch_positions].to(device).repeat(logits.shape[0])
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets,
                                   reduction="sum") / len(batch_positions)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        module.eval()
        with torch.no_grad():
            for split_name in ("dev", "test"):
                history[split_name].append(_predict(module, inputs, split.rows[split_name],
                                                    group_ids, config.eval_batch_size))
            if hasattr(module, "layer_weights"):
                history["weights"].append(module.layer_weights().cpu().numpy())
    weights = np.stack(history["weights"]) if history["weights"] else None
    return RunHistory(np.stack(history["dev"]), np.stack(history["test"]), weights)


def _predict(module: nn.Module, inputs: ProbeInputs, rows: np.ndarray, group_ids: Sequence[int],
             eval_batch_size: int) -> np.ndarray:
    """``[G, len(rows)]`` predicted class indices."""
    predictions = []
    for start in range(0, len(rows), eval_batch_size):
        features, mask = inputs.batch(rows[start:start + eval_batch_size], group_ids)
        predictions.append(module(features, mask).argmax(dim=-1).cpu())
    return torch.cat(predictions, dim=1).numpy()


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


def _group_logits(module: nn.Module, groups: slice, features: torch.Tensor) -> torch.Tensor:
    """Logits of the groups ``groups`` of a fused pooled probe on ``[G, N, D]`` features."""
    if isinstance(module, PaperMLPProbe):
        hidden = torch.relu(torch.baddbmm(module.b1[groups], features, module.w1[groups]))
        return torch.baddbmm(module.b2[groups], hidden, module.w2[groups])
    return torch.baddbmm(module.bias[groups], features, module.weight[groups])


#: Pooled probes trained without autograd: their parameters, in order, and one step's gradients.
FUSED_POOLED_PROBES = {"PaperMLPProbe": (("w1", "b1", "w2", "b2"), _mlp_step),
                       "SoftmaxLinearProbe": (("weight", "bias"), _softmax_step)}


def _fit_pooled_fused(module: nn.Module, inputs: ProbeInputs, split: LabelledSplit,
                      group_ids: Sequence[int], seeds: Sequence[int], config: TrainingConfig) -> list[RunHistory]:
    """The paper's MLP probe or softmax regression on pooled features, for all groups of all
    ``seeds`` at once, without autograd; one :class:`RunHistory` per seed.

    ``module`` holds ``len(seeds) x len(group_ids)`` groups, seed-major. Every seed draws its own
    mini-batches (its own shuffling generator), so seed s trains exactly as it would alone; one
    step gathers every seed's batch and runs all groups in the same batched products, with the
    hand-written gradients of :data:`FUSED_POOLED_PROBES`, then one fused Adam step over all
    groups (Adam is elementwise, so fusing groups changes nothing).
    """
    device = inputs.device
    module.to(device)
    names, step_gradients = FUSED_POOLED_PROBES[type(module).__name__]
    parameters = [getattr(module, name) for name in names]
    for parameter in parameters:
        parameter.grad = torch.zeros_like(parameter)
    optimiser = _adam(parameters, config.learning_rate, device, fused=True)
    layers = list(group_ids)
    num_seeds, num_layers = len(seeds), len(layers)
    pooled = inputs.pooled
    train_features = pooled[torch.as_tensor(split.rows["train"])][:, layers].contiguous().to(device)
    eval_rows = np.concatenate([split.rows["dev"], split.rows["test"]])
    eval_features = pooled[torch.as_tensor(eval_rows)][:, layers].transpose(0, 1).contiguous().to(device)
    num_classes = len(split.class_names)
    train_onehot = F.one_hot(torch.as_tensor(split.labels["train"]), num_classes).float().to(device)
    seed_batches = [_Batches(len(train_features), config.batch_size, seed) for seed in seeds]
    num_dev = len(split.rows["dev"])
    eval_history = []
    with torch.no_grad():
        for _ in range(config.epochs):
            epochs = [batches.epoch() for batches in seed_batches]
            for step in range(len(epochs[0])):
                positions = torch.stack([epoch[step] for epoch in epochs]).to(device)  # [S, B]
                batch_size = positions.shape[1]
                gathered = train_features[positions.reshape(-1)]  # [S*B, L, D]
                if num_seeds == 1:
                    batch = gathered.transpose(0, 1)  # [L, B, D], a view
                else:
                    batch = (gathered.view(num_seeds, batch_size, num_layers, -1).transpose(1, 2)
                             .reshape(num_seeds * num_layers, batch_size, -1))
                onehot = (train_onehot[positions][:, None].expand(-1, num_layers, -1, -1)
                          .reshape(num_seeds * num_layers, batch_size, num_classes))
                step_gradients(module, batch, onehot, batch_size)
                optimiser.step()
            eval_history.append(torch.cat([
                _group_logits(module, slice(s * num_layers, (s + 1) * num_layers), eval_features).argmax(dim=-1).cpu()
                for s in range(num_seeds)]))
    predictions = torch.stack(eval_history).numpy()  # [E, S*L, N_eval]
    return [RunHistory(predictions[:, s * num_layers:(s + 1) * num_layers, :num_dev],
                       predictions[:, s * num_layers:(s + 1) * num_layers, num_dev:])
            for s in range(num_seeds)]


def _uses_fused_path(kind: ProbeKind) -> bool:
    return kind.module_name in FUSED_POOLED_PROBES and kind.input == "pooled"


def fit_groups(kind: ProbeKind, folder: FeatureFolder, split: LabelledSplit, group_ids: Sequence[int],
               seed: int, config: TrainingConfig, inputs: ProbeInputs | None = None) -> RunHistory:
    """Train the probes ``group_ids`` of ``kind`` in run ``seed``, ``groups_per_pass`` at a time.

    The result does not depend on ``groups_per_pass``: each pass re-creates the shuffling stream
    of ``seed`` and each group its own initialisation.
    """
    return fit_seeds(kind, folder, split, group_ids, [seed], config, inputs)[0]


def fit_seeds(kind: ProbeKind, folder: FeatureFolder, split: LabelledSplit, group_ids: Sequence[int],
              seeds: Sequence[int], config: TrainingConfig, inputs: ProbeInputs | None = None) -> list[RunHistory]:
    """:func:`fit_groups` for every seed of ``seeds``. The paper's MLP and softmax regression on
    pooled features train all seeds and groups in one batched pass (unless ``groups_per_pass``
    limits it); other probes train seed by seed. Either way seed s gives what it gives alone."""
    inputs = inputs or ProbeInputs(folder, kind, resolve_device(config.device))
    if _uses_fused_path(kind) and config.groups_per_pass is None:
        module = kind.module_class(folder.input_dim(kind), len(split.class_names),
                                   [group_init_seed(seed, group) for seed in seeds for group in group_ids])
        return _fit_pooled_fused(module, inputs, split, group_ids, seeds, config)
    chunk = config.groups_per_pass or len(group_ids)
    runs = []
    for seed in seeds:
        histories = []
        for start in range(0, len(group_ids), chunk):
            chunk_ids = list(group_ids)[start:start + chunk]
            module = kind.build(folder.num_hidden_states, folder.input_dim(kind), len(split.class_names),
                                chunk_ids, seed)
            if _uses_fused_path(kind):
                histories.append(_fit_pooled_fused(module, inputs, split, chunk_ids, [seed], config)[0])
            else:
                histories.append(_fit_autograd(module, inputs, split, chunk_ids, seed, config))
        weights = [history.layer_weights for history in histories]
        runs.append(RunHistory(
            np.concatenate([history.dev_predictions for history in histories], axis=1),
            np.concatenate([history.test_predictions for history in histories], axis=1),
            None if weights[0] is None else np.concatenate(weights, axis=1),
        ))
    return runs


def best_dev_epochs(dev_predictions: np.ndarray, dev_labels: np.ndarray) -> np.ndarray:
    """Per group, the index of the epoch with the highest dev accuracy (the first on ties)."""
    return np.argmax(accuracy_per_row(dev_labels, dev_predictions), axis=0)


def group_ids_for(kind: ProbeKind, num_hidden_states: int) -> tuple[list[int], list]:
    """The group ids of a probe kind and their ``layer`` labels for the results table."""
    if kind.scope == "per_layer":
        ids = list(range(num_hidden_states))
        return ids, ids
    if kind.scope == "cumulative":
        ids = list(range(1, num_hidden_states))
        return ids, [f"1-{k}" for k in ids]
    return [0], ["all"]


# --------------------------------------------------------------------------- the whole run


@dataclass
class ProbeRun:
    """Everything one :func:`train_probe` call learnt.

    ``results``: tidy metrics (:data:`RESULT_COLUMNS`) at the dev-chosen epoch of every fold x
    seed x layer; ``layer_weights``: learned layer weights at that epoch
    (:data:`LAYER_WEIGHT_COLUMNS`, empty for probes without them); ``predictions``: one row per
    dev and test utterance of every fold x seed x layer (:data:`PREDICTION_COLUMNS`), from which
    every metric can be recomputed and paired comparisons made.
    """

    results: pd.DataFrame
    layer_weights: pd.DataFrame
    predictions: pd.DataFrame


def _prediction_frame(labels: RunLabels, protocol: str, fold: int, seed: int, layer_labels: list,
                      split: LabelledSplit, folder: FeatureFolder, chosen: dict[str, np.ndarray]) -> pd.DataFrame:
    """Predictions of every group for the dev and test rows of one fold x seed (as label names)."""
    class_names = np.asarray(split.class_names, dtype=object)
    utterance_ids = np.asarray(folder.utterance_ids, dtype=object)
    frames = []
    for split_name in ("dev", "test"):
        rows = split.rows[split_name]
        count = len(rows)
        for group_index, layer_label in enumerate(layer_labels):
            frames.append(pd.DataFrame({
                "layer": str(layer_label), "split": split_name,
                "utterance_id": utterance_ids[rows],
                "speaker": split.speakers[split_name] if split.speakers else np.full(count, ""),
                "label": class_names[split.labels[split_name]],
                "predicted": class_names[chosen[split_name][group_index]],
            }))
    table = pd.concat(frames, ignore_index=True)
    for column, value in reversed((("corpus", labels.corpus), ("model", labels.model),
                                   ("probe", labels.probe), ("protocol", protocol),
                                   ("fold", fold), ("seed", seed))):
        table.insert(0, column, value)
    return table.loc[:, PREDICTION_COLUMNS]


def train_probe(feature_dir: str | Path, split_csv: str | Path | pd.DataFrame, probe: str = "linear",
                seeds: int | Sequence[int] = 5, epochs: int = 30, batch_size: int = 32,
                learning_rate: float = 1e-3, device: str = "auto", groups_per_pass: int | None = None,
                corpus: str | None = None, model: str | None = None,
                language: str | None = None,
                train_fraction: float | None = None,
                standardize: bool = False, protocol: str | None = None) -> ProbeRun:
    """Train ``probe`` for every layer (or k), seed and fold of a split on one feature folder.

    Every fold of the split (``fold`` column; a split without one is a single fold) is trained
    on its own train part, with its epoch chosen on its own dev part, and scored on its dev and
    test parts. ``seeds`` is a count (seeds 0..n-1) or an explicit list. With
    ``train_fraction``, each seed trains on its own stratified subsample of the train part
    (:func:`subsample_train`; dev and test unchanged) and the results get a ``train_fraction``
    column. ``standardize`` scales every feature dimension with the statistics of the fold's
    train part alone (the paper fed raw features; see :class:`ProbeInputs`). ``protocol`` is
    recorded in every row (default: read from the split file's name, else ``custom``).
    """
    from serlib.data.splits import protocol_of_split_file

    kind = get_probe_kind(probe)
    folder = load_feature_folder(feature_dir)
    table, _ = read_split_table(split_csv)
    if protocol is None:
        protocol = "custom" if isinstance(split_csv, pd.DataFrame) else protocol_of_split_file(split_csv)
    labels = describe_run(folder, probe, corpus, model, language)
    config = TrainingConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                            groups_per_pass=groups_per_pass, device=str(resolve_device(device)),
                            standardize=standardize)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(seed) for seed in seeds]
    group_ids, layer_labels = group_ids_for(kind, folder.num_hidden_states)
    if not group_ids or (kind.scope != "per_layer" and folder.num_hidden_states < 2):
        raise SerlibError(f"probe {probe!r} combines hidden states, but {folder.path} has "
                          f"{folder.num_hidden_states}; use a per-layer probe (linear, softmax)")
    result_rows, weight_rows, predictions = [], [], []
    for fold in sorted(int(fold) for fold in table["fold"].unique()):
        split = join_split(folder, table, fold)
        inputs = ProbeInputs(folder, kind, resolve_device(config.device),
                             split.rows["train"] if standardize else None)
        if train_fraction is None:  # every seed on the same train part: one batched pass where possible
            histories = fit_seeds(kind, folder, split, group_ids, seed_list, config, inputs)
        else:  # each seed on its own subsample of the train part
            histories = [fit_groups(kind, folder, subsample_train(split, train_fraction, seed), group_ids,
                                    seed, config, inputs) for seed in seed_list]
        for seed, history in zip(seed_list, histories):
            best = best_dev_epochs(history.dev_predictions, split.labels["dev"])
            groups = np.arange(len(layer_labels))
            chosen = {"dev": history.dev_predictions[best, groups],
                      "test": history.test_predictions[best, groups]}
            predictions.append(_prediction_frame(labels, protocol, fold, seed, layer_labels,
                                                 split, folder, chosen))
            for group_index, layer_label in enumerate(layer_labels):
                epoch = int(best[group_index])
                for split_name in ("dev", "test"):
                    scores = classification_metrics(split.labels[split_name], chosen[split_name][group_index])
                    for metric, value in scores.items():
                        result_rows.append([labels.corpus, labels.language, labels.model, labels.probe,
                                            protocol, fold, layer_label, seed, split_name, metric,
                                            value, epoch + 1])
                if history.layer_weights is not None:
                    for layer, weight in enumerate(history.layer_weights[epoch, group_index]):
                        weight_rows.append([labels.corpus, labels.model, labels.probe, protocol,
                                            fold, seed, layer, float(weight), layer_label])
    results = pd.DataFrame(result_rows, columns=RESULT_COLUMNS)
    prediction_table = pd.concat(predictions, ignore_index=True)
    if train_fraction is not None:
        results["train_fraction"] = float(train_fraction)
        prediction_table["train_fraction"] = float(train_fraction)
    return ProbeRun(results, pd.DataFrame(weight_rows, columns=LAYER_WEIGHT_COLUMNS), prediction_table)


def run_probe(feature_dir: str | Path, split_csv: str | Path | pd.DataFrame, probe: str = "linear",
              **settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`train_probe` without the per-utterance predictions: ``(results, layer_weights)``."""
    run = train_probe(feature_dir, split_csv, probe, **settings)
    return run.results, run.layer_weights
