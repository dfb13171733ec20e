"""Degraded copies of test audio: additive white or pink noise at a set SNR, and a telephone channel.

Probes trained on clean audio are tested on these copies, to see whether the best layer stays the
best when the audio gets worse. Every condition is deterministic: the noise of one utterance comes
from :func:`numpy.random.default_rng` seeded with a SHA-256 hash of the condition's name and the
utterance id (:func:`noise_seed`), so every run writes the same bytes.

Conditions (:data:`CONDITIONS`, in this order):

- ``white-20db``, ``white-10db``, ``white-0db``: Gaussian white noise added at that signal-to-noise
  ratio, the signal's power being the mean square of the whole clip (pauses included).
- ``pink-20db``, ``pink-10db``, ``pink-0db``: the same with pink noise, power falling as 1/f
  (-10 dB per decade) from :data:`PINK_LOW_HZ` up to the Nyquist frequency and nothing below it.
  Without that floor a long clip's noise would hold much of its power in inaudible infrasound
  (pink noise has the same power in every octave), and the audible SNR would depend on the
  clip's length.
- ``telephone``: a zero-phase Butterworth band-pass 300-3400 Hz (:func:`scipy.signal.sosfiltfilt`
  of an order-:data:`TELEPHONE_FILTER_ORDER` design; half power at both edges), resampled to
  8 kHz with soxr, then 8-bit mu-law companding (mu = 255: compress, quantise to 256 levels,
  expand; :func:`mu_law_encode`, :func:`mu_law_decode`), and written at 8 kHz (the feature
  engine resamples every file to 16 kHz when it reads it).

Audio is read at 16 kHz (:func:`serlib.data.audio.load_audio`), the rate the models hear, so
the SNR is the one the model sees. Clipping: a degraded clip whose peak would exceed
:data:`PEAK_LIMIT` (loud speech plus 0 dB noise, or a band-pass overshoot) is scaled down as a
whole to that peak instead of being clipped, which would add a distortion that is not part of the
condition; scaling keeps the SNR exact. The folder's record counts the scaled clips and gives the
smallest gain. A silent clip (power 0) gets no noise: an SNR says nothing about it.

:func:`write_degraded_corpus` writes one condition's copy of a manifest's audio as a generated
folder (:func:`serlib.common.generated.generate_folder`: built whole or not at all)::

    <root>/audio/<utterance_id>.wav   16-bit PCM
    <root>/manifest.csv               the source manifest's rows and columns, with path,
                                      duration_s and sample_rate of the degraded files and a
                                      `condition` column
    <root>/DEGRADED.json              condition, parameters, source manifest hash; written last

and reuses it while the record matches.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath
from types import MappingProxyType

import numpy as np
import pandas as pd
import soundfile
import soxr

from serlib.common.errors import SerlibError
from serlib.common.files import write_csv_atomically
from serlib.common.generated import generate_folder, read_record, refuse_foreign_folder
from serlib.common.locks import folder_lock
from serlib.data.audio import RESAMPLE_QUALITY, load_audio
from serlib.data.corpora.manifest import MANIFEST_COLUMNS, OPTIONAL_COLUMNS, read_manifest

GENERATOR_VERSION = 1
#: The rate every clip is read at before it is degraded (the rate the feature engine uses).
READ_SAMPLE_RATE = 16000
#: Pink noise is 1/f from here to Nyquist and empty below (see the module docstring).
PINK_LOW_HZ = 20.0
TELEPHONE_FILTER_ORDER = 10
#: A degraded clip's peak is kept at or below this (by scaling the whole clip, never clipping).
PEAK_LIMIT = 0.99
RECORD_NAME = "DEGRADED.json"
MANIFEST_NAME = "manifest.csv"
AUDIO_FOLDER = "audio"
#: Columns of the source manifest that describe the audio file and are replaced.
AUDIO_COLUMNS = ("path", "duration_s", "sample_rate")


@dataclass(frozen=True)
class Condition:
    """One way of degrading a clip.

    ``kind`` is ``white``, ``pink`` (additive noise at ``snr_db``) or ``telephone`` (band-pass
    ``band_hz`` with a Butterworth filter of ``filter_order``, resampled to ``sample_rate``,
    ``levels``-level mu-law companding with ``mu``). Fields that do not apply are None.
    """

    name: str
    kind: str
    snr_db: float | None = None
    band_hz: tuple[float, float] | None = None
    filter_order: int | None = None
    sample_rate: int | None = None
    mu: int | None = None
    levels: int | None = None


def _noise(kind: str, snr_db: float) -> Condition:
    return Condition(f"{kind}-{snr_db:g}db", kind, snr_db=float(snr_db))


#: The conditions by name, in the order a report lists them.
CONDITIONS: Mapping[str, Condition] = MappingProxyType({
    condition.name: condition
    for condition in (
        *(_noise("white", snr) for snr in (20, 10, 0)),
        *(_noise("pink", snr) for snr in (20, 10, 0)),
        Condition("telephone", "telephone", band_hz=(300.0, 3400.0),
                  filter_order=TELEPHONE_FILTER_ORDER, sample_rate=8000, mu=255, levels=256),
    )
})


def get_condition(condition: str | Condition) -> Condition:
    """The :class:`Condition` named ``condition`` (a Condition is returned as it is)."""
    if isinstance(condition, Condition):
        return condition
    try:
        return CONDITIONS[condition]
    except (KeyError, TypeError):
        raise SerlibError(f"unknown degradation condition {condition!r}; valid conditions: "
                          f"{', '.join(CONDITIONS)}") from None


def noise_seed(condition: str | Condition, utterance_id: str) -> int:
    """A stable 64-bit seed from a condition's name and an utterance id (SHA-256, not ``hash``)."""
    name = get_condition(condition).name
    digest = hashlib.sha256(f"{name}\0{utterance_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little")


def degrade(waveform: np.ndarray, sample_rate: int, condition: str | Condition,
            seed: int | str) -> tuple[np.ndarray, int]:
    """``waveform`` (1-D, at ``sample_rate``) degraded by ``condition``: ``(samples, rate)``.

    ``seed`` seeds the noise: an int is used as it is, a string (an utterance id) is hashed with
    the condition's name (:func:`noise_seed`). The result is float32, its peak at most
    :data:`PEAK_LIMIT` (the clip is scaled down as a whole when it would exceed it); ``rate`` is
    ``sample_rate``, or 8000 for ``telephone``.
    """
    samples, rate, _ = _degrade(waveform, sample_rate, get_condition(condition), seed)
    return samples, rate


def _degrade(waveform: np.ndarray, sample_rate: int, condition: Condition,
             seed: int | str) -> tuple[np.ndarray, int, float]:
    """:func:`degrade` plus the gain applied to keep the peak at :data:`PEAK_LIMIT` (1: none)."""
    signal = np.asarray(waveform, dtype=np.float64)
    if signal.ndim != 1 or signal.size == 0 or not np.isfinite(signal).all():
        raise ValueError("degrade takes a non-empty 1-D array of finite samples")
    if isinstance(seed, str):
        seed = noise_seed(condition, seed)
    if condition.kind in ("white", "pink"):
        power = float(np.mean(signal**2))
        noise = (white_noise if condition.kind == "white" else pink_noise)(
            signal.size, sample_rate, np.random.default_rng(seed))
        scale = np.sqrt(power / (10 ** (condition.snr_db / 10) * np.mean(noise**2)))
        samples, gain = _limit_peak(signal + scale * noise)
        return samples.astype(np.float32), sample_rate, gain
    if condition.kind == "telephone":
        return _telephone(signal, sample_rate, condition)
    raise SerlibError(f"degradation condition {condition.name!r} has an unknown kind "
                      f"{condition.kind!r}; kinds: white, pink, telephone")


def white_noise(size: int, sample_rate: int, generator: np.random.Generator) -> np.ndarray:
    """``size`` samples of Gaussian white noise (``sample_rate`` is unused; same signature as
    :func:`pink_noise`)."""
    del sample_rate
    return generator.standard_normal(size)


def pink_noise(size: int, sample_rate: int, generator: np.random.Generator) -> np.ndarray:
    """``size`` samples of Gaussian noise whose power falls as 1/f (-10 dB per decade) from
    :data:`PINK_LOW_HZ` to Nyquist, with nothing below: white noise shaped in the frequency
    domain (amplitude 1/sqrt(f))."""
    spectrum = np.fft.rfft(generator.standard_normal(size))
    frequencies = np.fft.rfftfreq(size, d=1 / sample_rate)
    shape = np.zeros_like(frequencies)
    audible = frequencies >= PINK_LOW_HZ
    shape[audible] = 1 / np.sqrt(frequencies[audible])
    return np.fft.irfft(spectrum * shape, n=size)


def _limit_peak(samples: np.ndarray) -> tuple[np.ndarray, float]:
    peak = float(np.max(np.abs(samples)))
    if peak <= PEAK_LIMIT:
        return samples, 1.0
    gain = PEAK_LIMIT / peak
    return samples * gain, gain


def _telephone(signal: np.ndarray, sample_rate: int,
               condition: Condition) -> tuple[np.ndarray, int, float]:
    from scipy.signal import butter, sosfiltfilt  # imported here: scipy.signal is slow to import

    low, high = condition.band_hz
    if high >= sample_rate / 2:
        raise SerlibError(f"the telephone condition needs audio sampled above {2 * high:g} Hz; "
                          f"this clip is at {sample_rate} Hz")
    sections = butter(condition.filter_order, [low, high], btype="bandpass", fs=sample_rate,
                      output="sos")
    # sosfiltfilt pads with reflections of the clip (3 x the filter length by default), which a
    # clip shorter than that cannot give: then pad by its whole length minus one
    padding = min(3 * (2 * len(sections) + 1), signal.size - 1)
    band = sosfiltfilt(sections, signal, padlen=padding)
    narrow = soxr.resample(band, sample_rate, condition.sample_rate, quality=RESAMPLE_QUALITY)
    narrow, gain = _limit_peak(np.asarray(narrow, dtype=np.float64))
    codes = mu_law_encode(narrow, condition.mu, condition.levels)
    return mu_law_decode(codes, condition.mu, condition.levels).astype(np.float32), \
        condition.sample_rate, gain


def mu_law_encode(samples: np.ndarray, mu: int = 255, levels: int = 256) -> np.ndarray:
    """Samples in [-1, 1] -> mu-law codes 0..levels-1 (compress, then a uniform mid-rise
    quantiser over [-1, 1]; values beyond [-1, 1] take the outermost codes)."""
    clipped = np.clip(np.asarray(samples, dtype=np.float64), -1.0, 1.0)
    compressed = np.sign(clipped) * np.log1p(mu * np.abs(clipped)) / np.log1p(mu)
    codes = np.floor((compressed + 1) / 2 * levels)
    return np.clip(codes, 0, levels - 1).astype(np.uint8 if levels <= 256 else np.int64)


def mu_law_decode(codes: np.ndarray, mu: int = 255, levels: int = 256) -> np.ndarray:
    """mu-law codes -> samples: each code's mid-point, expanded (the inverse of the compression)."""
    compressed = (np.asarray(codes, dtype=np.float64) + 0.5) / levels * 2 - 1
    return np.sign(compressed) * np.expm1(np.abs(compressed) * np.log1p(mu)) / mu


def manifest_hash(manifest: pd.DataFrame) -> str:
    """SHA-256 of the manifest as CSV (its columns in their order, no index)."""
    return hashlib.sha256(manifest.to_csv(index=False).encode("utf-8")).hexdigest()


def degradation_record(manifest: pd.DataFrame, condition: str | Condition) -> dict[str, object]:
    """What determines a degraded folder's bytes: the parts of its record that must match."""
    condition = get_condition(condition)
    return {
        "generator": "serlib.data.degrade",
        "generator_version": GENERATOR_VERSION,
        "condition": condition.name,
        "parameters": {
            **asdict(condition),
            "band_hz": list(condition.band_hz) if condition.band_hz else None,
            "read_sample_rate": READ_SAMPLE_RATE,
            "pink_low_hz": PINK_LOW_HZ,
            "peak_limit": PEAK_LIMIT,
            "resample_quality": RESAMPLE_QUALITY,
            "noise_seed": "sha256(condition name NUL utterance id)[:8], little-endian",
            "libraries": {name: metadata.version(name) for name in ("numpy", "scipy", "soxr")},
        },
        "source_manifest_sha256": manifest_hash(manifest),
        "utterances": len(manifest),
    }


def write_degraded_corpus(manifest: pd.DataFrame, condition: str | Condition,
                          root: str | Path) -> pd.DataFrame:
    """Write ``condition``'s copy of every utterance of ``manifest`` under ``root``; its manifest.

    The returned table is ``manifest`` (every row and column: ids, speakers, genders, labels,
    text, language as they are) with ``path``, ``duration_s`` and ``sample_rate`` of the degraded
    files and a ``condition`` column; ``root/manifest.csv`` holds the same. ``manifest`` paths
    must be absolute (as :func:`serlib.data.corpora.build_manifest` writes them) or relative to
    the working folder. The folder is reused while its record names the same condition,
    parameters and source manifest (hash of its CSV); otherwise it is rebuilt whole (a killed
    run leaves only a staging folder, never read). A non-empty folder that is not a degraded copy
    is refused.
    """
    condition = get_condition(condition)
    manifest = _checked_manifest(manifest)
    root = Path(os.path.abspath(Path(root).expanduser()))
    expected = degradation_record(manifest, condition)
    with folder_lock(root, what=f"writing the {condition.name} copy of a corpus"):
        if not _is_current(root, expected):
            refuse_foreign_folder(root, RECORD_NAME, "degraded corpus")
            generate_folder(root, lambda staging: _write_into(staging, root, manifest, condition),
                            RECORD_NAME, lambda stats: {**expected, **stats})
        return _degraded_manifest(manifest, root, condition)


def _checked_manifest(manifest: pd.DataFrame) -> pd.DataFrame:
    required = [column for column in MANIFEST_COLUMNS if column not in OPTIONAL_COLUMNS]
    missing = [column for column in required if column not in manifest.columns]
    if missing:
        raise SerlibError(f"the manifest to degrade lacks the column(s) {', '.join(missing)}; "
                          "give a manifest as 'serlib manifest' writes it (docs/architecture.md)")
    if manifest.empty:
        raise SerlibError("the manifest to degrade has no rows; nothing to degrade")
    ids = manifest["utterance_id"].astype(str)
    repeated = ids[ids.duplicated()]
    if not repeated.empty:
        raise SerlibError(f"the manifest to degrade repeats utterance_id {repeated.iloc[0]!r}; "
                          "utterance ids must be unique")
    for utterance_id in ids:
        parts = PurePosixPath(utterance_id).parts
        if not parts or utterance_id.startswith("/") or ".." in parts or "\\" in utterance_id:
            raise SerlibError(f"utterance_id {utterance_id!r} cannot name a file under the "
                              "degraded folder (it must be a relative path without '..' or "
                              "backslashes, as 'serlib manifest' writes it); fix the manifest")
    return manifest.reset_index(drop=True)


def _is_current(root: Path, expected: dict[str, object]) -> bool:
    record = read_record(root, RECORD_NAME)
    return (record is not None and (root / MANIFEST_NAME).is_file()
            and all(record.get(key) == value for key, value in expected.items()))


def _audio_path(root: Path, utterance_id: str) -> Path:
    return root / AUDIO_FOLDER / f"{utterance_id}.wav"


def _write_into(staging: Path, root: Path, manifest: pd.DataFrame,
                condition: Condition) -> dict[str, object]:
    """Degrade every clip into ``staging`` (paths in the manifest point under ``root``)."""
    paths, durations, rates, gains = [], [], [], []
    for utterance_id, source in zip(manifest["utterance_id"].astype(str), manifest["path"]):
        clean = load_audio(source, READ_SAMPLE_RATE, min_seconds=0.0)
        samples, rate, gain = _degrade(clean, READ_SAMPLE_RATE, condition, utterance_id)
        target = _audio_path(staging, utterance_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(os.fsencode(target), samples, rate, subtype="PCM_16", format="WAV")
        paths.append(str(_audio_path(root, utterance_id)))
        durations.append(samples.size / rate)
        rates.append(rate)
        gains.append(gain)
    table = manifest.assign(path=paths, duration_s=durations, sample_rate=rates,
                            condition=condition.name)
    ordered = [*MANIFEST_COLUMNS, *(column for column in table.columns
                                    if column not in MANIFEST_COLUMNS)]
    # not write_manifest: it keeps only the standard columns, and its lock file would be left
    # inside the generated folder
    write_csv_atomically(table.reindex(columns=ordered, fill_value=""), staging / MANIFEST_NAME)
    gains = np.asarray(gains)
    return {"scaled_clips": int(np.sum(gains < 1.0)), "smallest_gain": float(gains.min()),
            "note": f"clips whose peak would exceed {PEAK_LIMIT} were scaled down as a whole "
                    "(never clipped): scaled_clips counts them, smallest_gain is the strongest"}


def _degraded_manifest(manifest: pd.DataFrame, root: Path, condition: Condition) -> pd.DataFrame:
    """``manifest`` with the audio columns of the degraded files (read from the folder's CSV)."""
    written = read_manifest(root / MANIFEST_NAME).set_index("utterance_id")
    audio = written.loc[manifest["utterance_id"].astype(str), list(AUDIO_COLUMNS)]
    return manifest.assign(path=audio["path"].to_numpy(),
                           duration_s=audio["duration_s"].to_numpy(dtype=float),
                           sample_rate=audio["sample_rate"].to_numpy(dtype=int),
                           condition=condition.name)
