"""What training runs learnt, and the tidy tables made from it (importable without a trainer).

- :class:`RunHistory`: one run's per-epoch logits on dev and test (and learned layer weights);
- :func:`best_dev_epochs`: the paper's choice, the epoch of the best dev accuracy (the first on ties);
- :func:`probe_run_tables`: the results, layer weights and per-utterance predictions (with each
  class's probability) of every fold x seed x group at its chosen epoch (:class:`ProbeRun`);
- :func:`feature_statistics` / :func:`streaming_statistics`: the training part's standardisation.

Every trainer (:mod:`serlib.probing.train`, :mod:`serlib.probing.frame_grid`,
:mod:`serlib.probing.concat`) returns histories; the tables are made here once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from serlib.probing.columns import LAYER_WEIGHT_COLUMNS, PREDICTION_COLUMNS, RESULT_COLUMNS
from serlib.probing.inputs import LabelledSplit, RunLabels, evaluated_parts
from serlib.probing.metrics import accuracy_per_row, classification_metrics


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


@dataclass
class RunHistory:
    """Per-epoch outputs of one training run of ``G`` probes: logits on dev and test (float32
    ``[E, G, N, C]``; the predicted class is their argmax, the first on ties) and, for probes
    that learn layer weights, those weights ``[E, G, S]``."""

    dev_logits: np.ndarray
    test_logits: np.ndarray
    layer_weights: np.ndarray | None = None
    #: logits of further evaluated parts (degraded copies of the test part: ``test@<condition>``)
    extra_logits: dict[str, np.ndarray] = field(default_factory=dict)

    def logits(self, part: str) -> np.ndarray:
        """``[E, G, N, C]`` logits of an evaluated part (``dev``, ``test`` or a test copy)."""
        return {"dev": self.dev_logits, "test": self.test_logits, **self.extra_logits}[part]

    @property
    def dev_predictions(self) -> np.ndarray:
        """int ``[E, G, N_dev]``"""
        return self.dev_logits.argmax(axis=-1)

    @property
    def test_predictions(self) -> np.ndarray:
        """int ``[E, G, N_test]``"""
        return self.test_logits.argmax(axis=-1)


def join_group_histories(histories: Sequence[RunHistory]) -> RunHistory:
    """One history of the groups of several histories of the same run, in order."""
    weights = [history.layer_weights for history in histories]
    return RunHistory(np.concatenate([history.dev_logits for history in histories], axis=1),
                      np.concatenate([history.test_logits for history in histories], axis=1),
                      None if weights[0] is None else np.concatenate(weights, axis=1),
                      {part: np.concatenate([history.extra_logits[part] for history in histories], axis=1)
                       for part in histories[0].extra_logits})


def best_dev_epochs(dev_predictions: np.ndarray, dev_labels: np.ndarray) -> np.ndarray:
    """Per group, the index of the epoch with the highest dev accuracy (the first on ties)."""
    return np.argmax(accuracy_per_row(dev_labels, dev_predictions), axis=0)


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


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in float64 then float32 (the probabilities of the tables)."""
    shifted = np.asarray(logits, dtype=np.float64) - np.max(logits, axis=-1, keepdims=True)
    exponentials = np.exp(shifted)
    return (exponentials / exponentials.sum(axis=-1, keepdims=True)).astype(np.float32)


PROBABILITY_PREFIX = "p_"
PROBABILITY_DECIMALS = 4


def rounded_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """float32 probabilities rounded to :data:`PROBABILITY_DECIMALS` (as ``np.round`` does in
    float32), as the float64 values their decimals read back as (``k / 10**decimals``).

    A table's probabilities are float64 whether they were computed in this process or read from
    a cached CSV: a float32 column concatenated with cached float64 rows would turn ``0.4`` into
    ``0.4000000059604645`` (and move a prediction across a reliability bin's edge), so that the
    tables would depend on which probes were cached."""
    scale = 10 ** PROBABILITY_DECIMALS
    steps = np.rint(np.asarray(probabilities, dtype=np.float32) * np.float32(scale))
    return steps.astype(np.float64) / scale


def _prediction_frame(labels: RunLabels, protocol: str, fold: int, seed: int, layer_labels: list,
                      split: LabelledSplit, utterance_ids: Sequence[str],
                      chosen: dict[str, np.ndarray]) -> pd.DataFrame:
    """Predictions of every group for the evaluated rows of one fold x seed (dev, test and any
    test copies; as label names), with each class's predicted probability (``p_<class>``,
    rounded) from the ``[G, N, C]`` logits in ``chosen``."""
    class_names = np.asarray(split.class_names, dtype=object)
    utterance_ids = np.asarray(utterance_ids, dtype=object)
    frames = []
    for split_name in chosen:
        rows = split.rows[split_name]
        count = len(rows)
        probabilities = softmax(chosen[split_name])
        for group_index, layer_label in enumerate(layer_labels):
            frame = pd.DataFrame({
                "layer": str(layer_label), "split": split_name,
                "utterance_id": utterance_ids[rows],
                "speaker": split.speakers[split_name] if split.speakers else np.full(count, ""),
                "label": class_names[split.labels[split_name]],
                "predicted": class_names[chosen[split_name][group_index].argmax(axis=-1)],
            })
            for position, name in enumerate(class_names):
                frame[f"{PROBABILITY_PREFIX}{name}"] = rounded_probabilities(probabilities[group_index, :, position])
            frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    for column, value in reversed((("corpus", labels.corpus), ("model", labels.model),
                                   ("probe", labels.probe), ("protocol", protocol),
                                   ("fold", fold), ("seed", seed))):
        table.insert(0, column, value)
    probability_columns = [f"{PROBABILITY_PREFIX}{name}" for name in class_names]
    return table.loc[:, PREDICTION_COLUMNS + probability_columns]


@dataclass
class FoldRuns:
    """What one fold's training runs learnt: the split and each seed's :class:`RunHistory`."""

    fold: int
    split: LabelledSplit
    histories: dict[int, RunHistory]


def probe_run_tables(labels: RunLabels, protocol: str, folds: Sequence[FoldRuns], layer_labels: list,
                     utterance_ids: Sequence[str]) -> ProbeRun:
    """The tidy tables of :class:`ProbeRun` from the histories of every fold x seed: per group the
    epoch of the best dev accuracy (the first on ties), its dev and test metrics, its layer
    weights and its per-utterance predictions."""
    result_rows, weight_rows, predictions = [], [], []
    groups = np.arange(len(layer_labels))
    for fold_runs in folds:
        split = fold_runs.split
        for seed, history in fold_runs.histories.items():
            best = best_dev_epochs(history.dev_predictions, split.labels["dev"])
            chosen = {part: history.logits(part)[best, groups] for part in evaluated_parts(split)}
            predictions.append(_prediction_frame(labels, protocol, fold_runs.fold, seed, layer_labels,
                                                 split, utterance_ids, chosen))
            for group_index, layer_label in enumerate(layer_labels):
                epoch = int(best[group_index])
                for split_name in chosen:
                    scores = classification_metrics(split.labels[split_name],
                                                    chosen[split_name][group_index].argmax(axis=-1))
                    for metric, value in scores.items():
                        result_rows.append([labels.corpus, labels.language, labels.model, labels.probe,
                                            protocol, fold_runs.fold, layer_label, seed, split_name, metric,
                                            value, epoch + 1])
                if history.layer_weights is not None:
                    for layer, weight in enumerate(history.layer_weights[epoch, group_index]):
                        weight_rows.append([labels.corpus, labels.model, labels.probe, protocol,
                                            fold_runs.fold, seed, layer, round_weight(weight), layer_label])
    return ProbeRun(pd.DataFrame(result_rows, columns=RESULT_COLUMNS),
                    pd.DataFrame(weight_rows, columns=LAYER_WEIGHT_COLUMNS),
                    pd.concat(predictions, ignore_index=True))


#: Significant digits of a learned layer weight in the tables: float32 training carries about
#: seven, of which the last ones differ between CPUs (summation order); five are stable.
WEIGHT_DIGITS = 5


def round_weight(weight: float) -> float:
    return float(f"{float(weight):.{WEIGHT_DIGITS}g}")
