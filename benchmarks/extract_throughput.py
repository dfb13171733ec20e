"""Throughput of the extraction engine vs the naive loop, on the same clips.

The naive loop: one utterance at a time through the Hugging Face model in float32 with
``output_hidden_states=True``, then a mean over frames. The engine: ``extract_features`` with
its default settings (``dtype=auto``: bfloat16 weights on GPUs and bf16-capable CPUs, float32
on other CPUs; length-sorted batches; audio decoded in a background thread), and once more in
exact float32 mode to measure how far the default features are from float32. ``--dtype``
forces the engine's dtype for the "default" run (e.g. to see bfloat16 on a CPU without it).

Models: a wav2vec2-base-sized model with random weights (``transformers.Wav2Vec2Config()`` is
the wav2vec2-base architecture) and, when present, the real whisper-base (local folder).
Clips: ``--clips`` clips of 2-6 s cut from concatenated emodb-2s recordings when the shared
folder has them, else generated tones with noise.

    python benchmarks/extract_throughput.py [--clips 40] [--whisper PATH | --no-whisper]
        [--device cpu|cuda] [--dtype auto|bfloat16|float16|float32] [--models xlsr-53 ...]

``--models`` adds full-size random-init copies of registry models built from serlib's bundled
configs (offline); ``--whisper random`` uses the bundled whisper-base architecture.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile
import torch
import transformers

from serlib.data.audio import load_audio
from serlib.features.extract import cpu_has_native_bfloat16, extract_features, resolve_dtype
from serlib.features.models import LoadedModel, load_model, random_model_from_config
from serlib.features.store import load_pooled

SHARED_DIR = Path(os.environ.get("SERLIB_SHARED", Path(__file__).resolve().parents[2] / "shared"))
SAMPLE_RATE = 16000


def make_clips(folder: Path, count: int, seed: int = 0) -> pd.DataFrame:
    """``count`` wav clips of 2-6 s (random durations) and their manifest."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    emodb = sorted((SHARED_DIR / "data" / "emodb-2s" / "wav").glob("*.wav"))
    speech = np.concatenate([load_audio(path) for path in emodb[: 4 * count]]) if emodb else None
    rows, start = [], 0
    for number in range(count):
        num_samples = int(rng.uniform(2.0, 6.0) * SAMPLE_RATE)
        if speech is not None:
            start = start if start + num_samples <= len(speech) else 0
            samples, start = speech[start: start + num_samples], start + num_samples
        else:
            times = np.arange(num_samples) / SAMPLE_RATE
            samples = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 400) * times)
            samples += 0.05 * rng.standard_normal(num_samples)
        path = folder / f"clip{number:03d}.wav"
        soundfile.write(path, samples, SAMPLE_RATE, subtype="FLOAT")
        rows.append({"utterance_id": path.stem, "path": str(path), "corpus": "bench",
                     "duration_s": num_samples / SAMPLE_RATE})
    return pd.DataFrame(rows)


def naive_loop(loaded: LoadedModel, manifest: pd.DataFrame) -> float:
    """Audio-seconds per second of the one-at-a-time float32 Hugging Face loop."""
    loaded.use_dtype(torch.float32)
    device = loaded.device
    started, audio_seconds = time.perf_counter(), 0.0
    with torch.inference_mode():
        for path in manifest["path"]:
            waveform = load_audio(path)
            audio_seconds += len(waveform) / SAMPLE_RATE
            if loaded.family == "whisper":
                inputs = loaded.feature_extractor(waveform, sampling_rate=SAMPLE_RATE, return_tensors="pt")
                output = loaded.model(inputs["input_features"].to(device), output_hidden_states=True)
                frames = loaded.num_frames(len(waveform))
                pooled = [state[0, :frames].mean(0) for state in output.hidden_states]
            else:
                values = torch.from_numpy(waveform)[None].to(device)
                output = loaded.model(values, output_hidden_states=True)
                pooled = [state[0].mean(0) for state in output.hidden_states]
            _ = torch.stack(pooled).cpu()  # waits for the GPU
    return audio_seconds / (time.perf_counter() - started)


def deviation(default: np.ndarray, exact: np.ndarray) -> tuple[float, float]:
    """Max relative deviation (per utterance and layer vector) and min cosine."""
    difference = np.linalg.norm(default - exact, axis=-1) / np.linalg.norm(exact, axis=-1)
    cosine = (default * exact).sum(-1) / (
        np.linalg.norm(default, axis=-1) * np.linalg.norm(exact, axis=-1)
    )
    return float(difference.max()), float(cosine.min())


def benchmark(label: str, loaded: LoadedModel, manifest: pd.DataFrame, out: Path,
              device: str = "cpu", dtype: str = "auto", **options) -> None:
    naive = naive_loop(loaded, manifest)
    engine = extract_features(loaded, manifest, out / "default", progress=False, device=device,
                              dtype=dtype, **options)
    exact = extract_features(loaded, manifest, out / "float32", dtype="float32",
                             progress=False, device=device, **options)
    max_relative, min_cosine = deviation(load_pooled(engine.folder)[0], load_pooled(exact.folder)[0])
    print(
        f"{label:34s} naive fp32 {naive:6.1f} audio-s/s | engine default {engine.throughput:6.1f}"
        f" ({engine.throughput / naive:4.1f}x) | engine float32 {exact.throughput:6.1f}"
        f" ({exact.throughput / naive:4.1f}x) | default vs float32: max rel {max_relative:.4f},"
        f" min cosine {min_cosine:.5f} | default dtype {resolve_dtype(dtype, torch.device(device))}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--whisper", default=str(SHARED_DIR / "models" / "whisper-base"),
                        help="whisper-base folder, or 'random' for the bundled architecture")
    parser.add_argument("--no-whisper", action="store_true")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--dtype", default="auto", choices=("auto", "bfloat16", "float16", "float32"))
    parser.add_argument("--models", nargs="*", default=[],
                        help="registry short names to add as full-size random-init copies")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    run = {"device": args.device, "dtype": args.dtype}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        manifest = make_clips(scratch, args.clips)
        print(f"{len(manifest)} clips, {manifest['duration_s'].sum():.1f} s of audio, "
              f"{torch.get_num_threads()} threads, device {args.device}"
              f"{' (' + torch.cuda.get_device_name() + ')' if args.device == 'cuda' else ''}, "
              f"CPU bfloat16 instructions: {cpu_has_native_bfloat16()}", flush=True)
        wav2vec2 = random_model_from_config(transformers.Wav2Vec2Config(), "random:wav2vec2-base-size")
        benchmark("wav2vec2-base size (random)", wav2vec2, manifest, scratch / "w2v", **run)
        del wav2vec2
        for name in args.models:
            loaded = load_model(f"random:{name}")
            benchmark(f"{name} size (random)", loaded, manifest, scratch / name, **run)
            del loaded
        whisper_source = "random:whisper-base" if args.whisper == "random" else args.whisper
        if not args.no_whisper and (args.whisper == "random" or Path(args.whisper).is_dir()):
            whisper = load_model(whisper_source)
            benchmark("whisper-base (window full)", whisper, manifest, scratch / "wf", **run)
            benchmark("whisper-base (window audio)", whisper, manifest, scratch / "wa",
                      whisper_window="audio", **run)


if __name__ == "__main__":
    main()
