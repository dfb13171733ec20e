"""Cross-corpus (cross-lingual) transfer: train a probe on corpus A, test it on corpus B.

Both corpora are restricted to the labels they share. The probe is trained on A's train part,
its epoch selected on A's dev part, and it is scored on B's test part (the transfer) and on A's
own test part (the within-corpus reference on the same labels) in the same run, with the
batched trainer of :mod:`serlib.probing.train`. The two feature folders must come from the same model;
they are joined into one feature table (B's rows after A's) so that one training run serves
both test sets.

Tidy output of :func:`transfer_matrix`, one row per value: ``model, probe, train_corpus,
target_corpus, test_corpus, layer, layer_choice, seed, metric, value, n_shared_labels``; the pair
is (train_corpus, target_corpus) and ``test_corpus`` says which test part was scored (the target
for the transfer, the train corpus for the reference). ``layer_choice`` is ``best`` (the layer
with the best mean dev accuracy on A), ``last`` (the last hidden state) or ``given``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from serlib.probing.summary import best_layer_by_dev
from serlib.common.errors import SerlibError
from serlib.probing.metrics import classification_metrics, seed_summary
from serlib.probing.kinds import get_probe_kind
from serlib.probing.histories import best_dev_epochs
from serlib.probing.train import (FeatureFolder, LabelledSplit, ProbeInputs, TrainingConfig, fit_groups, join_split,
                                  load_feature_folder, resolve_device)

TRANSFER_COLUMNS = ["model", "probe", "train_corpus", "target_corpus", "test_corpus", "layer",
                    "layer_choice", "seed", "metric", "value", "n_shared_labels"]
PAIR_KEYS = ["model", "probe", "train_corpus", "target_corpus", "layer_choice", "layer"]


def restrict_to_labels(split: LabelledSplit, class_names: Sequence[str]) -> LabelledSplit:
    """``split`` without the utterances whose label is not in ``class_names``, relabelled as
    indices into ``class_names``."""
    new_index = np.array([class_names.index(name) if name in class_names else -1
                          for name in split.class_names])
    rows, labels = {}, {}
    for part, part_labels in split.labels.items():
        mapped = new_index[part_labels]
        rows[part], labels[part] = split.rows[part][mapped >= 0], mapped[mapped >= 0]
    return LabelledSplit(list(class_names), rows, labels)


def check_same_model(first: FeatureFolder, second: FeatureFolder) -> None:
    """Raise unless both folders hold features of the same model (hidden states, width, and the
    weights fingerprint or model name where both index files record one)."""
    if first.pooled.shape[1:] != second.pooled.shape[1:]:
        raise SerlibError(f"{first.path} has features [N, {first.num_hidden_states}, {first.dim}] but "
                          f"{second.path} has [N, {second.num_hidden_states}, {second.dim}]; transfer "
                          "needs both corpora extracted with the same model")
    for key in ("weights_fingerprint", "model"):
        if key in first.index and key in second.index:
            if first.index[key] != second.index[key]:
                raise SerlibError(f"{first.path} and {second.path} come from different models "
                                  f"({key} {first.index[key]!r} vs {second.index[key]!r}); transfer "
                                  "needs both corpora extracted with the same model")
            return


def _joined(first: FeatureFolder, second: FeatureFolder) -> FeatureFolder:
    """One feature table with ``second``'s rows after ``first``'s (pooled features only)."""
    return FeatureFolder(first.path, np.concatenate([first.pooled, second.pooled]),
                         first.utterance_ids + second.utterance_ids, first.index)


def _run_rows(source: LabelledSplit, test_parts: dict[str, tuple[np.ndarray, np.ndarray]],
              folder: FeatureFolder, probe: str, layers: Sequence[int], seeds: Sequence[int],
              config: TrainingConfig) -> list[dict]:
    """Train on ``source`` (train + dev) and score every test part; one dict per value."""
    kind = get_probe_kind(probe)
    test_rows = np.concatenate([rows for rows, _ in test_parts.values()])
    split = LabelledSplit(source.class_names, {**source.rows, "test": test_rows},
                          {**source.labels, "test": np.concatenate([lab for _, lab in test_parts.values()])})
    inputs = ProbeInputs(folder, kind, resolve_device(config.device),
                         source.rows["train"] if config.standardize else None)
    records = []
    for seed in seeds:
        history = fit_groups(kind, folder, split, list(layers), seed, config, inputs)
        best = best_dev_epochs(history.dev_predictions, split.labels["dev"])
        for group, layer in enumerate(layers):
            epoch = int(best[group])
            dev_scores = classification_metrics(split.labels["dev"], history.dev_predictions[epoch, group])
            records += [{"layer": layer, "seed": seed, "split": "dev", "test_corpus": None,
                         "metric": metric, "value": value} for metric, value in dev_scores.items()]
            start = 0
            for test_corpus, (rows, labels) in test_parts.items():
                predictions = history.test_predictions[epoch, group, start:start + len(rows)]
                start += len(rows)
                records += [{"layer": layer, "seed": seed, "split": "test", "test_corpus": test_corpus,
                             "metric": metric, "value": value}
                            for metric, value in classification_metrics(labels, predictions).items()]
    return records


def _best_dev_layer(records: pd.DataFrame, train_corpus: str) -> int:
    """The layer with the best mean dev accuracy over seeds on the train corpus (lowest on ties)."""
    own = records[(records["split"] == "dev") | (records["test_corpus"] == train_corpus)]
    return int(best_layer_by_dev(own.assign(corpus=train_corpus, language="", model="", probe=""))
               ["best_layer"].iloc[0])


def transfer_pair(train_folder: FeatureFolder, train_split: LabelledSplit, train_corpus: str,
                  target_folder: FeatureFolder, target_split: LabelledSplit, target_corpus: str,
                  layers: Sequence[int] | None = None, probe: str = "linear",
                  seeds: Sequence[int] = (0, 1, 2), config: TrainingConfig | None = None,
                  model: str | None = None) -> pd.DataFrame:
    """Transfer rows (columns :data:`TRANSFER_COLUMNS`) of one ordered pair of corpora.

    ``layers`` None trains every hidden state and reports the best dev layer of the train corpus
    and the last one; otherwise the given layers. A pair of a corpus with itself scores its test
    part once (the within-corpus result on all its labels).
    """
    kind = get_probe_kind(probe)
    if kind.scope != "per_layer" or kind.input != "pooled":
        raise SerlibError(f"transfer trains per-layer probes on pooled features; {probe!r} is not one "
                          "(use linear, softmax or dense-pooled)")
    check_same_model(train_folder, target_folder)
    shared = sorted(set(train_split.class_names) & set(target_split.class_names))
    if len(shared) < 2:
        raise SerlibError(f"corpora {train_corpus} and {target_corpus} share {len(shared)} label(s) "
                          f"({', '.join(shared) or 'none'}); transfer needs at least 2 shared labels")
    source = restrict_to_labels(train_split, shared)
    target = restrict_to_labels(target_split, shared)
    same_corpus = train_corpus == target_corpus
    folder = train_folder if same_corpus else _joined(train_folder, target_folder)
    offset = 0 if same_corpus else len(train_folder.utterance_ids)
    test_parts = {train_corpus: (source.rows["test"], source.labels["test"])}
    if not same_corpus:
        test_parts[target_corpus] = (target.rows["test"] + offset, target.labels["test"])
    trained_layers = list(range(train_folder.num_hidden_states)) if layers is None else list(layers)
    records = pd.DataFrame(_run_rows(source, test_parts, folder, probe, trained_layers, list(seeds),
                                     config or TrainingConfig()))
    tests = records[records["split"] == "test"]
    if layers is None:
        choices = {"best": _best_dev_layer(records, train_corpus),
                   "last": train_folder.num_hidden_states - 1}
        tests = pd.concat([tests[tests["layer"] == layer].assign(layer_choice=choice)
                           for choice, layer in choices.items()], ignore_index=True)
    else:
        tests = tests.assign(layer_choice="given")
    table = tests.assign(
        model=model or str(train_folder.index.get("model", train_folder.path.parent.name)),
        probe=probe, train_corpus=train_corpus, target_corpus=target_corpus,
        n_shared_labels=len(shared))
    return table[TRANSFER_COLUMNS]


def transfer_matrix(folders: Mapping[str, str | Path], splits: Mapping[str, str | Path],
                    layers: Sequence[int] | None = None, probe: str = "linear",
                    seeds: int | Sequence[int] = 3, epochs: int = 30, batch_size: int = 32,
                    learning_rate: float = 1e-3, device: str = "auto", include_diagonal: bool = True,
                    model: str | None = None, standardize: bool = False, fold: int = 0) -> pd.DataFrame:
    """Transfer rows for every ordered pair of the corpora in ``folders`` (corpus -> feature
    folder, all of one model) with ``splits`` (corpus -> split CSV), on fold ``fold`` of every
    split (the first, by default); see :func:`transfer_pair`.
    ``include_diagonal`` adds each corpus with itself (its within-corpus accuracy on all labels).
    ``standardize`` scales features with the statistics of the training corpus's train part."""
    missing = sorted(set(folders) - set(splits))
    if missing:
        raise SerlibError(f"no split CSV given for corpora {missing}; pass one per feature folder")
    loaded = {corpus: load_feature_folder(path) for corpus, path in folders.items()}
    joined = {corpus: join_split(loaded[corpus], splits[corpus], fold) for corpus in loaded}
    config = TrainingConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                            device=str(resolve_device(device)), standardize=standardize)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(seed) for seed in seeds]
    tables = [transfer_pair(loaded[train], joined[train], train, loaded[target], joined[target], target,
                            layers, probe, seed_list, config, model)
              for train in loaded for target in loaded if include_diagonal or train != target]
    return pd.concat(tables, ignore_index=True)


def transfer_drop(table: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Per ordered pair of different corpora and layer choice: within-corpus minus cross-corpus
    test ``metric`` (both on the shared labels), as the mean, std and 95% bootstrap interval
    over seeds of the per-seed differences, beside the two means."""
    rows = table[(table["metric"] == metric) & (table["train_corpus"] != table["target_corpus"])]
    records = []
    for key, pair in rows.groupby(PAIR_KEYS, sort=True):
        by_seed = pair.pivot_table(index="seed", columns="test_corpus", values="value")
        within, cross = by_seed[key[2]], by_seed[key[3]]
        summary = seed_summary((within - cross).to_numpy())
        records.append({**dict(zip(PAIR_KEYS, key)), "n_shared_labels": int(pair["n_shared_labels"].iloc[0]),
                        "within": float(within.mean()), "cross": float(cross.mean()),
                        "drop": summary["mean"], "drop_std": summary["std"],
                        "drop_ci_low": summary["ci_low"], "drop_ci_high": summary["ci_high"],
                        "n_seeds": summary["n_seeds"]})
    return pd.DataFrame(records)
