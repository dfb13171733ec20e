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
from serlib.probing.histories import (FoldRuns, ProbeRun, RunHistory, feature_statistics, join_group_histories,
                                      probe_run_tables, streaming_statistics)
from serlib.probing.kinds import ProbeKind, get_probe_kind
from serlib.probing.probes import PaperMLPProbe, SoftmaxLinearProbe, group_init_seed
from serlib.probing.inputs import (FeatureFolder, LabelledSplit,  # noqa: F401 (re-exported)
                                   TestCopies, describe_run, evaluated_parts, join_split, load_feature_folder,
                                   read_split_table, subsample_train)

#: Part of every probe cache key: bump it when a change to training changes results.
TRAINING_CODE_VERSION = 4

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
    optimiser = _adam(list(module.parameters()), config.learning_rate, device, fused=True)
    train_rows, train_labels = split.rows["train"], torch.as_tensor(split.labels["train"])
    batches = _Batches(len(train_rows), config.batch_size, seed)
    parts = evaluated_parts(split)
    history: dict[str, list] = {**{part: [] for part in parts}, "weights": []}
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
            for split_name in parts:
                history[split_name].append(_predict(module, inputs, split.rows[split_name],
                                                    group_ids, config.eval_batch_size))
            if hasattr(module, "layer_weights"):
                history["weights"].append(module.layer_weights().cpu().numpy())
    weights = np.stack(history["weights"]) if history["weights"] else None
    return RunHistory(np.stack(history["dev"]), np.stack(history["test"]), weights,
                      {part: np.stack(history[part]) for part in parts[2:]})


def _predict(module: nn.Module, inputs: ProbeInputs, rows: np.ndarray, group_ids: Sequence[int],
             eval_batch_size: int) -> np.ndarray:
    """``[G, len(rows), C]`` logits."""
    logits = []
    for start in range(0, len(rows), eval_batch_size):
        features, mask = inputs.batch(rows[start:start + eval_batch_size], group_ids)
        logits.append(module(features, mask).float().cpu())
    return torch.cat(logits, dim=1).numpy()


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
    parts = evaluated_parts(split)
    eval_rows = np.concatenate([split.rows[part] for part in parts])
    eval_features = pooled[torch.as_tensor(eval_rows)][:, layers].transpose(0, 1).contiguous().to(device)
    num_classes = len(split.class_names)
    train_onehot = F.one_hot(torch.as_tensor(split.labels["train"]), num_classes).float().to(device)
    seed_batches = [_Batches(len(train_features), config.batch_size, seed) for seed in seeds]
    bounds = np.cumsum([0] + [len(split.rows[part]) for part in parts])
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
                _group_logits(module, slice(s * num_layers, (s + 1) * num_layers), eval_features).cpu()
                for s in range(num_seeds)]))
    logits = torch.stack(eval_history).numpy()  # [E, S*L, N_eval, C]
    histories = []
    for s in range(num_seeds):
        by_part = {part: logits[:, s * num_layers:(s + 1) * num_layers, bounds[index]:bounds[index + 1]]
                   for index, part in enumerate(parts)}
        histories.append(RunHistory(by_part.pop("dev"), by_part.pop("test"), None, by_part))
    return histories


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
        runs.append(join_group_histories(histories))
    return runs


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


def _frame_fold_runs(kind: ProbeKind, folder: FeatureFolder, splits: list[tuple[int, LabelledSplit]],
                     seeds: list[int], config: TrainingConfig, progress: bool) -> list[FoldRuns]:
    """Frame-level probes of a store with kept frames, through the fused grid
    (:mod:`serlib.probing.frame_grid`); ``groups_per_pass`` hidden states at a time."""
    from serlib.features.frames import FrameBank
    from serlib.probing.frame_grid import FrameFold, fit_frame_grid

    if folder.frames is None:
        raise SerlibError(f"{folder.path}: probe {kind.name!r} needs the frame store "
                          "(frames.npy); extract with frames kept, or use a pooled probe")
    layer_chunks = [None]
    if kind.scope == "per_layer" and config.groups_per_pass:
        layers = list(range(folder.num_hidden_states))
        layer_chunks = [layers[start:start + config.groups_per_pass]
                        for start in range(0, len(layers), config.groups_per_pass)]
    folds = [FrameFold(fold, split) for fold, split in splits]
    parts = []
    for layers in layer_chunks:
        bank = FrameBank.from_store(folder.path, layers, device=config.device)
        parts.append(fit_frame_grid(kind, bank, folds, seeds, config, config.standardize, progress))
        bank.drop()
    return [FoldRuns(fold, split, {seed: join_group_histories([part[(fold, seed)] for part in parts])
                                   for seed in seeds}) for fold, split in splits]


def speaker_standardized(folder: FeatureFolder, split_table: pd.DataFrame) -> FeatureFolder:
    """``folder`` with every utterance's pooled features standardised with the mean and standard
    deviation of its speaker's utterances (per hidden state and dimension), speakers as the split
    table names them; an utterance the table does not name keeps its features."""
    speaker_of = split_table.drop_duplicates("utterance_id").set_index("utterance_id")["speaker"]
    speakers = pd.Series(folder.utterance_ids).map(speaker_of)
    pooled = np.array(folder.pooled, dtype=np.float32)
    for _, rows in speakers.dropna().groupby(speakers.dropna()).groups.items():
        rows = np.asarray(rows)
        mean, scale = feature_statistics(pooled[rows])
        pooled[rows] = (pooled[rows] - mean) / scale
    return FeatureFolder(folder.path, pooled, folder.utterance_ids, folder.index, folder.frames)


def train_probe(feature_dir: str | Path, split_csv: str | Path | pd.DataFrame, probe: str = "linear",
                seeds: int | Sequence[int] = 5, epochs: int = 30, batch_size: int = 32,
                learning_rate: float = 1e-3, device: str = "auto", groups_per_pass: int | None = None,
                corpus: str | None = None, model: str | None = None,
                language: str | None = None,
                train_fraction: float | None = None,
                standardize: bool | str = False, protocol: str | None = None,
                progress: bool = False, test_copies: dict[str, str | Path] | None = None) -> ProbeRun:
    """Train ``probe`` for every layer (or k), seed and fold of a split on one feature folder.

    Every fold of the split (``fold`` column; a split without one is a single fold) is trained
    on its own train part, with its epoch chosen on its own dev part, and scored on its dev and
    test parts. ``seeds`` is a count (seeds 0..n-1) or an explicit list. With
    ``train_fraction``, each seed trains on its own stratified subsample of the train part
    (:func:`subsample_train`; dev and test unchanged) and the results get a ``train_fraction``
    column. ``standardize`` scales every feature dimension with the statistics of the fold's
    train part alone (the paper fed raw features; see :class:`ProbeInputs`). ``protocol`` is
    recorded in every row (default: read from the split file's name, else ``custom``).
    ``standardize="speaker"`` standardises every utterance with the statistics of its own
    speaker's utterances (all of them, whatever their part: a common SER practice that uses the
    test speaker's unlabelled audio) instead of the train part's.
    ``test_copies`` (condition -> feature folder of a degraded copy of the corpus) scores the
    probes trained on the clean train part on the copies of each fold's test utterances too
    (parts ``test@<condition>`` of the tables; pooled probes only).
    Frame-level probes (``dense``, ``aggregate``) train every fold and seed at once on the
    frames held in memory (:mod:`serlib.probing.frame_grid`); ``progress`` shows their bar.
    """
    from serlib.data.splits import protocol_of_split_file

    kind = get_probe_kind(probe)
    folder = load_feature_folder(feature_dir)
    table, _ = read_split_table(split_csv)
    if standardize == "speaker":
        folder, standardize = speaker_standardized(folder, table), False
    copies = TestCopies.of(folder, test_copies) if test_copies else None
    if copies is not None and kind.input == "frames":
        raise SerlibError(f"degraded test copies are scored by pooled probes; {probe!r} reads frames")
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
    splits = [(fold, join_split(folder, table, fold))
              for fold in sorted(int(fold) for fold in table["fold"].unique())]
    if copies is not None:  # rows of the copies follow the clean ones'
        splits = [(fold, copies.split(split)) for fold, split in splits]
        folder = copies.folder
    if kind.trainer == "sklearn":  # aggregate-concat: no epochs, batches or device
        from serlib.probing.concat import chosen_regularisation, concat_fold_runs

        folds = concat_fold_runs(folder, splits, seed_list, bool(standardize), train_fraction=train_fraction)
    elif kind.input == "frames":
        if train_fraction is not None:
            raise SerlibError(f"train fractions are run on pooled probes; {probe!r} reads frames")
        folds = _frame_fold_runs(kind, folder, splits, seed_list, config, progress)
    else:
        folds = []
        for fold, split in splits:
            inputs = ProbeInputs(folder, kind, resolve_device(config.device),
                                 split.rows["train"] if standardize else None)
            if train_fraction is None:  # every seed on the same train part: one batched pass where possible
                histories = fit_seeds(kind, folder, split, group_ids, seed_list, config, inputs)
            else:  # each seed on its own subsample of the train part
                histories = [fit_groups(kind, folder, subsample_train(split, train_fraction, seed), group_ids,
                                        seed, config, inputs) for seed in seed_list]
            folds.append(FoldRuns(fold, split, dict(zip(seed_list, histories))))
    run = probe_run_tables(labels, protocol, folds, layer_labels, folder.utterance_ids)
    if kind.trainer == "sklearn":
        run.results["regularisation_C"] = chosen_regularisation(run.results)
    if train_fraction is not None:
        run.results["train_fraction"] = float(train_fraction)
        run.predictions["train_fraction"] = float(train_fraction)
    return run


def run_probe(feature_dir: str | Path, split_csv: str | Path | pd.DataFrame, probe: str = "linear",
              **settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`train_probe` without the per-utterance predictions: ``(results, layer_weights)``."""
    run = train_probe(feature_dir, split_csv, probe, **settings)
    return run.results, run.layer_weights
