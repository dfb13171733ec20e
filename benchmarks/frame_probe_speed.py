"""Frame-level probe grid speed: the fused grid (serlib.probing.frame_grid) against its floor.

Times the paper's frame-level systems on random frames shaped like Whisper base on EmoDB-2s
(535 utterances x 100 frames x 7 hidden states x 512, 7 classes, 10 speakers), under a
speaker-grouped cross-validation like real-small's (10 folds: one test speaker, two dev
speakers, seven training speakers), with the paper's protocol (Adam 1e-3, batch 32, 30 epochs,
evaluation of dev and test after every epoch), and prints

- seconds of the grid for ``dense`` (one probe per hidden state) and ``aggregate`` (the
  all-layer DENSE system), every fold and seed in one pass;
- the compute floor: the counted multiply-adds no implementation can skip (per training frame:
  the head's forward ``D·H + H·H`` and the backward a frozen input needs, ``H·H`` for dW2,
  ``H·H`` for dA1, ``D·H`` for dW1; the aggregation adds its mixture ``S·D``, the input gradient
  ``D·H`` and the weights' gradient ``S·D``; per utterance the output layer's ``3·H·C``; per
  evaluated frame the forward) at this machine's float32 matmul peak measured in the same run
  (a large square sgemm, the faster of a measurement before and after the grid);
- the memory floor: the float16 frames each training step and each evaluation must read (once
  per mini-batch for all the probes of a run), at the measured copy bandwidth;
- the ratio of the grid's time to the larger floor.

Usage: python benchmarks/frame_probe_speed.py [--folds 10] [--seeds 1] [--epochs 30]
       [--probes dense aggregate] [--device cpu] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark's timing helpers
from probe_speed import _sync, copy_bandwidth, matmul_rates
from serlib.features.cost import frame_probe_macs
from serlib.features.frames import FrameBank
from serlib.probing.frame_grid import FrameFold, fit_frame_grid
from serlib.probing.inputs import LabelledSplit
from serlib.probing.kinds import get_probe_kind
from serlib.probing.train import TrainingConfig

UTTERANCES, FRAMES, STATES, WIDTH, CLASSES, SPEAKERS = 535, 100, 7, 512, 7, 10


def speaker_folds(num_folds: int, rng: np.random.Generator) -> list[FrameFold]:
    """Leave-one-speaker-out folds over 10 speakers; the next two speakers are dev."""
    speakers = np.arange(UTTERANCES) % SPEAKERS
    labels = rng.integers(0, CLASSES, UTTERANCES)
    folds = []
    for fold in range(num_folds):
        test = fold % SPEAKERS
        dev = {(test + 1) % SPEAKERS, (test + 2) % SPEAKERS}
        parts = {"test": np.flatnonzero(speakers == test),
                 "dev": np.flatnonzero(np.isin(speakers, list(dev)))}
        parts["train"] = np.setdiff1d(np.arange(UTTERANCES), np.concatenate([parts["test"], parts["dev"]]))
        folds.append(FrameFold(fold, LabelledSplit([f"c{c}" for c in range(CLASSES)], parts,
                                                   {name: labels[rows] for name, rows in parts.items()})))
    return folds


def random_bank(device: torch.device, rng: np.random.Generator) -> FrameBank:
    frames = torch.from_numpy(rng.standard_normal((STATES, UTTERANCES * FRAMES, WIDTH), dtype=np.float32))
    counts = np.full(UTTERANCES, FRAMES, dtype=np.int64)
    return FrameBank(frames.half().to(device), np.arange(UTTERANCES, dtype=np.int64) * FRAMES, counts,
                     tuple(range(STATES)), STATES, [f"u{i}" for i in range(UTTERANCES)])


def counted_macs(probe: str, folds: list[FrameFold], seeds: int, epochs: int) -> float:
    """Multiply-adds of the grid that no implementation can skip (:func:`serlib.features.cost.frame_probe_macs`)."""
    total = 0.0
    for fold in folds:
        train = len(fold.split.rows["train"])
        evaluated = len(fold.split.rows["dev"]) + len(fold.split.rows["test"])
        total += frame_probe_macs(probe, STATES, WIDTH, train * FRAMES, evaluated * FRAMES, train, evaluated, CLASSES)
    return total * seeds * epochs


def frame_bytes(probe: str, folds: list[FrameFold], seeds: int, epochs: int) -> float:
    """Float16 frame bytes read: each training mini-batch once per run, dev and test once per epoch."""
    per_utterance = FRAMES * STATES * WIDTH * 2
    return sum(len(fold.split.rows["train"]) * seeds + (len(fold.split.rows["dev"]) + len(fold.split.rows["test"])) * seeds
               for fold in folds) * per_utterance * epochs


def matmul_peak(device: torch.device) -> float:
    return matmul_rates(1, WIDTH, 1, device)["peak"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--probes", nargs="+", default=["dense", "aggregate"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rng = np.random.default_rng(0)
    bank = random_bank(device, rng)
    folds = speaker_folds(args.folds, rng)
    config = TrainingConfig(epochs=args.epochs, device=str(device))
    peak_before, bandwidth = matmul_peak(device), copy_bandwidth(device)
    timings = {}
    for probe in args.probes:
        start = time.perf_counter()
        fit_frame_grid(get_probe_kind(probe), bank, folds, list(range(args.seeds)), config, progress=False)
        _sync(device)
        timings[probe] = time.perf_counter() - start
    peak = max(peak_before, matmul_peak(device))
    print(f"frame-level grid: {UTTERANCES} utterances x {FRAMES} frames x {STATES} hidden states x {WIDTH}, "
          f"{args.folds} folds x {args.seeds} seeds x {args.epochs} epochs, {device} "
          f"({torch.get_num_threads()} threads); float32 matmul peak {peak / 1e9:.1f} GMAC/s, "
          f"copy bandwidth {bandwidth / 1e9:.1f} GB/s")
    total_time = total_floor = 0.0
    for probe, seconds in timings.items():
        macs = counted_macs(probe, folds, args.seeds, args.epochs)
        compute_floor = macs / peak
        memory_floor = frame_bytes(probe, folds, args.seeds, args.epochs) / bandwidth
        floor = max(compute_floor, memory_floor)
        total_time += seconds
        total_floor += floor
        print(f"  {probe:10s} {seconds:8.1f} s; compute floor {compute_floor:7.1f} s ({macs / 1e12:.2f} T "
              f"multiply-adds), memory floor {memory_floor:6.1f} s; x{seconds / floor:.2f} the floor")
    if len(timings) > 1:
        print(f"  {'grid':10s} {total_time:8.1f} s; floor {total_floor:.1f} s; x{total_time / total_floor:.2f} the floor")


if __name__ == "__main__":
    main()
