"""Seconds of every probe kind on one model x corpus, for `serlib plan` (measured_throughput.json).

Random pooled features (and frames) shaped like Whisper base on EmoDB-2s: 535 utterances x 7
hidden states x 512 (100 frames each), 7 classes, a speaker-grouped cross-validation of 10 folds
(benchmarks/frame_probe_speed.py's folds), 1 seed, 30 epochs, standardised inputs: the grid
`serlib plan` scales by utterances, hidden states, width, folds, seeds and epochs. Prints one
line per probe and the JSON entry to paste.

Beside the seconds, the operators each pooled probe runs per training step (one fold, one seed,
its evaluation included), counted with torch.profiler: the operators that do work (no view, no
operator that only calls others). A GPU runs such small steps at the cost of launching them, so
`serlib plan` scales the one measured GPU step by these counts.

Usage: python benchmarks/probe_costs.py [--epochs 30] [--probes linear softmax ...]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from frame_probe_speed import CLASSES, FRAMES, SPEAKERS, STATES, UTTERANCES, WIDTH
from serlib.probing.kinds import PROBE_KINDS
from serlib.probing.train import train_probe


def write_store(folder: Path, rng: np.random.Generator, with_frames: bool) -> tuple[Path, pd.DataFrame]:
    folder.mkdir(parents=True)
    pooled = rng.standard_normal((UTTERANCES, STATES, WIDTH), dtype=np.float32)
    np.save(folder / "pooled.npy", pooled)
    ids = [f"s{i % SPEAKERS}/u{i:04d}" for i in range(UTTERANCES)]
    pd.DataFrame({"utterance_id": ids, "num_frames": FRAMES}).to_csv(folder / "utterances.csv", index=False)
    if with_frames:
        frames = rng.standard_normal((UTTERANCES * FRAMES, STATES, WIDTH), dtype=np.float32).astype(np.float16)
        np.save(folder / "frames.npy", frames)
        np.save(folder / "frame_offsets.npy", np.arange(UTTERANCES + 1, dtype=np.int64) * FRAMES)
    (folder / "index.json").write_text(json.dumps({"model": "random", "corpus": "random", "complete": True}))
    speakers = np.arange(UTTERANCES) % SPEAKERS
    labels = rng.integers(0, CLASSES, UTTERANCES)
    rows = []
    for fold in range(SPEAKERS):
        dev = {(fold + 1) % SPEAKERS, (fold + 2) % SPEAKERS}
        part = np.where(speakers == fold, "test", np.where(np.isin(speakers, list(dev)), "dev", "train"))
        rows.append(pd.DataFrame({"utterance_id": ids, "speaker": [f"s{s}" for s in speakers],
                                  "label": [f"c{c}" for c in labels], "split": part, "fold": fold}))
    return folder, pd.concat(rows, ignore_index=True)


#: Operators that only reshape or describe a tensor: no kernel runs for them.
VIEW_OPERATORS = {"aten::view", "aten::reshape", "aten::permute", "aten::transpose", "aten::expand", "aten::unsqueeze",
                  "aten::squeeze", "aten::as_strided", "aten::select", "aten::slice", "aten::t", "aten::detach",
                  "aten::_unsafe_view", "aten::alias", "aten::lift_fresh", "aten::empty", "aten::empty_like",
                  "aten::empty_strided", "aten::resolve_conj", "aten::resolve_neg", "aten::unfold", "aten::split",
                  "aten::narrow", "aten::result_type", "detach_", "aten::detach_"}


def operators_per_step(folder: Path, split: pd.DataFrame, probe: str, epochs: int = 2) -> float:
    """Operators that do work per training step of ``probe`` (fold 0, one seed), evaluation included."""
    fold = split[split["fold"] == 0]
    steps = epochs * -(-int((fold["split"] == "train").sum()) // 32)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        train_probe(folder, fold, probe=probe, seeds=1, epochs=epochs, device="cpu", standardize=True)
    leaves = [event for event in profile.events() if not event.cpu_children and event.name.startswith("aten::")
              and event.name not in VIEW_OPERATORS]
    return round(len(leaves) / steps, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--probes", nargs="+", default=[name for name in PROBE_KINDS])
    parser.add_argument("--seeds", type=int, default=1, help="seeds per fold (trained together where the probe allows)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    seconds, operators = {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        folder, split = write_store(Path(scratch) / "store", rng,
                                    any(PROBE_KINDS[name].input == "frames" for name in args.probes))
        for probe in args.probes:
            start = time.perf_counter()
            train_probe(folder, split, probe=probe, seeds=args.seeds, epochs=args.epochs, device="cpu", standardize=True)
            seconds[probe] = round(time.perf_counter() - start, 2)
            if PROBE_KINDS[probe].input == "pooled" and PROBE_KINDS[probe].trainer == "torch":
                operators[probe] = operators_per_step(folder, split, probe)
            print(f"{probe:26s} {seconds[probe]:8.2f} s  {operators.get(probe, float('nan')):6.1f} operators per step")
    print(json.dumps({"utterances": UTTERANCES, "hidden_states": STATES, "width": WIDTH, "frames": FRAMES,
                      "folds": SPEAKERS, "seeds": args.seeds, "epochs": args.epochs, "seconds": seconds,
                      "operators_per_step": operators}, indent=2))


if __name__ == "__main__":
    main()
