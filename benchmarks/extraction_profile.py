"""Where a GPU extraction batch spends its time: torch.profiler over the engine's batches.

Runs ``--batches`` batches of the engine's plan (model, pooling; audio decoded beforehand) for
one full-size random-init registry model after a warm-up, and prints the wall time, the time
the GPU was busy (sum of kernel times), and the operators and kernels that took the most
device and host time. What the GPU target of issue 12 needs to know before optimising.

    python benchmarks/extraction_profile.py --model xlsr-53 [--clips 400] [--batches 6]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from extract_throughput import make_clips
from serlib.data.audio import load_audio
from serlib.features import extract
from serlib.features.models import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="xlsr-53")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--clips", type=int, default=400)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--batch-seconds", type=float, default=None)
    parser.add_argument("--rows", type=int, default=18)
    args = parser.parse_args()
    device = torch.device(args.device)
    budget = args.batch_seconds or extract.DEFAULT_BATCH_SECONDS[device.type]
    loaded = load_model(f"random:{args.model}", device)
    loaded.use_dtype(getattr(torch, extract.resolve_dtype("auto", device)))
    mixed = extract.mixes_lengths(loaded, device)
    with tempfile.TemporaryDirectory() as scratch:
        manifest = make_clips(Path(scratch), args.clips)
        waveforms = [load_audio(path) for path in manifest["path"]]
    batches = extract.plan_model_batches(loaded, manifest["duration_s"].to_numpy(), budget,
                                         "full", mixed)
    chosen = batches[len(batches) // 2: len(batches) // 2 + args.batches]

    def run_batches() -> None:
        pending = None
        for rows in chosen:
            launched = extract._launch_batch(loaded, [waveforms[row] for row in rows], "mean",
                                             "full", False, mixed)
            if pending is not None:
                pending.collect()
            pending = launched
        pending.collect()

    run_batches()  # warm-up: kernels, allocator
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    started = time.perf_counter()
    with profile(activities=activities) as profiler:
        run_batches()
    wall = time.perf_counter() - started
    events = profiler.key_averages()
    busy = sum(event.self_device_time_total for event in events) / 1e6
    audio = sum(len(waveforms[row]) for rows in chosen for row in rows) / 16000
    print(f"{args.model}: {len(chosen)} batches, {audio:.0f} s of audio, wall {wall:.3f} s "
          f"under the profiler, device busy {busy:.3f} s ({busy / wall:.0%})", flush=True)
    print(events.table(sort_by="self_device_time_total", row_limit=args.rows, max_name_column_width=60))
    print(events.table(sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=60))


if __name__ == "__main__":
    main()
