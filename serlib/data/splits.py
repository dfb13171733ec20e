"""Evaluation protocols: which utterances train, choose (dev) and test, fold by fold.

Every protocol writes one CSV next to the manifest, ``<stem>.split-<protocol>-seed<k>.csv``,
with columns ``utterance_id, speaker, label, fold, split``: each utterance appears once per
fold, ``split`` in train/dev/test. Probes train every fold (:mod:`serlib.probing.train`).

- ``random``: the paper's stratified 60/20/20 split, repeated over ``repeats`` split seeds
  (fold r uses split seed ``seed + r``; default 5 repeats).
- ``speaker-cv``: speaker-grouped cross-validation. Every utterance is tested exactly once;
  leave-one-speaker-out when the corpus has at most 12 speakers, grouped 5-fold
  (``StratifiedGroupKFold``) otherwise. The dev speakers of fold k (for epoch and layer
  choice) are taken from its training speakers: those of the next ``max(1, round(K / 5))``
  folds in cyclic order, so train, dev and test never share a speaker.
- ``session-cv``: IEMOCAP's five sessions, leave one session out (SUPERB's emotion protocol);
  dev is a stratified 20% of the four training sessions, as in SUPERB.
- ``speaker``: one speaker-independent 60/20/20 split (a single fold).

A saved file is reused on a rerun only when its utterance ids, labels and speakers are those of
the manifest (a corrected label mapping or a changed manifest makes a new split, said on
stderr), so labels always come from the current manifest.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from serlib.common.errors import SerlibError
from serlib.common.files import write_csv_atomically
from serlib.data.corpora.manifest import read_manifest

PROTOCOLS = ("random", "speaker-cv", "session-cv", "speaker")
SPLIT_NAMES = ("train", "dev", "test")
DEFAULT_FRACTIONS = (0.6, 0.2, 0.2)
DEFAULT_REPEATS = 5
#: Corpora with at most this many speakers are cross-validated leave-one-speaker-out.
LEAVE_ONE_SPEAKER_OUT_MAX = 12
GROUPED_FOLDS = 5
FOLD_SPLIT_COLUMNS = ("utterance_id", "speaker", "label", "fold", "split")
#: IEMOCAP speakers are ``iemocap_Ses01F``: the session is all but the gender letter.
SESSION_OF_SPEAKER = r"^(?P<session>.*Ses\d{2})[FM]$"


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


def _folds_table(manifest: pd.DataFrame, parts: list[np.ndarray]) -> pd.DataFrame:
    """Stack one split column per fold into the long fold table (fold-major, manifest order)."""
    frames = []
    for fold, split in enumerate(parts):
        frame = manifest.loc[:, ["utterance_id", "speaker", "label"]].reset_index(drop=True)
        frame["fold"] = fold
        frame["split"] = split
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).loc[:, list(FOLD_SPLIT_COLUMNS)]


def repeated_random_splits(manifest: pd.DataFrame, seed: int = 0,
                           repeats: int = DEFAULT_REPEATS) -> pd.DataFrame:
    """The paper's stratified 60/20/20 split drawn ``repeats`` times (split seeds seed..seed+R-1)."""
    if repeats < 1:
        raise SerlibError(f"random splits need at least one repeat; got repeats={repeats}")
    return _folds_table(manifest, [random_split(manifest, seed + repeat)["split"].to_numpy()
                                   for repeat in range(repeats)])


def _group_cross_validation(manifest: pd.DataFrame, groups: pd.Series, n_folds: int, seed: int,
                            dev_folds: int, what: str) -> pd.DataFrame:
    """K folds over ``groups`` (test = fold k, dev = the next ``dev_folds`` folds, train = rest)."""
    n_groups = groups.nunique()
    if n_groups < 3 or n_folds < 3:
        raise SerlibError(f"{what} cross-validation needs at least 3 {what}s for train, dev and "
                          f"test; the manifest has {n_groups}. Use the random protocol")
    if n_folds == n_groups:  # leave one group out, groups in a seeded order
        order = np.random.default_rng(seed).permutation(sorted(groups.unique()))
        fold_of_group = {group: fold for fold, group in enumerate(order)}
        fold_of_row = groups.map(fold_of_group).to_numpy()
    else:
        fold_of_row = np.empty(len(manifest), dtype=int)
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        for fold, (_, members) in enumerate(
                splitter.split(np.zeros(len(manifest)), manifest["label"], groups)):
            fold_of_row[members] = fold
    parts = []
    for fold in range(n_folds):
        dev = {(fold + step) % n_folds for step in range(1, dev_folds + 1)}
        split = np.where(fold_of_row == fold, "test",
                         np.where(np.isin(fold_of_row, list(dev)), "dev", "train"))
        parts.append(split.astype(object))
    return _folds_table(manifest, parts)


def speaker_cross_validation(manifest: pd.DataFrame, seed: int = 0,
                             n_folds: int | None = None) -> pd.DataFrame:
    """Speaker-grouped CV: leave-one-speaker-out up to 12 speakers, else grouped 5-fold."""
    n_speakers = manifest["speaker"].nunique()
    if n_folds is None:
        n_folds = n_speakers if n_speakers <= LEAVE_ONE_SPEAKER_OUT_MAX else GROUPED_FOLDS
    if n_folds > n_speakers:
        raise SerlibError(f"{n_folds} speaker folds need at least {n_folds} speakers; the "
                          f"manifest has {n_speakers}")
    return _group_cross_validation(manifest, manifest["speaker"], n_folds, seed,
                                   max(1, round(n_folds / GROUPED_FOLDS)), "speaker")


def session_of(manifest: pd.DataFrame) -> pd.Series:
    """IEMOCAP's session of every utterance (from the speaker id, e.g. ``iemocap_Ses01F``)."""
    sessions = manifest["speaker"].str.extract(SESSION_OF_SPEAKER)["session"]
    if sessions.isna().any():
        example = manifest["speaker"][sessions.isna()].iloc[0]
        raise SerlibError(f"session-cv is IEMOCAP's protocol: speaker {example!r} names no "
                          "session (expected e.g. iemocap_Ses01F); use speaker-cv")
    return sessions


def session_cross_validation(manifest: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Leave one IEMOCAP session out (5 folds); dev = stratified 20% of the training sessions."""
    sessions = session_of(manifest)
    order = sorted(sessions.unique())
    if len(order) < 2:
        raise SerlibError(f"session-cv needs at least two sessions; the manifest has {order}")
    labels = manifest["label"].to_numpy()
    parts = []
    for fold, session in enumerate(order):
        split = np.where(sessions.to_numpy() == session, "test", "train").astype(object)
        training = np.flatnonzero(split == "train")
        _, dev = train_test_split(training, test_size=0.2, stratify=labels[training],
                                  random_state=seed + fold)
        split[dev] = "dev"
        parts.append(split)
    return _folds_table(manifest, parts)


def make_protocol(manifest: pd.DataFrame, protocol: str, seed: int = 0,
                  repeats: int = DEFAULT_REPEATS) -> pd.DataFrame:
    """The fold table of ``protocol`` (see the module docstring) for ``manifest``."""
    _check_protocol(protocol)
    if protocol == "random":
        return repeated_random_splits(manifest, seed, repeats)
    if protocol == "speaker-cv":
        return speaker_cross_validation(manifest, seed)
    if protocol == "session-cv":
        return session_cross_validation(manifest, seed)
    return _folds_table(manifest, [speaker_split(manifest, seed)["split"].to_numpy()])


def split_path(manifest_path: str | Path, protocol: str, seed: int) -> Path:
    """``<manifest stem>.split-<protocol>-seed<k>.csv`` next to the manifest."""
    _check_protocol(protocol)
    manifest_path = Path(manifest_path)
    return manifest_path.with_name(f"{manifest_path.stem}.split-{protocol}-seed{seed}.csv")


def protocol_of_split_file(path: str | Path) -> str:
    """The protocol named in a split file's name (``custom`` when it names none)."""
    name = Path(path).name
    for protocol in sorted(PROTOCOLS, key=len, reverse=True):
        if f".split-{protocol}-seed" in name:
            return protocol
    return "custom"


def load_or_create_split(manifest_path: str | Path, protocol: str, seed: int = 0,
                         repeats: int = DEFAULT_REPEATS) -> pd.DataFrame:
    """The manifest's fold table for ``protocol`` and ``seed``: the saved file when it still
    matches the manifest (ids, labels, speakers, number of folds), else a new one, written
    atomically."""
    manifest_path = Path(manifest_path)
    manifest = read_manifest(manifest_path)
    path = split_path(manifest_path, protocol, seed)
    table = make_protocol(manifest, protocol, seed, repeats)
    if path.is_file():
        saved = _read_saved(path)
        problem = _mismatch(saved, table)
        if problem is None:
            return saved
        print(f"serlib: {path}: {problem}; writing a new split", file=sys.stderr)
    write_csv_atomically(table, path)
    return table


def _mismatch(saved: pd.DataFrame, fresh: pd.DataFrame) -> str | None:
    """Why a saved fold table no longer fits the manifest (None when it does)."""
    missing = [column for column in FOLD_SPLIT_COLUMNS if column not in saved.columns]
    if missing:
        return f"it lacks the column(s) {missing} (an older format)"
    if saved["fold"].nunique() != fresh["fold"].nunique():
        return "its number of folds differs from the protocol's"
    keys = ["utterance_id", "speaker", "label"]
    ours = saved[saved["fold"] == saved["fold"].min()][keys].sort_values("utterance_id")
    theirs = fresh[fresh["fold"] == 0][keys].sort_values("utterance_id")
    if list(ours["utterance_id"]) != list(theirs["utterance_id"]):
        return "its utterances are not the manifest's (the manifest changed)"
    for column in ("label", "speaker"):
        if list(ours[column]) != list(theirs[column]):
            return f"its {column}s differ from the manifest's (the label mapping or speakers changed)"
    return None


def read_split(path: str | Path) -> pd.DataFrame:
    """A split CSV as a fold table; a file without a ``fold`` column is one fold (fold 0)."""
    table = _read_saved(Path(path))
    if "fold" not in table.columns:
        table["fold"] = 0
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
