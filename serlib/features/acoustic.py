"""Acoustic baselines as "models" of the feature store: ``acoustic:egemaps``, ``acoustic:mfcc``.

:func:`extract_acoustic_features` writes the same store as the extraction engine
(``docs/architecture.md``), so every probe, table and plot reads it unchanged:

- ``pooled.npy`` float32 ``[N, 1, D]``: one "hidden state" (index 0), the utterance's
  functionals from :mod:`serlib.features.acoustic_features` (88 for eGeMAPS, 171 for MFCC statistics),
  raw, without any normalisation;
- ``utterances.csv`` with ``num_frames`` = analysis frames at a 10 ms hop;
- ``index.json`` written last, with ``complete: true`` and a cache key over the model name, the
  feature set's version, :data:`ACOUSTIC_CODE_VERSION` and the manifest's sha256.

Frames are never stored (``keep_frames`` is ignored and recorded as such; frame-level probes
do not apply), and the engine's model settings (pooling, dtype, device, batch size, Whisper
window) do not apply either: they are recorded under ``ignored_settings``. Utterances are
computed in fixed chunks of consecutive manifest rows, each stored in ``.partial/`` as soon as
it is done, so an interrupted run resumes where it stopped (through :mod:`serlib.features.store`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from serlib import __version__
from serlib.features.acoustic_features import FRAME_RATE, HOP_LENGTH, SAMPLE_RATE, get_feature_set
from serlib.data.audio import load_audio
from serlib.features.registry import ACOUSTIC_PREFIX
from serlib.features.runs import (
    MIN_UTTERANCE_SECONDS,
    BatchDone,
    ExtractionResult,
    corpus_name_of,
    read_manifest,
)
from serlib.common.locks import folder_lock
from serlib.features.store import (
    STORE_FORMAT_VERSION,
    Chunk,
    audio_contents_sha256,
    cache_key,
    manifest_sha256,
    resume_store,
    store_folder,
)

ACOUSTIC_FAMILY = "acoustic"
#: Utterances per stored chunk (the unit of resumption).
CHUNK_UTTERANCES = 64
#: Version of this engine's output, part of every acoustic store's cache key: bump it when a
#: change alters the stored features for the same inputs (the feature sets' own versions cover
#: their functionals; this covers the engine: loading, resampling, frame counts).
ACOUSTIC_CODE_VERSION = 1
LAYER_NUMBERING = "0 = the utterance's acoustic functionals (a feature set, not a network)"


def is_acoustic(name: object) -> bool:
    """True for model names of an acoustic baseline (``acoustic:<feature set>``)."""
    return isinstance(name, str) and name.startswith(ACOUSTIC_PREFIX)


def plan_chunks(num_utterances: int, chunk_utterances: int = CHUNK_UTTERANCES) -> list[np.ndarray]:
    """Consecutive manifest rows in chunks of ``chunk_utterances`` (the same plan every run)."""
    starts = range(0, num_utterances, chunk_utterances)
    return [np.arange(start, min(start + chunk_utterances, num_utterances)) for start in starts]


def extract_acoustic_features(
    model_name: str,
    manifest: str | Path | pd.DataFrame,
    out_dir: str | Path,
    corpus_name: str | None = None,
    model_label: str | None = None,
    progress: bool = True,
    on_batch: Callable[[BatchDone], None] | None = None,
    chunk_utterances: int = CHUNK_UTTERANCES,
    ignored_settings: dict | None = None,
    wait: bool = True,
    verify_audio: bool = False,
) -> ExtractionResult:
    """Compute an acoustic feature set for every manifest utterance into the feature store.

    ``model_name``: ``acoustic:egemaps`` or ``acoustic:mfcc``. ``manifest``, ``out_dir``,
    ``corpus_name``, ``model_label``, ``progress`` and ``on_batch`` mean what they mean for
    :func:`serlib.features.extract.extract_features` (which dispatches acoustic names here and passes
    its other settings, ``pooling``, ``keep_frames``, ``dtype``, ..., as ``ignored_settings``:
    they do not apply, and are recorded in ``index.json``). ``wait`` and ``verify_audio`` mean
    what they mean there (the store folder's lock; audio bytes in the cache key). Returns an
    :class:`~serlib.features.extract.ExtractionResult`; a finished store with the same cache key is reused.
    """
    started = time.perf_counter()
    if not is_acoustic(model_name):
        raise ValueError(f"{model_name!r} is not an acoustic:<feature set> name")
    feature_set = get_feature_set(model_name.removeprefix(ACOUSTIC_PREFIX))
    table, source = read_manifest(manifest)
    corpus = corpus_name_of(table, source, corpus_name)
    label = model_label or model_name
    key_fields = {
        "model": label,
        "feature_set": feature_set.name,
        "feature_set_version": feature_set.version,
        "manifest_sha256": manifest_sha256(table),
        "sample_rate": SAMPLE_RATE,
        "format_version": STORE_FORMAT_VERSION,
        "acoustic_code_version": ACOUSTIC_CODE_VERSION,
    }
    if verify_audio:
        key_fields["audio_sha256"] = audio_contents_sha256(table["path"])
    key = cache_key(key_fields)
    folder = store_folder(out_dir, label, corpus)
    with folder_lock(folder, wait=wait, what="serlib extract (acoustic)"):
        chunk_rows = plan_chunks(len(table), chunk_utterances)
        run = resume_store(folder, key, chunk_rows, with_frames=False)
        if run is None:
            return ExtractionResult(folder, True, time.perf_counter() - started, 0.0, len(table), 0)
        audio_seconds = 0.0
        num_computed = 0
        bar = tqdm(total=run.pending_rows(), unit="utt",
                   disable=not progress, desc=f"{label} on {corpus}", dynamic_ncols=True)
        with bar:
            for number in run.pending:
                rows = chunk_rows[number]
                features = np.empty((len(rows), 1, feature_set.dim), dtype=np.float32)
                num_frames = np.empty(len(rows), dtype=np.int64)
                for position, row in enumerate(rows):
                    waveform = load_audio(table["path"].iloc[row], SAMPLE_RATE,
                                          min_seconds=MIN_UTTERANCE_SECONDS)
                    features[position, 0] = feature_set.compute(waveform)
                    num_frames[position] = 1 + len(waveform) // HOP_LENGTH
                    audio_seconds += len(waveform) / SAMPLE_RATE
                    bar.update(1)
                run.save(Chunk(number, rows, features, num_frames), None)
                num_computed += len(rows)
                if on_batch is not None:
                    on_batch(BatchDone(number, table["utterance_id"].iloc[rows].tolist(), num_computed))

        index = {
            **key_fields,
            "model_id": model_name,
            "family": ACOUSTIC_FAMILY,
            "weights_fingerprint": feature_set.version,
            "random_weights": False,
            "num_hidden_states": 1,
            "width": feature_set.dim,
            "frame_rate": FRAME_RATE,
            "cache_key": key,
            "corpus": corpus,
            "manifest": source,
            "num_utterances": len(table),
            "layers": 1,
            "dim": feature_set.dim,
            "layer_numbering": LAYER_NUMBERING,
            "pooling": "functionals",
            "keep_frames": False,
            "ignored_settings": dict(ignored_settings or {}),
            "feature_names": list(feature_set.feature_names),
            "serlib_version": __version__,
        }
        run.finish(table["utterance_id"].tolist(), (len(table), 1, feature_set.dim), None, index)
        return ExtractionResult(
            folder, False, time.perf_counter() - started, audio_seconds, len(table), num_computed
        )


__all__ = ["ACOUSTIC_PREFIX", "extract_acoustic_features", "is_acoustic", "plan_chunks"]
