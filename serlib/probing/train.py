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

Probes on pooled features train every hidden state x seed x fold whose steps line up in one
batched pass (:mod:`serlib.probing.pooled_grid`); frame-level probes train in the fused frame
grid (:mod:`serlib.probing.frame_grid`). :func:`_fit_autograd` is the one-run-at-a-time
autograd loop, kept as the reference the fused paths are tested against (and for modules no
kind names yet).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from serlib.common.errors import SerlibError
from serlib.probing.histories import (FoldRuns, ProbeRun, RunHistory, feature_statistics, join_group_histories,
                                      probe_run_tables, streaming_statistics)
from serlib.probing.kinds import ProbeKind, get_probe_kind, group_ids_for
from serlib.probing.pooled_grid import PooledRun, adam, fit_pooled_grid
from serlib.probing.probes import epoch_batches
from serlib.probing.inputs import (FeatureFolder, LabelledSplit,  # noqa: F401 (re-exported)
                                   TestCopies, describe_run, evaluated_parts, join_split, load_feature_folder,
                                   read_split_table, subsample_train)

#: Part of every probe cache key: bump it when a change to training changes results.
TRAINING_CODE_VERSION = 5

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


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; other names are passed to torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _fit_autograd(module: nn.Module, inputs: ProbeInputs, split: LabelledSplit,
                  group_ids: Sequence[int], seed: int, config: TrainingConfig) -> RunHistory:
    """Train any probe module with autograd; the loss is the sum over groups of each group's mean
    cross-entropy, so every group receives exactly the gradient it would receive alone."""
    device = inputs.device
    module.to(device)
    optimiser = adam(list(module.parameters()), config.learning_rate, device)
    train_rows, train_labels = split.rows["train"], torch.as_tensor(split.labels["train"])
    generator = torch.Generator().manual_seed(int(seed))
    parts = evaluated_parts(split)
    history: dict[str, list] = {**{part: [] for part in parts}, "weights": []}
    for _ in range(config.epochs):
        module.train()
        for batch_positions in epoch_batches(len(train_rows), config.batch_size, generator):
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


def fit_groups(kind: ProbeKind, folder: FeatureFolder, split: LabelledSplit, group_ids: Sequence[int],
               seed: int, config: TrainingConfig, inputs: ProbeInputs | None = None) -> RunHistory:
    """Train the probes ``group_ids`` of ``kind`` in run ``seed``, ``groups_per_pass`` at a time.

    The result does not depend on ``groups_per_pass``: each pass re-creates the shuffling stream
    of ``seed`` and each group its own initialisation.
    """
    return fit_seeds(kind, folder, split, group_ids, [seed], config, inputs)[0]


def fit_seeds(kind: ProbeKind, folder: FeatureFolder, split: LabelledSplit, group_ids: Sequence[int],
              seeds: Sequence[int], config: TrainingConfig, inputs: ProbeInputs | None = None) -> list[RunHistory]:
    """:func:`fit_groups` for every seed of ``seeds``, on ``inputs``' features (default: the
    folder's, as they are). Probes on pooled features train all seeds and groups in one batched
    pass (:func:`serlib.probing.pooled_grid.fit_pooled_grid`); frame-level ones seed by seed with
    autograd. Either way seed s gives what it gives alone."""
    inputs = inputs or ProbeInputs(folder, kind, resolve_device(config.device))
    if kind.input == "pooled":
        return fit_pooled_grid(kind, inputs.pooled, [PooledRun(0, seed, split) for seed in seeds], group_ids,
                               replace(config, device=str(inputs.device)))
    chunk = config.groups_per_pass or len(group_ids)
    runs = []
    for seed in seeds:
        histories = []
        for start in range(0, len(group_ids), chunk):
            chunk_ids = list(group_ids)[start:start + chunk]
            module = kind.build(folder.num_hidden_states, folder.input_dim(kind), len(split.class_names),
                                chunk_ids, seed)
            histories.append(_fit_autograd(module, inputs, split, chunk_ids, seed, config))
        runs.append(join_group_histories(histories))
    return runs


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


def _pooled_fold_runs(kind: ProbeKind, folder: FeatureFolder, splits: list[tuple[int, LabelledSplit]],
                      seeds: list[int], group_ids: list[int], config: TrainingConfig,
                      train_fraction: float | None, progress: bool = False) -> list[FoldRuns]:
    """A pooled probe on every fold x seed, in the fewest batched passes (:mod:`serlib.probing.pooled_grid`):
    with ``config.standardize`` each fold's features scaled with its train part's statistics;
    with ``train_fraction`` each seed on its own subsample of that train part."""
    pooled = np.asarray(folder.pooled, dtype=np.float32)
    runs = []
    for fold, split in splits:
        statistics = feature_statistics(pooled[split.rows["train"]]) if config.standardize else None
        runs += [PooledRun(fold, seed, split if train_fraction is None else subsample_train(split, train_fraction, seed),
                           statistics) for seed in seeds]
    histories = fit_pooled_grid(kind, pooled, runs, group_ids, config, progress)
    return [FoldRuns(fold, split, {run.seed: history for run, history in zip(runs, histories) if run.fold == fold})
            for fold, split in splits]


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
    frames held in memory (:mod:`serlib.probing.frame_grid`), pooled probes every fold and seed
    whose steps line up (:mod:`serlib.probing.pooled_grid`); ``progress`` shows their bar.
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
        folds = _pooled_fold_runs(kind, folder, splits, seed_list, group_ids, config, train_fraction, progress)
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
