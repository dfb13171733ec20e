"""Seconds of every probe kind on one model x corpus, for `serlib plan` (measured_throughput.json).

Random pooled features (and frames) shaped like Whisper base on EmoDB-2s: 535 utterances x 7
hidden states x 512 (100 frames each), 7 classes, a speaker-grouped cross-validation of 10 folds
(benchmarks/frame_probe_speed.py's folds), 1 seed, 30 epochs, standardised inputs: the grid
`serlib plan` scales by utterances, hidden states, width, folds, seeds and epochs. Prints one
line per probe and the JSON entry to paste.

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--probes", nargs="+", default=[name for name in PROBE_KINDS])
    parser.add_argument("--seeds", type=int, default=1, help="seeds per fold (trained together where the probe allows)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    seconds = {}
    with tempfile.TemporaryDirectory() as scratch:
        folder, split = write_store(Path(scratch) / "store", rng,
                                    any(PROBE_KINDS[name].input == "frames" for name in args.probes))
        for probe in args.probes:
            start = time.perf_counter()
            train_probe(folder, split, probe=probe, seeds=args.seeds, epochs=args.epochs, device="cpu", standardize=True)
            seconds[probe] = round(time.perf_counter() - start, 2)
            print(f"{probe:26s} {seconds[probe]:8.2f} s")
    print(json.dumps({"utterances": UTTERANCES, "hidden_states": STATES, "width": WIDTH, "frames": FRAMES,
                      "folds": SPEAKERS, "seeds": args.seeds, "epochs": args.epochs, "seconds": seconds}, indent=2))


if __name__ == "__main__":
    main()
