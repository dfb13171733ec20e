"""Frame-level features held for as long as the frame-level probes need them.

A :class:`FrameBank` holds the frames of some hidden states of one model x corpus, float16
``[hidden states held, frames, D]``: hidden-state-major, so that the frames of one hidden state
for a mini-batch are one contiguous matrix (the frame store on disk is frame-major, ``[frames,
L+1, D]``). It lives in memory (host or GPU); only a bank filled through a spill file is read
from a temporary memory-mapped file. Utterance ``row`` owns the frames ``starts[row] :
starts[row] + counts[row]``; frames need not be in manifest order (a bank filled by the
extraction engine holds them in batch order).

Where a bank comes from:

- :meth:`FrameBank.from_store`: a finished store's ``frames.npy`` (``keep_frames: true``);
- :class:`FrameCollector`: the extraction engine hands it every batch's frames
  (``extract_features(..., frame_sink=collector)``), so frames never touch the disk; or, when
  they do not fit the memory budget, it appends them to one temporary ``.npy`` in the work
  folder (:meth:`FrameCollector.spilling`), which :meth:`FrameBank.drop` deletes. A spill file
  is never read again after a crash: its name is unique to the run, and
  :func:`remove_stale_spills` deletes what a killed run left behind.

Importable without transformers; torch is imported by the methods that need it.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from serlib.common.errors import SerlibError
from serlib.features.store import FRAME_OFFSETS_FILE, FRAMES_FILE, UTTERANCES_FILE, read_complete_index

SPILL_PREFIX = "frames-spill-"
FRAME_BYTES = 2  # float16, as the frame store


@dataclass
class FrameBank:
    """Frames of the hidden states ``layers`` of one model x corpus (see the module docstring).

    ``frames``: a torch float16 tensor ``[len(layers), F, D]`` (for a spilled bank, a view of
    the spill file's memory map: pages are read from disk as they are used; :meth:`load_layers`
    reads some hidden states into memory); ``starts``/``counts``: int64 ``[N]`` per manifest row; ``num_hidden_states``: the
    model's (L + 1), of which ``layers`` are held.
    """

    frames: Any
    starts: np.ndarray
    counts: np.ndarray
    layers: tuple[int, ...]
    num_hidden_states: int
    utterance_ids: list[str]
    spill_path: Path | None = None

    @property
    def num_utterances(self) -> int:
        return len(self.counts)

    @property
    def width(self) -> int:
        return int(self.frames.shape[-1])

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.frames.shape)) * FRAME_BYTES

    @property
    def spilled(self) -> bool:
        return self.spill_path is not None

    def load_layers(self, layers: list[int], device: str = "cpu") -> "FrameBank":
        """A bank of the hidden states ``layers`` (a subset of :attr:`layers`) in memory."""
        positions = [self.layers.index(layer) for layer in layers]
        values = self.frames[positions]  # a copy: fancy indexing (of a spill, a read from disk)
        return FrameBank(values.to(device), self.starts, self.counts, tuple(layers),
                         self.num_hidden_states, self.utterance_ids)

    def frame_index(self, rows: np.ndarray) -> np.ndarray:
        """int64 indices of the frames of ``rows``, utterance after utterance."""
        rows = np.asarray(rows, dtype=np.int64)
        counts = self.counts[rows]
        within = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        return np.repeat(self.starts[rows], counts) + within

    def utterance(self, row: int):
        """``[len(layers), T, D]`` float16 frames of manifest row ``row`` (an in-memory bank)."""
        start = int(self.starts[row])
        return self.frames[:, start: start + int(self.counts[row])]

    def drop(self) -> None:
        """Let the frames go; a spill file is deleted."""
        self.frames = None  # the memory map closes with its last view
        if self.spill_path is not None:
            self.spill_path.unlink(missing_ok=True)
            self.spill_path = None

    @classmethod
    def from_store(cls, folder: str | Path, layers: list[int] | None = None, device: str = "cpu") -> "FrameBank":
        """The frames of ``layers`` (default: all) of a finished store's ``frames.npy``, read into
        memory (on ``device``)."""
        import torch

        folder = Path(folder)
        index = read_complete_index(folder)
        if index is None or not (folder / FRAMES_FILE).is_file():
            raise SerlibError(f"{folder} has no finished frame store (frames.npy); extract with "
                              "keep_frames, or let the study hold the frames in memory")
        stored = np.load(folder / FRAMES_FILE, mmap_mode="r")
        offsets = np.load(folder / FRAME_OFFSETS_FILE)
        import pandas as pd

        utterances = pd.read_csv(folder / UTTERANCES_FILE, dtype={"utterance_id": str})
        num_hidden_states = int(stored.shape[1])
        chosen = list(range(num_hidden_states)) if layers is None else [int(layer) for layer in layers]
        values = stored if layers is None else stored[:, chosen, :]
        values = np.ascontiguousarray(np.asarray(values, dtype=np.float16).transpose(1, 0, 2))
        return cls(torch.from_numpy(values).to(device),
                   offsets[:-1].astype(np.int64), np.diff(offsets).astype(np.int64), tuple(chosen),
                   num_hidden_states, utterances["utterance_id"].tolist())


@dataclass
class FrameCollector:
    """Receives the extraction engine's frames batch by batch and becomes a :class:`FrameBank`.

    ``layers``: the hidden states to keep (None: all). ``device``: where the frames are held
    (``cpu`` or a GPU). With ``spill_dir`` the frames go to one temporary ``.npy`` there instead
    (hidden-state-major, like a bank in memory), for banks larger than memory;
    ``expected_frames`` (the total, known from a finished pooled store's ``utterances.csv``)
    sizes it. In memory, ``expected_frames`` (exact, or planned from the durations with
    :func:`planned_frames`) reserves the bank up front and every batch is written straight into
    it: the frames take their own size once, not twice (parts, then the bank laid out from
    them); a bank planned too small grows.
    """

    num_utterances: int
    layers: list[int] | None = None
    device: str = "cpu"
    spill_dir: Path | None = None
    expected_frames: int | None = None
    _parts: list = field(default_factory=list)
    _starts: np.ndarray | None = None
    _counts: np.ndarray | None = None
    _filled: int = 0
    _spill: Any = None
    _spill_path: Path | None = None
    _reserved: Any = None
    _num_hidden_states: int | None = None
    _utterance_ids: list[str] | None = None

    def __post_init__(self) -> None:
        self._starts = np.full(self.num_utterances, -1, dtype=np.int64)
        self._counts = np.zeros(self.num_utterances, dtype=np.int64)
        if self.spill_dir is not None and self.expected_frames is None:
            raise ValueError("a spilling collector needs expected_frames")

    def __call__(self, rows: np.ndarray, counts: np.ndarray, frames) -> None:
        """One batch: manifest ``rows``, their frame ``counts`` and their frames concatenated
        (a torch tensor ``[sum(counts), L+1, D]``, float16, on any device)."""
        import torch

        if self._num_hidden_states is None:
            self._num_hidden_states = int(frames.shape[1])
        kept = frames if self.layers is None else frames[:, self.layers]
        total = int(np.sum(counts))
        self._starts[np.asarray(rows)] = self._filled + np.concatenate([[0], np.cumsum(counts)[:-1]])
        self._counts[np.asarray(rows)] = counts
        if self.spill_dir is not None:
            if self._spill is None:
                self._open_spill(kept.shape[1:])
            if self._filled + total > self._spill.shape[1]:
                path = self._spill_path
                self.discard()
                raise SerlibError(f"{path}: the model produced more frames than the "
                                  f"{int(self.expected_frames)} planned; the spill file is deleted, rerun")
            self._spill[:, self._filled: self._filled + total] = (
                kept.to("cpu", torch.float16).numpy().transpose(1, 0, 2))
        elif self.expected_frames is not None:
            if self._reserved is None:
                self._reserved = torch.empty((kept.shape[1], int(self.expected_frames), kept.shape[2]),
                                             dtype=torch.float16, device=self.device)
            if self._filled + total > self._reserved.shape[1]:  # planned too few: grow by a tenth
                grown = torch.empty((self._reserved.shape[0], int(1.1 * (self._filled + total)),
                                     self._reserved.shape[2]), dtype=torch.float16, device=self.device)
                grown[:, :self._filled] = self._reserved[:, :self._filled]
                self._reserved = grown
            self._reserved[:, self._filled: self._filled + total] = kept.to(self.device, torch.float16).transpose(0, 1)
        else:
            self._parts.append(kept.to(self.device, torch.float16))
        self._filled += total

    def _open_spill(self, shape: tuple[int, ...]) -> None:
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        self._spill_path = self.spill_dir / f"{SPILL_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}.npy"
        states, width = map(int, shape)
        self._spill = np.lib.format.open_memmap(self._spill_path, "w+", np.float16,
                                                (states, int(self.expected_frames), width))

    def bank(self, utterance_ids: list[str]) -> FrameBank:
        """The bank of every row received; a row never received is an error."""
        import torch

        missing = np.flatnonzero(self._starts < 0)
        if len(missing):
            self.discard()
            raise SerlibError(f"the extraction delivered no frames for {len(missing)} utterances "
                              f"(first: {utterance_ids[missing[0]]}); rerun the extraction")
        num_hidden_states = self._num_hidden_states
        layers = tuple(range(num_hidden_states)) if self.layers is None else tuple(self.layers)
        if self._spill is not None:
            self._spill.flush()
            if self._filled != self._spill.shape[1]:
                self.discard()
                raise SerlibError(f"the extraction delivered {self._filled} frames, not the "
                                  f"{int(self.expected_frames)} planned; rerun")
            frames, path = torch.from_numpy(self._spill), self._spill_path
        elif self._reserved is not None:  # written in place (the spare planned frames stay unused)
            frames, path = self._reserved[:, :self._filled], None
        else:  # hidden-state-major, filled part by part (each part let go once copied)
            frames = torch.empty((len(layers), self._filled, self._parts[0].shape[-1]),
                                 dtype=torch.float16, device=self.device)
            position = 0
            while self._parts:
                part = self._parts.pop(0)
                frames[:, position: position + len(part)] = part.transpose(0, 1)
                position += len(part)
            path = None
        self._parts, self._spill, self._spill_path, self._reserved = [], None, None, None
        return FrameBank(frames, self._starts, self._counts, layers, num_hidden_states,
                         list(utterance_ids), path)

    def discard(self) -> None:
        """Drop whatever was received (a failed run); a spill file is deleted."""
        self._parts = []
        self._spill = None
        self._reserved = None
        if self._spill_path is not None:
            self._spill_path.unlink(missing_ok=True)
            self._spill_path = None


def remove_stale_spills(folder: Path) -> list[Path]:
    """Delete the spill files a killed run left in ``folder``; they are never trusted."""
    removed = []
    for path in Path(folder).glob(f"{SPILL_PREFIX}*.npy"):
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


__all__ = ["FRAME_MEMORY_SHARE", "FrameBank", "FrameCollector", "FrameMemoryPlan", "default_frame_budget",
           "frame_memory_bytes", "planned_frames", "plan_frame_memory",
           "remove_stale_spills"]


#: Bytes per hidden state and utterance of the per-utterance moments the grid keeps (two float64
#: vectors of D): counted with the bank.
MOMENT_BYTES = 16


@dataclass(frozen=True)
class FrameMemoryPlan:
    """How the frames of one model x corpus are held while its frame-level probes train.

    ``mode``: ``memory`` (every hidden state at once, in memory: one model run, or one read of a
    kept frame store), ``chunks`` (groups of hidden states one after the other, the model run
    once per group or the kept store read once per group; only per-layer probes), ``host``
    (training on a GPU whose budget is too small: one model run holds every hidden state in the
    host's memory; a probe that mixes all hidden states streams its mini-batches to the GPU,
    per-layer probes train on groups copied to the GPU), or ``spill`` (one model run writes
    every hidden state to a temporary file in the work folder, read back a group at a time; a
    probe that mixes all hidden states reads the file itself).
    ``chunks``: the hidden states of each group. Bytes: the frames (float16), the most held in
    (device) memory at once, the temporary file, and the host memory of ``host``.
    """

    mode: str
    chunks: tuple[tuple[int, ...], ...]
    bank_bytes: int
    peak_memory_bytes: int
    spill_bytes: int
    reason: str
    host_bytes: int = 0


def frame_memory_bytes(frames: float, utterances: int, hidden_states: int, width: int) -> float:
    """Bytes a bank of ``hidden_states`` x ``width`` holds for ``frames`` frames of ``utterances``
    utterances: the float16 frames and the per-utterance moments the grid keeps beside them."""
    return hidden_states * (frames * width * FRAME_BYTES + utterances * width * MOMENT_BYTES)


def plan_frame_memory(frames: int, utterances: int, hidden_states: int, width: int, budget_bytes: float,
                      needs_all_layers: bool, frames_on_disk: bool = False, rerun_seconds: float = 0.0,
                      disk_bytes_per_s: float = 200e6, disk_free_bytes: float = float("inf"),
                      host_budget_bytes: float = 0.0) -> FrameMemoryPlan:
    """The :class:`FrameMemoryPlan` for ``frames`` frames of ``hidden_states`` x ``width``.

    Everything fits the budget: ``memory``. Otherwise hidden states go in groups that fit. A
    kept frame store is read a group at a time (unless a probe mixes every hidden state). On a
    GPU, frames that fit the host's budget (``host_budget_bytes``; 0 where training runs on the
    host) are held there: ``host``, one model run and no disk. Else a probe mixing every hidden
    state (``needs_all_layers``) needs them together, so they are spilled to disk; else groups
    are computed by rerunning the model (``rerun_seconds`` per run) or read from one spill file
    (written and read back at ``disk_bytes_per_s``), whichever is cheaper and fits the free disk.
    """
    per_state = frame_memory_bytes(frames, utterances, 1, width)
    bank = frames * width * FRAME_BYTES * hidden_states
    states = tuple(range(hidden_states))
    if per_state * hidden_states <= budget_bytes:
        return FrameMemoryPlan("memory", (states,), bank, per_state * hidden_states, 0,
                               "every hidden state fits the memory budget")
    per_group = int(budget_bytes // per_state)
    if per_group < 1:
        raise SerlibError(f"one hidden state's frames need {per_state / 1e9:.2f} GB, more than the "
                          f"frame memory budget of {budget_bytes / 1e9:.2f} GB; raise "
                          "extraction.frame_memory_gb in the profile, or leave the frame-level probes out")
    chunks = tuple(states[start:start + per_group] for start in range(0, hidden_states, per_group))
    peak = per_state * len(chunks[0])
    spill_fits = bank * 1.05 <= disk_free_bytes
    if frames_on_disk and not needs_all_layers:
        return FrameMemoryPlan("chunks", chunks, bank, peak, 0,
                               f"{len(chunks)} groups of hidden states read from the kept frame store")
    if per_state * hidden_states <= host_budget_bytes:
        return FrameMemoryPlan("host", chunks, bank, peak, 0,
                               f"held in host memory (the GPU's budget holds {per_group} hidden states at a time): "
                               "mixed mini-batches are streamed to the GPU, groups of hidden states copied over",
                               host_bytes=per_state * hidden_states)
    if needs_all_layers:
        if not spill_fits:
            raise SerlibError(f"the frames ({bank / 1e9:.1f} GB) fit neither the frame memory budget "
                              f"({budget_bytes / 1e9:.1f} GB) nor the free disk ({disk_free_bytes / 1e9:.1f} GB), "
                              "and the all-layer aggregation needs every hidden state together; "
                              "raise extraction.frame_memory_gb or free disk space")
        return FrameMemoryPlan("spill", chunks, bank, peak, bank,
                               "the all-layer aggregation needs every hidden state: spilled to disk")
    spill_seconds = 2 * bank / disk_bytes_per_s
    rerun_total = (len(chunks) - 1) * rerun_seconds
    if spill_fits and spill_seconds < rerun_total:
        return FrameMemoryPlan("spill", chunks, bank, peak, bank,
                               f"spilling ({spill_seconds:.0f} s of disk) is cheaper than "
                               f"{len(chunks) - 1} more model runs ({rerun_total:.0f} s)")
    return FrameMemoryPlan("chunks", chunks, bank, peak, 0,
                           f"{len(chunks)} model runs ({rerun_total:.0f} s more) are cheaper than "
                           f"spilling ({spill_seconds:.0f} s)" if spill_fits else
                           f"{len(chunks)} model runs: the spill would not fit the free disk")


#: The share of the memory available now that the frames may take, by device kind. On a GPU
#: the rest (15%) holds the model, one batch's activations and the probes' workspace: the bank
#: is reserved up front and filled in place (:class:`FrameCollector`), so nothing else of its
#: size is held beside it (an IEMOCAP x 24-block bank, 63.7 GB float16, with its moments, fits
#: an 80 GB GPU: ``serlib plan paper``). On a CPU the notebooks' other work shares the memory.
FRAME_MEMORY_SHARE = {"cuda": 0.85, "cpu": 0.5}


def default_frame_budget(device: str) -> float:
    """Bytes the frames may take: :data:`FRAME_MEMORY_SHARE` of the memory available now (on a
    GPU, of its free memory)."""
    if device.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info()
        return FRAME_MEMORY_SHARE["cuda"] * free
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            fields = dict(line.split(":", 1) for line in handle)
        available = int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    return FRAME_MEMORY_SHARE["cpu"] * available


def planned_frames(durations_s, frame_rate: float) -> int:
    """Frames to reserve for utterances of ``durations_s`` at ``frame_rate`` frames per second:
    each rounded up, and one spare per utterance (the models' exact counts depend on their
    convolutions; a reserve found short grows, see :class:`FrameCollector`)."""
    durations = np.asarray(durations_s, dtype=np.float64)
    return int(np.ceil(durations * frame_rate).sum()) + len(durations)
