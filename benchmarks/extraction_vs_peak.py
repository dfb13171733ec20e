"""Batched extraction against the device's matmul-bound rate (the GPU target of issue 12).

Measures the device's peak matmul rate in the compute dtype (a large square product), then,
per full-size random-init registry model (bundled configs, offline):

- warms the engine up on ``--warmup-clips`` clips (kernels, cuDNN plans, allocator),
- runs the engine with its default settings over ``--clips`` generated clips of 2-6 s, into a
  fresh store (audio decoding, batching, pooling and store writes included),
- runs the same batches again as the model alone (audio decoded beforehand, no store), which is
  the ceiling the engine's host work is measured against,

and prints audio-seconds per second, the multiply-adds per second that implies (counted by
``serlib.features.cost.Architecture``) and that rate as a fraction of the matmul peak.
``--equal-lengths`` adds, for group-norm models (wav2vec2-base, HuBERT base), the engine with
equal-length batches only (what it did on GPUs before the masked first group norm).

    python benchmarks/extraction_vs_peak.py [--device cuda] [--clips 2000] [--models xlsr-53 ...]
        [--batch-seconds 240] [--equal-lengths]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from extract_throughput import make_clips
from serlib.data.audio import load_audio
from serlib.features import extract
from serlib.features.cost import architecture_of
from serlib.features.extract import extract_features, resolve_dtype
from serlib.features.models import load_model


def peak_matmul_macs_per_s(device: torch.device, dtype: torch.dtype, size: int) -> float:
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    repeats = 10 if device.type == "cuda" else 2
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return repeats * size**3 / (time.perf_counter() - started)


def model_only_seconds(loaded, waveforms: list[np.ndarray], durations: np.ndarray,
                       budget: float, window: str, mixed_lengths: bool) -> float:
    """Wall time of the engine's batches through the model and pooling alone (no I/O)."""
    batches = extract.plan_model_batches(loaded, durations, budget, window, mixed_lengths)
    started = time.perf_counter()
    pending = None
    for rows in batches:
        launched = extract._launch_batch(loaded, [waveforms[row] for row in rows], "mean",
                                         window, False, mixed_lengths)
        if pending is not None:
            pending.collect()
        pending = launched
    pending.collect()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--clips", type=int, default=2000)
    parser.add_argument("--warmup-clips", type=int, default=48)
    parser.add_argument("--models", nargs="*", default=["wav2vec2-base", "xlsr-53", "whisper-base"])
    parser.add_argument("--batch-seconds", type=float, default=None,
                        help="padded audio per batch (default: the engine's for the device)")
    parser.add_argument("--equal-lengths", action="store_true",
                        help="also run group-norm models with equal-length batches only")
    parser.add_argument("--matmul-size", type=int, default=8192)
    args = parser.parse_args()
    device = torch.device(args.device)
    dtype = resolve_dtype("auto", device)
    budget = args.batch_seconds or extract.DEFAULT_BATCH_SECONDS[device.type]
    peak = peak_matmul_macs_per_s(device, getattr(torch, dtype), args.matmul_size)
    print(f"{device} {torch.cuda.get_device_name() if device.type == 'cuda' else ''} "
          f"default dtype {dtype}: peak matmul {2 * peak / 1e12:.1f} TFLOP/s; "
          f"batches of up to {budget:.0f} s of padded audio", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        warmup = make_clips(scratch / "warmup", args.warmup_clips, seed=1)
        manifest = make_clips(scratch / "clips", args.clips)
        durations = manifest["duration_s"].to_numpy()
        waveforms = [load_audio(path) for path in manifest["path"]]
        print(f"{len(manifest)} clips, {durations.sum():.0f} s of audio", flush=True)
        for name in args.models:
            loaded = load_model(f"random:{name}", device)
            loaded.use_dtype(getattr(torch, dtype))
            architecture = architecture_of(name)
            macs = {window: sum(architecture.macs(seconds, window) for seconds in durations)
                    for window in ("full", "audio")}
            windows = ("full", "audio") if architecture.is_whisper else ("full",)
            policies = [("default", None)]
            if args.equal_lengths and loaded.padding_changes_output:
                policies.append(("equal lengths", False))
            for window in windows:
                for policy, forced in policies:
                    mixed = extract.mixes_lengths(loaded, device) if forced is None else forced
                    options = {"device": args.device, "progress": False, "whisper_window": window,
                               "batch_seconds": args.batch_seconds}
                    tag = f"{name}-{window}-{policy.replace(' ', '-')}"
                    # the engine asks mixes_lengths; the equal-length policy answers it here
                    with mock.patch.object(extract, "mixes_lengths", lambda *_: mixed):
                        extract_features(loaded, warmup, scratch / f"warm-{tag}", **options)
                        result = extract_features(loaded, manifest, scratch / tag, **options)
                    alone = model_only_seconds(loaded, waveforms, durations, budget, window, mixed)
                    for what, seconds in (("engine", result.seconds), ("model only", alone)):
                        rate = macs[window] / seconds
                        print(f"{name:14s} window {window:5s} {policy:13s} {what:10s}: "
                              f"{durations.sum() / seconds:8.1f} audio-s/s, "
                              f"{2 * rate / 1e12:6.1f} TFLOP/s = {rate / peak:6.1%} of the "
                              f"matmul peak, {seconds / len(durations) * 1e3:6.2f} ms per clip",
                              flush=True)
                    print("  engine's time: " + ", ".join(
                        f"{stage} {seconds:.2f} s" for stage, seconds in result.stage_seconds.items())
                        + f" (wall {result.seconds:.2f} s)", flush=True)
            del loaded
            if device.type == "cuda":
                print(f"  peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB",
                      flush=True)
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()


if __name__ == "__main__":
    main()
