"""Tiny feature stores in the contract format with class structure planted in one hidden state."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

ALL_LABELS = ("anger", "boredom", "fear", "neutral", "sadness")


def label_centre(label: str, dim: int, strength: float) -> np.ndarray:
    """A fixed centre per label name (the same in every store, so corpora share structure)."""
    return np.random.default_rng(zlib.crc32(label.encode())).normal(size=dim) * strength


def write_planted_store(folder: Path, labels: tuple[str, ...] = ("anger", "neutral", "sadness"),
                        informative_layer: int = 2, hidden_states: int = 4, dim: int = 8,
                        per_class: int = 20, strength: float = 2.0, seed: int = 0,
                        index: dict | None = None) -> tuple[Path, Path]:
    """Write ``pooled.npy`` [N, hidden_states, dim], ``utterances.csv`` and ``index.json`` to
    ``folder`` and a 60/20/20 split CSV beside it (per class: 3 train, 1 dev, 1 test of each 5).

    Every hidden state is unit Gaussian noise; ``informative_layer`` adds the label's centre.
    """
    rng = np.random.default_rng(seed)
    names = np.repeat(np.array(labels), per_class)
    pooled = rng.normal(size=(len(names), hidden_states, dim))
    pooled[:, informative_layer] += np.stack([label_centre(name, dim, strength) for name in names])
    folder.mkdir(parents=True)
    np.save(folder / "pooled.npy", pooled.astype(np.float32))
    ids = [f"{folder.name}/utt{i:03d}" for i in range(len(names))]
    pd.DataFrame({"utterance_id": ids, "num_frames": 5}).to_csv(folder / "utterances.csv", index=False)
    (folder / "index.json").write_text(json.dumps(
        {"model": "fake/model", "corpus": folder.name, "complete": True, **(index or {})}))
    parts = np.tile(["train", "train", "train", "dev", "test"], len(names) // 5)
    split_csv = folder.parent / f"{folder.name}.split.csv"
    pd.DataFrame({"utterance_id": ids, "speaker": "s", "label": names, "split": parts}).to_csv(
        split_csv, index=False)
    return folder, split_csv
