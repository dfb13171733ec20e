"""Shared test helpers: tiny generated audio files and the optional ../shared folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile

SHARED_DIR = Path(os.environ.get("SERLIB_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def write_wav(
    path: Path,
    seconds: float = 0.3,
    sample_rate: int = 16000,
    frequency: float = 440.0,
    channels: int = 1,
) -> Path:
    """Write a sine tone (plus a little seeded noise) as 16-bit PCM wav; return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    times = np.arange(int(round(seconds * sample_rate))) / sample_rate
    tone = 0.5 * np.sin(2 * np.pi * frequency * times)
    tone += 0.01 * np.random.default_rng(0).standard_normal(tone.shape)
    samples = np.repeat(tone[:, None], channels, axis=1) if channels > 1 else tone
    soundfile.write(path, samples, sample_rate, subtype="PCM_16")
    return path


def write_tiny_manifest(folder: Path, seconds=(0.3, 0.5, 0.7)) -> Path:
    """Clips of the given durations (distinct tones) in ``folder/wav`` and their manifest
    ``folder/tiny.csv`` (corpus ``tiny``, with durations and sample rates); return its path."""
    rows = []
    for number, duration in enumerate(seconds):
        path = write_wav(folder / "wav" / f"utt{number}.wav", duration, 16000,
                         frequency=200 + 90 * number)
        rows.append({"utterance_id": f"utt{number}", "path": str(path), "corpus": "tiny",
                     "duration_s": duration, "sample_rate": 16000})
    manifest = folder / "tiny.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


@pytest.fixture
def shared_dir() -> Path:
    """The shared data/models folder beside the checkout; skips the test when absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"shared folder {SHARED_DIR} is absent (set SERLIB_SHARED)")
    return SHARED_DIR
