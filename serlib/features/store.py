"""The on-disk feature store: cache keys, atomic writes, resumable chunks, readers.

Layout of one store folder ``<out>/<model slug>/<corpus>/`` (contract in
``docs/architecture.md``; readable with NumPy, pandas and json alone):

- ``pooled.npy`` float32 ``[N, L+1, D]`` (``mean``) or ``[N, L+1, 2D]`` (``mean+std``, mean first)
- ``utterances.csv`` ``utterance_id, num_frames``, row i <-> ``pooled[i]``
- ``frames.npy`` float16 ``[total_frames, L+1, D]`` + ``frame_offsets.npy`` int64 ``[N+1]`` (optional)
- ``index.json`` written last, with ``complete: true``; a folder without it is unfinished.

While a run is in progress, finished batches live as chunk files in ``.partial/`` (each written
to a temporary name unique to its writer, fsynced and renamed, so a chunk file is either whole
or absent). ``.partial/key.txt``
holds the cache key they were computed under; chunks of another key, or of a ``.partial/``
without ``key.txt``, are discarded. Every writer of a store folder holds its lock
(:func:`serlib.common.locks.folder_lock`, lock file ``<out>/<model slug>/.<corpus>.lock``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from serlib.common.errors import SerlibError
from serlib.common.files import (atomic_save_npy, atomic_write, atomic_write_text,
                                 disk_full_error, fsync_file, is_no_space_error, replace_durably,
                                 temporary_path)

STORE_FORMAT_VERSION = 1
INDEX_FILE = "index.json"
POOLED_FILE = "pooled.npy"
UTTERANCES_FILE = "utterances.csv"
FRAMES_FILE = "frames.npy"
FRAME_OFFSETS_FILE = "frame_offsets.npy"
PARTIAL_DIR = ".partial"
DATA_FILES = (POOLED_FILE, UTTERANCES_FILE, FRAMES_FILE, FRAME_OFFSETS_FILE)


#: Hex digits of the weights fingerprint in a local model's folder name.
SHORT_FINGERPRINT_DIGITS = 8


def model_slug(model_name: str) -> str:
    """Folder name for a model: ``/`` and ``:`` replaced by ``__``."""
    return model_name.replace("/", "__").replace(":", "__")


def is_local_model_path(model_name: str) -> bool:
    """True when ``model_name`` is a model folder on this machine (not a Hub id or short name)."""
    return os.path.isdir(os.path.expanduser(model_name))


def local_model_folder_name(model_path: str, fingerprint: str) -> str:
    """``whisper-tiny.en-1a2b3c4d``: a local model's folder name plus a short weights fingerprint.

    The name no longer depends on where the model sits (the full path is kept in
    ``index.json``), and two different models in same-named folders still get two stores.
    """
    digits = fingerprint.rsplit("-", 1)[-1][:SHORT_FINGERPRINT_DIGITS]
    name = Path(os.path.abspath(os.path.expanduser(model_path))).name
    return f"{model_slug(name)}-{digits}"


def store_folder(out_dir: str | Path, model_name: str, corpus: str,
                 fingerprint: str | None = None) -> Path:
    """``<out>/<model slug>/<corpus>/``; for a local model folder (with its ``fingerprint``)
    ``<out>/<folder name>-<short fingerprint>/<corpus>/``."""
    if fingerprint is not None and is_local_model_path(model_name):
        return Path(out_dir) / local_model_folder_name(model_name, fingerprint) / corpus
    return Path(out_dir) / model_slug(model_name) / corpus


def legacy_store_folder(out_dir: str | Path, model_name: str, corpus: str) -> Path:
    """Where earlier serlib versions put a store: the slug of the whole model name (for local
    models the absolute path, ``__root__.cache__...``). Still read when finished."""
    return Path(out_dir) / model_slug(model_name) / corpus


def finished_store_folder(folder: Path, legacy_folder: Path, key: str) -> Path | None:
    """``folder`` if it holds a finished store of ``key``; else ``legacy_folder`` if *it* does
    (stores written under the old folder naming stay usable); else None."""
    for candidate in (folder, legacy_folder):
        if is_finished(candidate, key):
            return candidate
    return None


#: The manifest columns that decide a store's features: which audio, in which row order.
AUDIO_COLUMNS = ("utterance_id", "path", "duration_s", "sample_rate")


def manifest_sha256(manifest: pd.DataFrame) -> str:
    """sha256 of the manifest's audio columns (:data:`AUDIO_COLUMNS` that it has, as CSV, rows
    in their given order).

    Label columns (emotion, speaker, gender, text, ...) do not change what a model computes, so
    a manifest that gains or corrects a label keeps its feature stores.
    """
    columns = [column for column in AUDIO_COLUMNS if column in manifest.columns]
    buffer = io.StringIO()
    manifest.loc[:, columns].to_csv(buffer, index=False, lineterminator="\n")
    return hashlib.sha256(buffer.getvalue().encode()).hexdigest()


def audio_contents_sha256(paths: Iterable[str | Path]) -> str:
    """sha256 over the bytes of every audio file, in the given order (``--verify-audio``).

    The manifest's sha256 covers paths, durations and sample rates only; this also catches
    audio edited in place. It reads every file once, so it costs a pass over the corpus.
    """
    digest = hashlib.sha256()
    for path in paths:
        try:
            digest.update(bytes.fromhex(file_sha256(path)))
        except OSError as error:
            raise SerlibError(f"{path}: cannot read the audio file to hash it ({error}); "
                              "fix the manifest or restore the file") from None
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """The sha256 (hex) of a file's bytes, read in blocks of 16 MiB."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_key(fields: dict) -> str:
    """sha256 of the JSON of ``fields`` (sorted keys): equal only for equal inputs."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def read_complete_index(folder: Path) -> dict | None:
    """The folder's ``index.json`` if it exists, parses and says ``complete: true``; else None."""
    try:
        index = json.loads((Path(folder) / INDEX_FILE).read_text())
    except (OSError, ValueError):
        return None
    return index if index.get("complete") is True else None


def is_finished(folder: Path, key: str) -> bool:
    """True when ``folder`` holds a finished store computed under cache key ``key``."""
    index = read_complete_index(folder)
    return index is not None and index.get("cache_key") == key


def discard_stale_store(folder: Path) -> None:
    """Remove a finished store's files (index first, so the folder is never half-valid)."""
    for name in (INDEX_FILE, *DATA_FILES):
        (folder / name).unlink(missing_ok=True)


@dataclass
class Chunk:
    """One finished batch: manifest row indices, their pooled features and frame counts."""

    number: int
    row_indices: np.ndarray
    pooled: np.ndarray
    num_frames: np.ndarray


class PartialWork:
    """Finished chunks of an unfinished run, in ``<folder>/.partial/``, for one cache key.

    Made only while holding the store folder's lock (:func:`serlib.common.locks.folder_lock`):
    it deletes leftover temporary files, which would otherwise be another live writer's.
    A ``.partial/`` whose ``key.txt`` is missing or names another key is discarded whole.
    """

    def __init__(self, folder: Path, key: str):
        self.directory = Path(folder) / PARTIAL_DIR
        key_file = self.directory / "key.txt"
        if self.directory.is_dir() and (
            not key_file.is_file() or key_file.read_text().strip() != key
        ):  # chunks of another key, or of no recorded key, are never adopted
            shutil.rmtree(self.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        for leftover in self.directory.glob("*.tmp"):
            leftover.unlink()
        if not key_file.is_file():
            atomic_write_text(key_file, key)

    def _chunk_path(self, number: int) -> Path:
        return self.directory / f"chunk-{number:06d}.npz"

    def _frames_path(self, number: int) -> Path:
        return self.directory / f"chunk-{number:06d}.frames.npy"

    def load_chunk(self, number: int, expected_rows: np.ndarray, with_frames: bool) -> Chunk | None:
        """The finished chunk ``number`` if it holds exactly ``expected_rows``; else None.

        A chunk that cannot be read, holds other rows, or lacks its frame file (when frames
        are kept) is deleted and reported as not finished.
        """
        path = self._chunk_path(number)
        if not path.is_file():
            return None
        try:
            with np.load(path) as stored:
                chunk = Chunk(number, stored["row_indices"], stored["pooled"], stored["num_frames"])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            chunk = None
        frames_ok = not with_frames or self._frames_path(number).is_file()
        if chunk is None or not frames_ok or not np.array_equal(chunk.row_indices, expected_rows):
            path.unlink(missing_ok=True)
            return None
        return chunk

    def save_chunk(self, chunk: Chunk, frames: np.ndarray | None) -> None:
        """Store a finished batch; the frames file first, the chunk file (the marker) last."""
        if frames is not None:
            atomic_save_npy(self._frames_path(chunk.number), frames.astype(np.float16))
        atomic_write(self._chunk_path(chunk.number), lambda handle: np.savez(
            handle, row_indices=chunk.row_indices, pooled=chunk.pooled,
            num_frames=chunk.num_frames,
        ), mode="wb")

    def chunk_frames(self, number: int) -> np.ndarray:
        """Memory-mapped frames of chunk ``number`` (its utterances' frames, concatenated)."""
        return np.load(self._frames_path(number), mmap_mode="r")

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def write_store(
    folder: Path,
    partial: PartialWork,
    chunks: list[Chunk],
    utterance_ids: list[str],
    pooled_shape: tuple[int, int, int],
    frame_shape: tuple[int, int] | None,
    index: dict,
) -> None:
    """Assemble the chunks into the final files in manifest order; ``index.json`` last.

    Arrays are written through memory maps one chunk at a time, so neither the pooled
    features nor the frames of a whole corpus need to fit in memory.
    """
    num_frames = np.zeros(len(utterance_ids), dtype=np.int64)
    for chunk in chunks:
        num_frames[chunk.row_indices] = chunk.num_frames
    offsets = np.concatenate([[0], np.cumsum(num_frames)]).astype(np.int64)
    frames_full_shape = None if frame_shape is None else (int(offsets[-1]), *frame_shape)
    try:
        def fill_pooled(pooled: np.ndarray) -> None:
            for chunk in chunks:
                pooled[chunk.row_indices] = chunk.pooled

        _write_memmap(folder / POOLED_FILE, np.float32, pooled_shape, fill_pooled)
        if frames_full_shape is not None:
            def fill_frames(frames: np.ndarray) -> None:
                for chunk in chunks:
                    chunk_frames = partial.chunk_frames(chunk.number)
                    local_offsets = np.concatenate([[0], np.cumsum(chunk.num_frames)])
                    for position, row in enumerate(chunk.row_indices):
                        source = chunk_frames[local_offsets[position]: local_offsets[position + 1]]
                        frames[offsets[row]: offsets[row + 1]] = source

            _write_memmap(folder / FRAMES_FILE, np.float16, frames_full_shape, fill_frames)
            atomic_save_npy(folder / FRAME_OFFSETS_FILE, offsets)
    except OSError as error:
        if not is_no_space_error(error):
            raise
        needed = int(np.prod(pooled_shape)) * 4 + (
            int(np.prod(frames_full_shape)) * 2 if frames_full_shape is not None else 0)
        raise disk_full_error(folder / POOLED_FILE, needed, error) from None

    table = pd.DataFrame({"utterance_id": utterance_ids, "num_frames": num_frames})
    atomic_write_text(folder / UTTERANCES_FILE, table.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(folder / INDEX_FILE, json.dumps({**index, "complete": True}, indent=2))


def _write_memmap(path: Path, dtype, shape: tuple[int, ...], fill) -> None:
    """Write a ``.npy`` of ``shape`` through a memory map filled by ``fill(array)``, atomically.

    The file's blocks are reserved (``posix_fallocate``) before any page is written, so a full
    disk raises ``OSError(ENOSPC)`` here rather than killing the process with SIGBUS later; the
    temporary file is removed on any failure.
    """
    temporary = temporary_path(path)
    try:
        array = np.lib.format.open_memmap(temporary, "w+", dtype, shape)
        with open(temporary, "rb+") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size and hasattr(os, "posix_fallocate"):
                os.posix_fallocate(handle.fileno(), 0, size)
        fill(array)
        array.flush()
        del array
        fsync_file(temporary)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    replace_durably(temporary, path)


@dataclass
class Resumption:
    """An unfinished store being filled: the chunks already done and the ones still to compute.

    Made by :func:`resume_store`; the engine computes :attr:`pending` chunks, stores each with
    :meth:`save`, and ends with :meth:`finish`, which writes the final files (index last) and
    removes ``.partial/``.
    """

    folder: Path
    key: str
    partial: PartialWork
    plan: list[np.ndarray]
    chunks: list[Chunk | None]

    @property
    def pending(self) -> list[int]:
        """Numbers of the chunks still to compute, in plan order."""
        return [number for number, chunk in enumerate(self.chunks) if chunk is None]

    def pending_rows(self) -> int:
        return sum(len(self.plan[number]) for number in self.pending)

    def save(self, chunk: Chunk, frames: np.ndarray | None) -> None:
        self.partial.save_chunk(chunk, frames)
        self.chunks[chunk.number] = chunk

    def finish(self, utterance_ids: list[str], pooled_shape: tuple[int, int, int],
               frame_shape: tuple[int, int] | None, index: dict) -> None:
        write_store(self.folder, self.partial, self.chunks, utterance_ids, pooled_shape,
                    frame_shape, index)
        self.partial.remove()


def resume_store(folder: Path, key: str, plan: list[np.ndarray],
                 with_frames: bool) -> Resumption | None:
    """The one "finished store / resume" rule of every engine that writes a feature store.

    None when ``folder`` holds a finished store of cache key ``key`` (nothing to do). Otherwise
    a finished store of another key is discarded, chunks of ``.partial/`` computed under ``key``
    for exactly the rows of ``plan`` are kept, and the rest are left to compute.
    """
    if is_finished(folder, key):
        return None
    folder.mkdir(parents=True, exist_ok=True)
    discard_stale_store(folder)
    partial = PartialWork(folder, key)
    chunks = [partial.load_chunk(number, rows, with_frames) for number, rows in enumerate(plan)]
    return Resumption(folder, key, partial, plan, chunks)


def load_pooled(folder: str | Path) -> tuple[np.ndarray, list[str], dict]:
    """Read a finished store: ``(pooled [N, L+1, D] float32, utterance ids, index dict)``."""
    folder = Path(folder)
    index = read_complete_index(folder)
    if index is None:
        raise SerlibError(
            f"{folder} is not a finished feature store (no index.json with complete: true); "
            "run `serlib extract` for it (an interrupted run resumes where it stopped)"
        )
    pooled = np.load(folder / POOLED_FILE)
    utterance_ids = pd.read_csv(folder / UTTERANCES_FILE, dtype={"utterance_id": str})
    return pooled, utterance_ids["utterance_id"].tolist(), index


class FrameReader:
    """Frame-level features of a finished store, memory-mapped: ``reader[i]`` -> ``[T_i, L+1, D]``.

    Only the rows asked for are read from disk (float16, as stored).
    """

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        index = read_complete_index(folder)
        if index is None or not (folder / FRAMES_FILE).is_file():
            raise SerlibError(
                f"{folder} has no finished frame store (frames.npy); rerun `serlib extract` "
                "with --keep-frames"
            )
        self.index = index
        self.frames = np.load(folder / FRAMES_FILE, mmap_mode="r")
        self.offsets = np.load(folder / FRAME_OFFSETS_FILE)
        table = pd.read_csv(folder / UTTERANCES_FILE, dtype={"utterance_id": str})
        self.utterance_ids: list[str] = table["utterance_id"].tolist()

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, row: int) -> np.ndarray:
        return self.frames[self.offsets[row]: self.offsets[row + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[row] for row in range(len(self)))
