"""Train/dev/test splits and speaker folds of a manifest, saved next to it as CSV.

Protocols:

- ``random``: the paper's 60/20/20 split, stratified by label (two seeded
  ``sklearn.model_selection.train_test_split`` calls).
- ``speaker``: speaker-independent; speakers in seeded random order are cut into three
  groups whose utterance shares come closest to the fractions.
- folds: speaker-independent k folds stratified by label (``StratifiedGroupKFold``).

File names and columns follow ``docs/architecture.md``. A saved file is reused on a rerun
only when it covers exactly the manifest's utterances.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from serlib.common.files import write_csv_atomically
from serlib.data.corpora.manifest import read_manifest
from serlib.common.errors import SerlibError

PROTOCOLS = ("random", "speaker")
SPLIT_NAMES = ("train", "dev", "test")
DEFAULT_FRACTIONS = (0.6, 0.2, 0.2)
SPLIT_COLUMNS = ("utterance_id", "speaker", "label", "split")
FOLD_COLUMNS = ("utterance_id", "speaker", "label", "fold")


def random_split(
    manifest: pd.DataFrame,
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
) -> pd.DataFrame:
    """Assign each utterance to train/dev/test at random, stratified by label."""
    train_fraction, dev_fraction, test_fraction = _check_fractions(fractions)
    labels = manifest["label"].to_numpy()
    positions = np.arange(len(manifest))
    try:
        train, rest = train_test_split(
            positions, train_size=train_fraction, stratify=labels, random_state=seed
        )
        dev, test = train_test_split(
            rest,
            test_size=test_fraction / (dev_fraction + test_fraction),
            stratify=labels[rest],
            random_state=seed,
        )
    except ValueError as error:
        counts = manifest["label"].value_counts()
        raise SerlibError(
            f"cannot split {len(manifest)} utterances stratified by label ({error}); "
            f"smallest label: {counts.idxmin()} with {counts.min()} utterance(s). "
            "Each label needs enough utterances for every part"
        ) from None
    split = np.empty(len(manifest), dtype=object)
    for name, members in zip(SPLIT_NAMES, (train, dev, test)):
        split[members] = name
    return _with_column(manifest, "split", split)


def speaker_split(
    manifest: pd.DataFrame,
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
) -> pd.DataFrame:
    """Assign whole speakers to train/dev/test, each part getting at least one speaker.

    Speakers are put in an order shuffled by ``seed`` and cut into three consecutive,
    non-empty groups; the two cut points and which group becomes which part are chosen so the
    parts' shares of utterances come closest (least squares) to ``fractions``.
    """
    targets = np.array(_check_fractions(fractions))
    speaker_counts = manifest["speaker"].value_counts().sort_index()
    if len(speaker_counts) < len(SPLIT_NAMES):
        raise SerlibError(
            f"a speaker-independent split needs at least 3 speakers; the manifest has "
            f"{len(speaker_counts)} ({', '.join(speaker_counts.index)}). Use --protocol random"
        )
    shuffled = speaker_counts.iloc[np.random.default_rng(seed).permutation(len(speaker_counts))]
    cumulative = np.concatenate([[0], np.cumsum(shuffled.to_numpy())])
    total = cumulative[-1]
    first_cuts, second_cuts = np.triu_indices(len(shuffled) - 1, k=1)
    first_cuts, second_cuts = first_cuts + 1, second_cuts + 1
    group_shares = np.stack([
        cumulative[first_cuts],
        cumulative[second_cuts] - cumulative[first_cuts],
        total - cumulative[second_cuts],
    ], axis=1) / total
    orders = list(itertools.permutations(range(len(SPLIT_NAMES))))
    errors = np.stack(
        [((group_shares - targets[list(order)]) ** 2).sum(axis=1) for order in orders], axis=1
    )
    best_cut, best_order = np.unravel_index(np.argmin(errors), errors.shape)
    group_of_position = np.searchsorted(
        [first_cuts[best_cut], second_cuts[best_cut]], np.arange(len(shuffled)), side="right"
    )
    part_of_speaker = {
        speaker: SPLIT_NAMES[orders[best_order][group]]
        for speaker, group in zip(shuffled.index, group_of_position)
    }
    return _with_column(manifest, "split", manifest["speaker"].map(part_of_speaker).to_numpy())


def speaker_folds(manifest: pd.DataFrame, n_folds: int = 5, seed: int = 0) -> pd.DataFrame:
    """Assign each utterance a fold 0..n_folds-1; no speaker in two folds, labels balanced."""
    n_speakers = manifest["speaker"].nunique()
    if n_folds < 2 or n_speakers < n_folds:
        raise SerlibError(
            f"speaker folds need 2 <= n_folds <= number of speakers; got n_folds={n_folds} "
            f"with {n_speakers} speaker(s). Choose fewer folds"
        )
    folds = np.empty(len(manifest), dtype=int)
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for fold, (_, members) in enumerate(
        splitter.split(np.zeros(len(manifest)), manifest["label"], manifest["speaker"])
    ):
        folds[members] = fold
    return _with_column(manifest, "fold", folds)


def split_path(manifest_path: str | Path, protocol: str, seed: int) -> Path:
    """``<manifest stem>.split-<protocol>-seed<k>.csv`` next to the manifest."""
    _check_protocol(protocol)
    manifest_path = Path(manifest_path)
    return manifest_path.with_name(f"{manifest_path.stem}.split-{protocol}-seed{seed}.csv")


def folds_path(manifest_path: str | Path, n_folds: int, seed: int) -> Path:
    """``<manifest stem>.folds-<n>-seed<k>.csv`` next to the manifest."""
    manifest_path = Path(manifest_path)
    return manifest_path.with_name(f"{manifest_path.stem}.folds-{n_folds}-seed{seed}.csv")


def load_or_create_split(manifest_path: str | Path, protocol: str, seed: int = 0) -> pd.DataFrame:
    """Read the manifest's split file for ``protocol`` and ``seed``, creating it if absent."""
    _check_protocol(protocol)
    make = random_split if protocol == "random" else speaker_split
    return _load_or_create(
        Path(manifest_path),
        split_path(manifest_path, protocol, seed),
        lambda manifest: make(manifest, seed=seed),
    )


def load_or_create_folds(manifest_path: str | Path, n_folds: int, seed: int = 0) -> pd.DataFrame:
    """Read the manifest's speaker-folds file, creating it if absent."""
    return _load_or_create(
        Path(manifest_path),
        folds_path(manifest_path, n_folds, seed),
        lambda manifest: speaker_folds(manifest, n_folds=n_folds, seed=seed),
    )


def _load_or_create(
    manifest_path: Path,
    path: Path,
    make: Callable[[pd.DataFrame], pd.DataFrame],
) -> pd.DataFrame:
    manifest = read_manifest(manifest_path)
    if path.is_file():
        saved = _read_saved(path)
        if "utterance_id" not in saved.columns or sorted(saved["utterance_id"]) != sorted(
            manifest["utterance_id"]
        ):
            raise SerlibError(
                f"{path} does not cover the utterances of {manifest_path} (the manifest changed "
                "after the split was made); delete it to make a new one"
            )
        return saved
    table = make(manifest)
    write_csv_atomically(table, path)
    return table


def _read_saved(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype={"utterance_id": str, "speaker": str, "label": str},
                           keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise SerlibError(f"cannot read split file {path} ({error}); delete it to make a "
                          "new one") from None


def _with_column(manifest: pd.DataFrame, name: str, values: np.ndarray) -> pd.DataFrame:
    table = manifest.loc[:, ["utterance_id", "speaker", "label"]].reset_index(drop=True)
    table[name] = values
    return table


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    if len(fractions) != 3 or min(fractions) <= 0 or not np.isclose(sum(fractions), 1.0):
        raise SerlibError(
            f"split fractions must be three positive numbers that sum to 1 (train, dev, test); "
            f"got {tuple(fractions)}"
        )
    return tuple(float(fraction) for fraction in fractions)  # type: ignore[return-value]


def _check_protocol(protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise SerlibError(f"unknown split protocol {protocol!r}; choose one of {PROTOCOLS}")
