"""Batched extraction against the device's matmul-bound rate (the GPU target of issue 12).

Measures the device's peak matmul rate in the compute dtype (a large square product), then
runs the engine with its default settings over generated clips with full-size random-init
registry models (bundled configs, offline) and prints, per model, audio-seconds per second,
the multiply-adds per second that implies (counted by ``serlib.features.cost.Architecture``) and
that rate as a fraction of the peak.

    python benchmarks/extraction_vs_peak.py [--device cuda] [--clips 200] [--models xlsr-53 ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from extract_throughput import make_clips
from serlib.features.extract import extract_features, resolve_dtype
from serlib.features.models import load_model
from serlib.features.cost import architecture_of


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--models", nargs="*", default=["wav2vec2-base", "xlsr-53", "whisper-base"])
    parser.add_argument("--matmul-size", type=int, default=8192)
    args = parser.parse_args()
    device = torch.device(args.device)
    dtype = resolve_dtype("auto", device)
    peak = peak_matmul_macs_per_s(device, getattr(torch, dtype), args.matmul_size)
    print(f"{device} {torch.cuda.get_device_name() if device.type == 'cuda' else ''} "
          f"default dtype {dtype}: peak matmul {2 * peak / 1e12:.1f} TFLOP/s", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        manifest = make_clips(scratch, args.clips)
        durations = manifest["duration_s"].tolist()
        for name in args.models:
            loaded = load_model(f"random:{name}")
            architecture = architecture_of(name)
            for window in (("full", "audio") if architecture.is_whisper else ("full",)):
                result = extract_features(loaded, manifest, scratch / f"{name}-{window}", device=args.device,
                                          progress=False, whisper_window=window)
                macs = sum(architecture.macs(seconds, window) for seconds in durations)
                rate = macs / result.seconds  # wall time of the call, batching and I/O included
                print(f"{name:22s} window {window:5s}: {result.throughput:8.1f} audio-s/s, "
                      f"{2 * rate / 1e12:6.2f} TFLOP/s = {rate / peak:6.1%} of the matmul peak, "
                      f"{result.seconds / len(durations) * 1e3:.1f} ms per clip", flush=True)
            del loaded
            if device.type == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
