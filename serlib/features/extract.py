"""The per-layer feature extraction engine: batched, cached, resumable.

:func:`extract_features` runs a speech model over every utterance of a manifest and stores,
per utterance, every hidden state pooled over its valid frames (``serlib.features.store`` describes the
files). How it stays correct and fast:

- Utterances are sorted by duration and grouped into batches of at most ``batch_seconds`` of
  (padded) audio, with attention masks. Models whose conv encoder uses group norm
  (wav2vec2-base, HuBERT base, WavLM base-plus: ``feat_extract_norm == "group"``) change valid
  frames under zero padding. On a GPU they are batched anyway, with that first group norm taken
  over each utterance's own frames (``LoadedModel.can_mask_padding``); on the CPU, where
  batching gains nothing (two cores are compute-bound either way), and always for
  data2vec-audio, their batches hold only utterances of exactly equal length, which keeps CPU
  stores bit for bit what they were. Every utterance thus gets the features it would get alone.
- On a GPU the engine prepares and launches batch k+1 before it copies batch k's results back
  and stores them, so the host's work (audio, normalisation, store writes) overlaps the GPU's.
- Pooling uses the valid frames only (counts from the model's own output-length formula).
- The cache key covers the model id, its weights fingerprint, the manifest content, pooling,
  sample rate, compute dtype, (Whisper) window and :data:`EXTRACTION_CODE_VERSION` (and, with
  ``verify_audio``, the audio bytes): a changed input or engine never reuses old features.
- One writer per store folder (:func:`serlib.common.locks.folder_lock`); a concurrent run waits.
- Each finished batch is stored at once as a chunk in ``.partial/``; a killed run resumes and
  recomputes only unfinished batches (batches are formed the same way every time).
- Default compute dtype (``auto``): bfloat16 *weights* on GPUs and on CPUs with bfloat16
  instructions (float16 on GPUs without bfloat16), float32 on other CPUs (see
  :func:`resolve_dtype`); ``dtype="float32"`` is the exact mode.
- Audio of the next batch is decoded in a background thread while the model runs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from serlib import __version__
from serlib.data.audio import load_audio
from serlib.common.errors import SerlibError
from serlib.features.models import (
    SAMPLE_RATE,
    WHISPER_FAMILY,
    WHISPER_WINDOWS,
    LoadedModel,
    describe,
    load_model,
    model_fingerprint,
    to_device,
)
from serlib.features.acoustic import extract_acoustic_features, is_acoustic
from serlib.features.registry import DEFAULT_BATCH_SECONDS, DEVICES, DTYPES, POOLINGS
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
    finished_store_folder,
    is_local_model_path,
    legacy_store_folder,
    manifest_sha256,
    resume_store,
    store_folder,
)

WHISPER_WINDOW_SECONDS = 30.0
#: Version of the extraction code's output, part of every store's cache key: bump it when a
#: change alters the features for the same inputs (pooling, padding, batching, resampling,
#: layer numbering, compute dtype handling), so that no store computed by the old code is reused.
#: 1: bfloat16/float16 mean weights held in that dtype (not float32 weights under autocast); the
#: field entered the key with this code, so no released store predates it.
EXTRACTION_CODE_VERSION = 1
LAYER_NUMBERING = "0 = input to transformer block 1; k = output of block k (no final layer norm)"


def resolve_device(device: str) -> torch.device:
    if device not in DEVICES:
        raise SerlibError(f"unknown device {device!r}; use one of {DEVICES}")
    if device == "cuda" and not torch.cuda.is_available():
        raise SerlibError("device 'cuda' asked for but no CUDA GPU is available; use --device cpu")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> str:
    """``auto`` -> the fastest dtype the hardware runs natively.

    GPUs: bfloat16 (float16 where bfloat16 is missing). CPUs: bfloat16 where they have bfloat16
    instructions (AVX512-BF16 or AMX), else float32: without them oneDNN emulates bfloat16 and a
    bfloat16 matmul runs 3-4x *slower* than float32 (measured on an AVX512 Xeon without BF16,
    docs/performance.md).
    """
    if dtype not in DTYPES:
        raise SerlibError(f"unknown dtype {dtype!r}; use one of {DTYPES}")
    if dtype != "auto":
        return dtype
    if device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "bfloat16" if cpu_has_native_bfloat16() else "float32"


def cpu_has_native_bfloat16() -> bool:
    """True when this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX tiles)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def plan_batches(
    durations: np.ndarray, budget_seconds: float, cost_seconds: float | None = None,
    equal_lengths_only: bool = False,
) -> list[np.ndarray]:
    """Group row indices into batches, shortest first, within a padded-audio budget.

    A batch's cost is (its longest duration or ``cost_seconds``) x its size. With
    ``equal_lengths_only``, a batch never mixes different durations. The plan depends only on
    ``durations``, so an interrupted run re-forms the same batches when it resumes.
    """
    order = np.argsort(durations, kind="stable")
    batches: list[list[int]] = []
    for row in order:
        duration = float(durations[row])
        per_item = cost_seconds if cost_seconds is not None else duration
        current = batches[-1] if batches else None
        if current is not None:
            fits = per_item * (len(current) + 1) <= budget_seconds
            same_length = durations[current[0]] == duration
            if fits and (same_length or not equal_lengths_only):
                current.append(int(row))
                continue
        batches.append([int(row)])
    return [np.array(batch, dtype=np.int64) for batch in batches]


def pool_hidden_states(
    hidden_states: torch.Tensor, valid_frames: list[int], pooling: str
) -> np.ndarray:
    """``[B, L+1, T, D]`` -> ``[B, L+1, D]`` (mean) or ``[B, L+1, 2D]`` (mean, then std).

    Only the first ``valid_frames[b]`` frames of utterance b count. The std is the population
    standard deviation (0 for a single frame).
    """
    return _pool_on_device(hidden_states, valid_frames, pooling).cpu().numpy()


def _pool_on_device(
    hidden_states: torch.Tensor, valid_frames: list[int], pooling: str
) -> torch.Tensor:
    """:func:`pool_hidden_states`, left on the hidden states' device (no sync)."""
    hidden_states = hidden_states.float()
    frame_index = torch.arange(hidden_states.shape[2], device=hidden_states.device)
    counts = to_device(np.asarray(valid_frames, dtype=np.float32), hidden_states.device)
    weights = (frame_index[None, :] < counts[:, None]).float()[:, None, :, None]
    denominators = counts[:, None, None]
    means = (hidden_states * weights).sum(dim=2) / denominators
    if pooling == "mean":
        return means
    centred = (hidden_states - means[:, :, None, :]) * weights
    stds = torch.sqrt((centred**2).sum(dim=2) / denominators)
    return torch.cat([means, stds], dim=-1)


def mixes_lengths(loaded: LoadedModel, device: torch.device) -> bool:
    """Whether the engine batches utterances of different lengths for this model on ``device``.

    Always for models without padding effects; for group-norm conv encoders only on a GPU (see
    the module docstring); never for data2vec-audio.
    """
    if not loaded.padding_changes_output:
        return True
    return device.type == "cuda" and loaded.can_mask_padding


def plan_model_batches(loaded: LoadedModel, durations: np.ndarray, budget_seconds: float,
                       whisper_window: str, mixed_lengths: bool) -> list[np.ndarray]:
    """The engine's batches for ``loaded``: :func:`plan_batches` with Whisper's full window
    costing 30 s per clip, and equal-length batches unless ``mixed_lengths``
    (:func:`mixes_lengths`)."""
    full_window = loaded.family == WHISPER_FAMILY and whisper_window == "full"
    return plan_batches(durations, budget_seconds,
                        cost_seconds=WHISPER_WINDOW_SECONDS if full_window else None,
                        equal_lengths_only=not mixed_lengths)


def _durations(table: pd.DataFrame) -> np.ndarray:
    if "duration_s" in table.columns and table["duration_s"].notna().all():
        return table["duration_s"].to_numpy(dtype=np.float64)
    from serlib.data.audio import audio_info

    return np.array([audio_info(path)[0] for path in table["path"]], dtype=np.float64)


def _split_by_exact_length(waveforms: list[np.ndarray]) -> list[list[int]]:
    """Positions grouped by exact sample count (resampling may make equal durations differ)."""
    groups: dict[int, list[int]] = {}
    for position, waveform in enumerate(waveforms):
        groups.setdefault(len(waveform), []).append(position)
    return list(groups.values())


def _load_batch_audio(paths: pd.Series, rows: np.ndarray) -> list[np.ndarray]:
    return [
        load_audio(paths.iloc[row], SAMPLE_RATE, min_seconds=MIN_UTTERANCE_SECONDS) for row in rows
    ]


def _prefetched_audio(
    paths: pd.Series, batches: list[np.ndarray], pending: list[int]
) -> Iterator[tuple[int, np.ndarray, list[np.ndarray]]]:
    """``(batch number, rows, waveforms)`` of each pending batch, decoding the next one meanwhile.

    One background thread reads and resamples batch k+1 while the model runs batch k (decoding
    releases the GIL in soundfile/soxr). A bad file raises its :class:`SerlibError` here, in order.
    """
    pending = list(pending)
    if not pending:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="serlib-audio") as pool:
        upcoming = pool.submit(_load_batch_audio, paths, batches[pending[0]])
        for position, number in enumerate(pending):
            waveforms = upcoming.result()
            if position + 1 < len(pending):
                upcoming = pool.submit(_load_batch_audio, paths, batches[pending[position + 1]])
            yield number, batches[number], waveforms


@dataclass
class _LaunchedBatch:
    """A batch whose model run has been queued; its results may still be on the device."""

    pooled: list[tuple[list[int], torch.Tensor]]  # (positions in the batch, pooled rows)
    frames: dict[int, torch.Tensor]  # position -> [T, L+1, D] float16 frames (keep_frames only)
    counts: np.ndarray

    def frame_tensor(self) -> torch.Tensor:
        """The batch's frames concatenated in batch order, ``[sum(counts), L+1, D]`` float16,
        where they were computed (a frame sink keeps them on the GPU)."""
        return torch.cat([self.frames[p] for p in range(len(self.counts))])

    def collect(self, with_frames: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Pooled features, frame counts and (optionally) concatenated frames, on the host."""
        pooled_rows: dict[int, np.ndarray] = {}
        for positions, pooled in self.pooled:
            pooled = pooled.cpu().numpy()
            for position_in_group, position in enumerate(positions):
                pooled_rows[position] = pooled[position_in_group]
        size = len(self.counts)
        pooled = np.stack([pooled_rows[p] for p in range(size)]).astype(np.float32)
        frames = (np.concatenate([self.frames[p].cpu().numpy() for p in range(size)])
                  if self.frames and with_frames else None)
        return pooled, self.counts, frames


def _launch_batch(
    loaded: LoadedModel,
    waveforms: list[np.ndarray],
    pooling: str,
    whisper_window: str,
    keep_frames: bool,
    mixed_lengths: bool,
) -> _LaunchedBatch:
    """Queue one batch's model run and pooling (in the weights' dtype; see ``use_dtype``)."""
    groups = ([list(range(len(waveforms)))] if mixed_lengths
              else _split_by_exact_length(waveforms))
    launched = _LaunchedBatch([], {}, np.zeros(len(waveforms), dtype=np.int64))
    with torch.inference_mode():
        for group in groups:
            hidden, valid = loaded.hidden_states([waveforms[p] for p in group], whisper_window)
            launched.pooled.append((group, _pool_on_device(hidden, valid, pooling)))
            for position_in_group, position in enumerate(group):
                launched.counts[position] = valid[position_in_group]
                if keep_frames:
                    frames = hidden[position_in_group, :, : valid[position_in_group]]
                    launched.frames[position] = frames.transpose(0, 1).to(torch.float16)
    return launched


def _run_batch(
    loaded: LoadedModel,
    waveforms: list[np.ndarray],
    pooling: str,
    dtype: str,
    whisper_window: str,
    keep_frames: bool,
    mixed_lengths: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Pooled features, frame counts and (optionally) concatenated frames of one batch."""
    loaded.use_dtype(getattr(torch, dtype))  # weights in the compute dtype, not autocast
    if mixed_lengths is None:
        mixed_lengths = mixes_lengths(loaded, loaded.device)
    return _launch_batch(loaded, waveforms, pooling, whisper_window, keep_frames,
                         mixed_lengths).collect()


def extract_features(
    model_name: str | LoadedModel,
    manifest: str | Path | pd.DataFrame,
    out_dir: str | Path,
    *args,
    wait: bool = True,
    verify_audio: bool = False,
    **kwargs,
) -> ExtractionResult:
    """Extract pooled per-layer features of every manifest utterance into the feature store.

    Holds the store folder's lock (:func:`serlib.common.locks.folder_lock`) for the whole
    check-compute-write: a second run on the same store waits for the first (saying who holds
    it) and then finds its work done; ``wait=False`` stops at once with a
    :class:`SerlibError` instead. ``verify_audio`` hashes every audio file's bytes into the
    cache key (catches audio edited in place). The other arguments are those of
    :func:`_extract_features` below.
    """
    folder = _store_location(model_name, manifest, out_dir, kwargs.get("corpus_name"),
                             kwargs.get("model_label"))[1]
    with folder_lock(folder, wait=wait, what="serlib extract"):
        return _extract_features(model_name, manifest, out_dir, *args,
                                 verify_audio=verify_audio, **kwargs)


def _store_location(model_name: str | LoadedModel, manifest, out_dir, corpus_name: str | None,
                    model_label: str | None) -> tuple[str, Path, Path]:
    """``(label, store folder, legacy store folder)`` of a run, without loading the model."""
    table, source = read_manifest(manifest)
    corpus = corpus_name_of(table, source, corpus_name)
    if is_acoustic(model_name):
        label = model_label or model_name
        return label, store_folder(out_dir, label, corpus), store_folder(out_dir, label, corpus)
    name = model_name.name if isinstance(model_name, LoadedModel) else model_name
    label = model_label or name
    fingerprint = None
    if model_label is None and is_local_model_path(name):
        fingerprint = (model_name.fingerprint if isinstance(model_name, LoadedModel)
                       else model_fingerprint(name))
    return (label, store_folder(out_dir, label, corpus, fingerprint),
            legacy_store_folder(out_dir, label, corpus))


def _extract_features(
    model_name: str | LoadedModel,
    manifest: str | Path | pd.DataFrame,
    out_dir: str | Path,
    pooling: str = "mean",
    batch_seconds: float | None = None,
    device: str = "auto",
    dtype: str = "auto",
    keep_frames: bool = False,
    corpus_name: str | None = None,
    model_label: str | None = None,
    progress: bool = True,
    whisper_window: str = "full",
    num_threads: int | None = None,
    on_batch: Callable[[BatchDone], None] | None = None,
    verify_audio: bool = False,
    loader: Callable[[str, torch.device], LoadedModel] = load_model,
    frame_sink: Callable[[np.ndarray, np.ndarray, torch.Tensor], None] | None = None,
) -> ExtractionResult:
    """The engine behind :func:`extract_features` (called with the store folder locked).

    ``model_name``: any name :func:`serlib.features.models.load_model` accepts, or an already loaded
    model; ``acoustic:egemaps`` and ``acoustic:mfcc`` go to :mod:`serlib.features.acoustic` (acoustic
    baselines in the same store format; the model settings do not apply to them).
    ``manifest``: a manifest CSV path or DataFrame (``utterance_id``, ``path``, and ideally
    ``duration_s``). Output folder: ``<out_dir>/<model slug>/<corpus>/``.
    ``whisper_window``: ``full`` (Whisper's exact 30 s window) or ``audio`` (only the frames
    covering audio; much faster, features differ, see ``docs/layers.md``).
    ``model_label`` names the model in the store's folder and index (default: ``model_name``);
    use it when the model is loaded from a local folder, so results read ``whisper-base``
    rather than a path.
    ``on_batch`` is called after each stored batch (used by tests to simulate a kill).
    ``loader(name, device)`` loads the model when it is needed (a study passes one that keeps
    the last model, so a model's corpora in a row load it once).
    ``frame_sink(rows, counts, frames)`` receives every batch's frames (``[sum(counts), L+1, D]``
    float16, on the device) for probes that train on frames held in memory
    (:class:`serlib.features.frames.FrameCollector`): the model then runs over every batch even
    when the pooled store is finished, and only the pooled store is written.
    Returns an :class:`ExtractionResult`; a finished store with the same cache key is reused.
    """
    if is_acoustic(model_name):
        engine_settings = {
            "pooling": pooling, "batch_seconds": batch_seconds, "device": device, "dtype": dtype,
            "keep_frames": keep_frames, "whisper_window": whisper_window, "num_threads": num_threads,
        }
        return extract_acoustic_features(
            model_name, manifest, out_dir, corpus_name=corpus_name, model_label=model_label,
            progress=progress, on_batch=on_batch, ignored_settings=engine_settings,
            verify_audio=verify_audio,
        )
    started = time.perf_counter()
    if pooling not in POOLINGS:
        raise SerlibError(f"unknown pooling {pooling!r}; use one of {POOLINGS}")
    if whisper_window not in WHISPER_WINDOWS:
        raise SerlibError(f"unknown Whisper window {whisper_window!r}; use one of {WHISPER_WINDOWS}")
    table, source = read_manifest(manifest)
    corpus = corpus_name_of(table, source, corpus_name)
    torch_device = resolve_device(device)
    compute_dtype = resolve_dtype(dtype, torch_device)
    if torch_device.type == "cpu":
        torch.set_num_threads(num_threads or os.cpu_count() or 1)

    loaded = model_name if isinstance(model_name, LoadedModel) else None
    name = loaded.name if loaded else model_name
    label = model_label or name
    fingerprint = loaded.fingerprint if loaded else model_fingerprint(name)
    load_seconds = 0.0
    if fingerprint is None:  # not local yet: loading fetches it and tells the fingerprint
        load_started = time.perf_counter()
        loaded = loader(name, torch_device)
        load_seconds = time.perf_counter() - load_started
        fingerprint = loaded.fingerprint
    key_fields = {
        "model": label,
        "weights_fingerprint": fingerprint,
        "manifest_sha256": manifest_sha256(table),
        "pooling": pooling,
        "sample_rate": SAMPLE_RATE,
        "dtype": compute_dtype,
        "keep_frames": keep_frames,
        "whisper_window": whisper_window,
        "format_version": STORE_FORMAT_VERSION,
        "extraction_code_version": EXTRACTION_CODE_VERSION,
    }
    if verify_audio:
        key_fields["audio_sha256"] = audio_contents_sha256(table["path"])
    key = cache_key(key_fields)
    _, folder, legacy_folder = _store_location(loaded or name, table, out_dir, corpus,
                                               model_label)
    finished = finished_store_folder(folder, legacy_folder, key)
    if finished is not None and frame_sink is None:  # checked before loading the model
        return ExtractionResult(finished, True, time.perf_counter() - started, 0.0, len(table), 0,
                                load_seconds)
    if loaded is None:
        load_started = time.perf_counter()
        loaded = loader(name, torch_device)
        load_seconds = time.perf_counter() - load_started
    loaded.model.to(torch_device)
    is_whisper = loaded.family == WHISPER_FAMILY
    mixed_lengths = mixes_lengths(loaded, torch_device)
    batches = plan_model_batches(loaded, _durations(table),
                                 batch_seconds or DEFAULT_BATCH_SECONDS[torch_device.type],
                                 whisper_window, mixed_lengths)
    run = None if finished is not None else resume_store(folder, key, batches, keep_frames)
    if run is None and frame_sink is None:
        return ExtractionResult(folder, True, time.perf_counter() - started, 0.0, len(table), 0,
                                load_seconds)
    to_store = set(run.pending) if run is not None else set()
    to_run = list(range(len(batches))) if frame_sink is not None else run.pending

    audio_seconds = 0.0
    num_computed = 0
    compute_started = time.perf_counter()
    bar = tqdm(
        total=sum(len(batches[number]) for number in to_run), unit="utt", disable=not progress,
        desc=f"{label} on {corpus}", dynamic_ncols=True,
    )
    loaded.use_dtype(getattr(torch, compute_dtype))  # weights in the compute dtype, not autocast

    stages = dict.fromkeys(("audio", "launch", "collect", "store", "finish"), 0.0)

    def timed(stage: str, since: float) -> float:
        now = time.perf_counter()
        stages[stage] += now - since
        return now

    def store(number: int, rows: np.ndarray, waveforms: list[np.ndarray],
              launched: _LaunchedBatch) -> None:
        nonlocal audio_seconds, num_computed
        since = time.perf_counter()
        if frame_sink is not None:
            frame_sink(rows, launched.counts, launched.frame_tensor())
        if number in to_store:
            pooled, counts, frames = launched.collect(with_frames=keep_frames)
            since = timed("collect", since)
            run.save(Chunk(number, rows, pooled, counts), frames)
        timed("store", since)
        num_computed += len(rows)
        audio_seconds += sum(len(waveform) for waveform in waveforms) / SAMPLE_RATE
        elapsed = time.perf_counter() - compute_started
        bar.update(len(rows))
        bar.set_postfix_str(f"{audio_seconds / max(elapsed, 1e-9):.1f} audio-s/s")
        if on_batch is not None:
            on_batch(BatchDone(number, table["utterance_id"].iloc[rows].tolist(), num_computed))

    with bar:
        previous = None  # batch k, stored once batch k+1 has been queued
        audio = _prefetched_audio(table["path"], batches, to_run)
        since = time.perf_counter()
        while True:
            try:
                number, rows, waveforms = next(audio)  # a bad file raises here
                since = timed("audio", since)
                launched = _launch_batch(loaded, waveforms, pooling, whisper_window,
                                         keep_frames or frame_sink is not None, mixed_lengths)
                timed("launch", since)
            except StopIteration:
                break
            except BaseException:  # bad audio, out of memory, Ctrl-C: keep the batch before
                if previous is not None:
                    store(*previous)
                raise
            done, previous = previous, (number, rows, waveforms, launched)
            if done is not None:
                store(*done)
            since = time.perf_counter()
        if previous is not None:
            store(*previous)

    pooled_dim = loaded.width * (2 if pooling == "mean+std" else 1)
    index = {
        **describe(loaded),
        **key_fields,
        "cache_key": key,
        "corpus": corpus,
        "manifest": source,
        "num_utterances": len(table),
        "layers": loaded.num_hidden_states,
        "dim": pooled_dim,
        "layer_numbering": LAYER_NUMBERING,
        "whisper_window": whisper_window if is_whisper else None,
        "device": torch_device.type,
        "serlib_version": __version__,
    }
    since = time.perf_counter()
    if run is not None:
        run.finish(
            table["utterance_id"].tolist(),
            (len(table), loaded.num_hidden_states, pooled_dim),
            (loaded.num_hidden_states, loaded.width) if keep_frames else None,
            index,
        )
    timed("finish", since)
    return ExtractionResult(finished or folder, run is None, time.perf_counter() - started, audio_seconds,
                            len(table), num_computed, load_seconds, stages)


__all__ = [
    "BatchDone",
    "ExtractionResult",
    "cpu_has_native_bfloat16",
    "extract_features",
    "mixes_lengths",
    "plan_batches",
    "plan_model_batches",
    "pool_hidden_states",
    "read_manifest",
]
