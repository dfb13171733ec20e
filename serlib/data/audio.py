"""Audio files -> 16 kHz mono float32 arrays, with checks that name the file at fault.

Reading uses soundfile (any format libsndfile reads), resampling uses soxr. Every problem a
user can cause (a missing, unreadable, empty, too short or non-finite file) raises
:class:`serlib.common.errors.SerlibError`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile
import soxr

from serlib.common.errors import SerlibError

DEFAULT_SAMPLE_RATE = 16000
RESAMPLE_QUALITY = "VHQ"


def audio_info(path: str | Path) -> tuple[float, int]:
    """Return ``(duration_s, sample_rate)`` of the file as stored, from its header only."""
    path = Path(path)
    _require_file(path)
    try:
        info = soundfile.info(os.fsencode(path))  # bytes: any name, even undecodable
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise SerlibError(_unreadable_message(path, error)) from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise SerlibError(
            f"audio file {path} is empty (0 samples); re-export or replace it, "
            "or remove it from the corpus"
        )
    return info.frames / info.samplerate, int(info.samplerate)


def load_audio(
    path: str | Path,
    target_sample_rate: int = DEFAULT_SAMPLE_RATE,
    min_seconds: float = 0.1,
) -> np.ndarray:
    """Read ``path`` as a 1-D float32 mono signal at ``target_sample_rate``.

    Channels are averaged; the rate is converted with soxr when it differs. Files that cannot
    be read, hold no samples, hold NaN or infinite samples, or last less than ``min_seconds``
    (after resampling) raise :class:`SerlibError`.
    """
    path = Path(path)
    _require_file(path)
    try:
        samples, sample_rate = soundfile.read(os.fsencode(path), dtype="float32",
                                              always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise SerlibError(_unreadable_message(path, error)) from None
    if samples.size == 0:
        raise SerlibError(
            f"audio file {path} is empty (0 samples); re-export or replace it, "
            "or remove it from the corpus"
        )
    if not np.isfinite(samples).all():
        raise SerlibError(
            f"audio file {path} contains NaN or infinite samples; re-export it as PCM "
            "or remove it from the corpus"
        )
    mono = samples.mean(axis=1, dtype=np.float32)
    if sample_rate != target_sample_rate:
        mono = soxr.resample(mono, sample_rate, target_sample_rate, quality=RESAMPLE_QUALITY)
    duration_s = mono.shape[0] / target_sample_rate
    if duration_s < min_seconds:
        raise SerlibError(
            f"audio file {path} lasts {duration_s:.3f} s, shorter than the minimum "
            f"{min_seconds} s; remove it from the manifest or lower the minimum"
        )
    return np.ascontiguousarray(mono, dtype=np.float32)


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise SerlibError(
            f"audio file {path} does not exist; check the path or rebuild the manifest"
        )


def _unreadable_message(path: Path, error: Exception) -> str:
    return (
        f"cannot read audio file {path} ({error}); check that it is a complete audio file "
        "in a format libsndfile reads (e.g. WAV, FLAC), or remove it from the corpus"
    )
