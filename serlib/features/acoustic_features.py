"""Utterance-level acoustic feature sets: the study's hand-crafted baselines.

Each :class:`AcousticFeatureSet` turns one 16 kHz mono waveform into a fixed-length float32
vector of functionals (statistics over the utterance), with a name per feature:

- ``egemaps``: the 88 eGeMAPSv02 functionals of openSMILE, through the ``opensmile`` package
  (which ships its own openSMILE binary; Eyben et al. 2016, "The Geneva Minimalistic Acoustic
  Parameter Set");
- ``mfcc``: 40 MFCCs and their deltas (mean and standard deviation of each), plus simple pitch
  and energy statistics, computed with NumPy/SciPy and transformers' audio utilities.

The values are raw (no normalisation with corpus statistics, which would leak the test split
into the features). ``version`` changes whenever a set's definition changes; it enters the
feature store's cache key.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view
from transformers.audio_utils import mel_filter_bank, spectrogram, window_function

from serlib.common.errors import SerlibError

SAMPLE_RATE = 16000
HOP_LENGTH = 160  # 10 ms analysis hop for every frame-level measure below
FRAME_RATE = SAMPLE_RATE / HOP_LENGTH

# MFCC: 25 ms Hann windows, 64 Slaney mel bands from 20 Hz to 8 kHz, natural-log power, DCT-II.
MFCC_WINDOW = 400
MFCC_FFT = 512
MFCC_MEL_BANDS = 64
MFCC_COEFFICIENTS = 40
DELTA_WIDTH = 2  # regression deltas over +-2 frames

# Pitch: normalised autocorrelation of 40 ms frames, 60-400 Hz.
PITCH_WINDOW = 640
PITCH_MIN_HZ = 60.0
PITCH_MAX_HZ = 400.0
VOICING_THRESHOLD = 0.45  # normalised autocorrelation peak a voiced frame must reach
SILENCE_BELOW_PEAK_DB = 35.0  # frames quieter than the loudest by more are never voiced
SEMITONE_REFERENCE_HZ = 27.5  # as eGeMAPS: F0 in semitones above 27.5 Hz
LEVEL_FLOOR = 1e-10
PERCENTILES = (10, 50, 90)

MFCC_VERSION = "mfcc-v1"


@dataclass(frozen=True)
class AcousticFeatureSet:
    """A named acoustic feature set: ``compute(waveform)`` -> float32 ``[dim]``."""

    name: str
    version: str
    feature_names: tuple[str, ...]
    compute: Callable[[np.ndarray], np.ndarray]

    @property
    def dim(self) -> int:
        return len(self.feature_names)


# --- eGeMAPS through opensmile --------------------------------------------------------------


def egemaps_feature_set() -> AcousticFeatureSet:
    """eGeMAPSv02 functionals (88) via ``opensmile``; SerlibError when it is not installed."""
    try:
        import opensmile
    except ImportError as error:
        raise SerlibError(
            f"the acoustic feature set 'egemaps' needs the opensmile package ({error}); "
            "install it with `pip install opensmile`"
        ) from None
    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02,
        feature_level=opensmile.FeatureLevel.Functionals,
    )

    def compute(waveform: np.ndarray) -> np.ndarray:
        return smile.process_signal(waveform, SAMPLE_RATE).to_numpy(np.float32)[0]

    return AcousticFeatureSet(
        "egemaps", f"eGeMAPSv02 functionals, opensmile {opensmile.__version__}",
        tuple(smile.feature_names), compute,
    )


# --- MFCC, pitch and energy statistics ------------------------------------------------------


@functools.cache
def _mel_filters() -> np.ndarray:
    return mel_filter_bank(
        num_frequency_bins=MFCC_FFT // 2 + 1, num_mel_filters=MFCC_MEL_BANDS, min_frequency=20.0,
        max_frequency=SAMPLE_RATE / 2, sampling_rate=SAMPLE_RATE, norm="slaney",
        mel_scale="slaney",
    )


def mfcc(waveform: np.ndarray) -> np.ndarray:
    """``[MFCC_COEFFICIENTS, T]`` MFCCs (10 ms hop, centred frames, orthonormal DCT-II)."""
    log_mel = spectrogram(
        waveform.astype(np.float64), window_function(MFCC_WINDOW, "hann"),
        frame_length=MFCC_WINDOW, hop_length=HOP_LENGTH, fft_length=MFCC_FFT, power=2.0,
        mel_filters=_mel_filters(), mel_floor=LEVEL_FLOOR, log_mel="log", dtype=np.float64,
    )
    return scipy.fft.dct(log_mel, type=2, norm="ortho", axis=0)[:MFCC_COEFFICIENTS]


def deltas(features: np.ndarray, width: int = DELTA_WIDTH) -> np.ndarray:
    """Regression deltas along the last (time) axis, edges repeated: ``[F, T]`` -> ``[F, T]``."""
    padded = np.pad(features, ((0, 0), (width, width)), mode="edge")
    length = features.shape[1]
    numerator = sum(
        offset * (padded[:, width + offset: width + offset + length]
                  - padded[:, width - offset: width - offset + length])
        for offset in range(1, width + 1)
    )
    return numerator / (2 * sum(offset**2 for offset in range(1, width + 1)))


def _frames(waveform: np.ndarray, window: int) -> np.ndarray:
    """Centred frames ``[T, window]`` every 10 ms (zero padded at both ends)."""
    padded = np.pad(waveform.astype(np.float64), (window // 2, window // 2))
    return sliding_window_view(padded, window)[::HOP_LENGTH]


def frame_levels_db(waveform: np.ndarray) -> np.ndarray:
    """Per 40 ms frame (10 ms hop): mean power in dB, ``[T]``."""
    return 10 * np.log10(np.mean(_frames(waveform, PITCH_WINDOW) ** 2, axis=1) + LEVEL_FLOOR)


def pitch_track(waveform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame (10 ms hop): F0 in Hz and whether the frame is voiced, ``([T], [T] bool)``.

    F0 is the lag of the highest peak of the frame's normalised autocorrelation between 60 and
    400 Hz (the biased estimate, whose taper favours the shortest period over its multiples);
    a frame is voiced when that peak reaches ``VOICING_THRESHOLD`` and
    the frame is within ``SILENCE_BELOW_PEAK_DB`` of the utterance's loudest frame.
    """
    frames = _frames(waveform, PITCH_WINDOW)
    frames = frames - frames.mean(axis=1, keepdims=True)
    spectrum = np.fft.rfft(frames, n=2 * PITCH_WINDOW, axis=1)
    autocorrelation = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :PITCH_WINDOW]
    normalised = autocorrelation / np.maximum(autocorrelation[:, :1], LEVEL_FLOOR)
    shortest, longest = int(SAMPLE_RATE / PITCH_MAX_HZ), int(SAMPLE_RATE / PITCH_MIN_HZ)
    search = normalised[:, shortest: longest + 1]
    best_lag = shortest + np.argmax(search, axis=1)
    strength = search.max(axis=1)
    levels = frame_levels_db(waveform)
    voiced = (strength >= VOICING_THRESHOLD) & (levels >= levels.max() - SILENCE_BELOW_PEAK_DB)
    return SAMPLE_RATE / best_lag, voiced


def _statistics(values: np.ndarray) -> list[float]:
    """mean, std, then the ``PERCENTILES``; zeros for an empty array."""
    if values.size == 0:
        return [0.0] * (2 + len(PERCENTILES))
    return [float(values.mean()), float(values.std()),
            *(float(value) for value in np.percentile(values, PERCENTILES))]


def _mfcc_feature_names() -> tuple[str, ...]:
    names = []
    for source in ("mfcc", "delta_mfcc"):
        for statistic in ("mean", "std"):
            names += [f"{source}{index}_{statistic}" for index in range(MFCC_COEFFICIENTS)]
    statistics = ("mean", "std", *(f"p{p}" for p in PERCENTILES))
    names += [f"f0_semitones_{statistic}" for statistic in statistics]
    names.append("voiced_fraction")
    names += [f"level_db_{statistic}" for statistic in statistics]
    return tuple(names)


def mfcc_statistics(waveform: np.ndarray) -> np.ndarray:
    """MFCC/delta means and stds, F0 (semitones, voiced frames) and level statistics."""
    coefficients = mfcc(waveform)
    delta = deltas(coefficients)
    f0_hz, voiced = pitch_track(waveform)
    semitones = 12 * np.log2(f0_hz[voiced] / SEMITONE_REFERENCE_HZ)
    values = np.concatenate([
        coefficients.mean(axis=1), coefficients.std(axis=1), delta.mean(axis=1), delta.std(axis=1),
        _statistics(semitones), [voiced.mean()], _statistics(frame_levels_db(waveform)),
    ])
    return values.astype(np.float32)


def mfcc_feature_set() -> AcousticFeatureSet:
    version = (f"{MFCC_VERSION}: {MFCC_COEFFICIENTS} MFCC of {MFCC_MEL_BANDS} slaney mel bands, "
               f"{MFCC_WINDOW}/{HOP_LENGTH} samples, deltas +-{DELTA_WIDTH}; autocorrelation F0 "
               f"{PITCH_MIN_HZ:g}-{PITCH_MAX_HZ:g} Hz at {VOICING_THRESHOLD}")
    return AcousticFeatureSet("mfcc", version, _mfcc_feature_names(), mfcc_statistics)


#: Feature set name -> builder (builders may import optional packages).
FEATURE_SETS: dict[str, Callable[[], AcousticFeatureSet]] = {
    "egemaps": egemaps_feature_set,
    "mfcc": mfcc_feature_set,
}


def get_feature_set(name: str) -> AcousticFeatureSet:
    """The feature set called ``name`` (``egemaps`` or ``mfcc``), ready to compute."""
    if name not in FEATURE_SETS:
        raise SerlibError(
            f"unknown acoustic feature set {name!r}; use one of {', '.join(FEATURE_SETS)} "
            "(model names acoustic:egemaps, acoustic:mfcc)"
        )
    return FEATURE_SETS[name]()
