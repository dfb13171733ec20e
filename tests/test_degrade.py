"""Degraded test audio: noise at a measured SNR and spectral slope, the telephone channel, and the
generated folder of a degraded corpus."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
from conftest import write_wav
from scipy.signal import welch

from serlib.common.errors import SerlibError
from serlib.data.corpora import build_manifest
from serlib.data.degrade import (
    CONDITIONS,
    PEAK_LIMIT,
    RECORD_NAME,
    degrade,
    mu_law_decode,
    mu_law_encode,
    noise_seed,
    pink_noise,
    write_degraded_corpus,
)

RATE = 16000


def speech_like(seconds: float = 3.0, level: float = 0.05, rate: int = RATE) -> np.ndarray:
    """Harmonics of 140 Hz under a 4 Hz syllable envelope with pauses (float64)."""
    times = np.arange(int(seconds * rate)) / rate
    voiced = sum(np.sin(2 * np.pi * 140 * k * times + k) / k for k in range(1, 25))
    envelope = np.clip(np.sin(2 * np.pi * 4 * times), 0, None)
    return level * voiced * envelope / np.max(np.abs(voiced))


def snr_db(clean: np.ndarray, degraded: np.ndarray) -> float:
    noise = degraded.astype(np.float64) - clean
    return float(10 * np.log10(np.mean(clean**2) / np.mean(noise**2)))


def slope_db_per_decade(signal: np.ndarray, rate: int = RATE, low: float = 50, high: float = 7000) -> float:
    """Slope of a line fitted to the Welch PSD in dB against log10(frequency)."""
    frequencies, power = welch(signal, rate, nperseg=4096)
    band = (frequencies >= low) & (frequencies <= high)
    return float(np.polyfit(np.log10(frequencies[band]), 10 * np.log10(power[band]), 1)[0])


def band_energy(signal: np.ndarray, rate: int, low: float, high: float) -> float:
    """Energy per second in [low, high) Hz from the Welch PSD (comparable across sample rates)."""
    frequencies, power = welch(signal, rate, nperseg=4096)
    band = (frequencies >= low) & (frequencies < high)
    return float(power[band].sum() * (frequencies[1] - frequencies[0]))


def test_conditions_in_order():
    assert list(CONDITIONS) == ["white-20db", "white-10db", "white-0db", "pink-20db",
                                "pink-10db", "pink-0db", "telephone"]
    assert CONDITIONS["pink-10db"].snr_db == 10.0 and CONDITIONS["pink-10db"].kind == "pink"
    assert CONDITIONS["telephone"].sample_rate == 8000


@pytest.mark.parametrize("name", ["white-20db", "white-10db", "white-0db",
                                  "pink-20db", "pink-10db", "pink-0db"])
def test_noise_is_added_at_the_asked_snr(name):
    clean = speech_like()
    degraded, rate = degrade(clean, RATE, name, "wav/03a01Fa")
    assert rate == RATE and degraded.dtype == np.float32 and degraded.shape == clean.shape
    assert snr_db(clean, degraded) == pytest.approx(CONDITIONS[name].snr_db, abs=0.2)


def test_pink_noise_falls_10_db_per_decade_and_white_is_flat():
    clean = speech_like(seconds=8.0)
    pink, _ = degrade(clean, RATE, "pink-0db", "u1")
    white, _ = degrade(clean, RATE, "white-0db", "u1")
    pink_slope = slope_db_per_decade(pink.astype(np.float64) - clean)
    white_slope = slope_db_per_decade(white.astype(np.float64) - clean)
    assert pink_slope == pytest.approx(-10, abs=2)
    assert abs(white_slope) < 1
    # and the generator alone, over a longer stretch
    alone = pink_noise(RATE * 20, RATE, np.random.default_rng(7))
    assert slope_db_per_decade(alone, low=30) == pytest.approx(-10, abs=1)


def test_loud_clip_is_scaled_not_clipped():
    quiet = speech_like(level=0.05)
    loud = speech_like(level=0.6)  # at 0 dB SNR its peak would pass 1
    quiet_out, _ = degrade(quiet, RATE, "white-0db", "u1")
    loud_out, _ = degrade(loud, RATE, "white-0db", "u1")
    assert np.max(np.abs(loud_out)) == pytest.approx(PEAK_LIMIT, abs=1e-6)
    ratio = loud_out.astype(np.float64) / quiet_out
    gain = np.median(ratio) / 12  # loud = 12 x quiet before scaling: a pure gain, same noise
    assert 0.2 < gain < 1
    np.testing.assert_allclose(loud_out, 12 * gain * quiet_out, rtol=1e-5, atol=1e-6)
    assert snr_db(loud * gain, loud_out) == pytest.approx(0.0, abs=0.2)


def test_noise_depends_on_condition_and_utterance_and_repeats_exactly():
    clean = speech_like(seconds=1.0)
    first, _ = degrade(clean, RATE, "white-10db", "wav/03a01Fa")
    again, _ = degrade(clean, RATE, "white-10db", "wav/03a01Fa")
    other, _ = degrade(clean, RATE, "white-10db", "wav/03a01Fb")
    assert first.tobytes() == again.tobytes()
    assert not np.array_equal(first, other)
    assert noise_seed("white-10db", "u") == noise_seed("white-10db", "u")
    assert noise_seed("white-10db", "u") != noise_seed("white-20db", "u")
    # sha256 of "white-10db\0u", first 8 bytes little-endian: the same on every machine and run
    assert noise_seed("white-10db", "u") == 0x0B82045AC54DF520


def test_telephone_band_rate_and_mu_law_levels():
    white = 0.1 * np.random.default_rng(3).standard_normal(RATE * 20)
    phone, rate = degrade(white, RATE, "telephone", "u1")
    assert rate == 8000
    assert phone.size == pytest.approx(white.size / 2, abs=2)
    # below 300 Hz and above 3400 Hz: almost nothing of what white noise holds there
    assert band_energy(phone, 8000, 0, 300) < 0.01 * band_energy(white, RATE, 0, 300)
    assert band_energy(phone, 8000, 3400, 4000) < 0.05 * band_energy(white, RATE, 3400, 4000)
    assert band_energy(phone, 8000, 0, 250) < 0.001 * band_energy(white, RATE, 0, 250)
    assert band_energy(phone, 8000, 3600, 4000) < 0.01 * band_energy(white, RATE, 3600, 4000)
    # the pass band goes through (within 0.3 dB)
    passed = band_energy(phone, 8000, 500, 3200) / band_energy(white, RATE, 500, 3200)
    assert 10 * np.log10(passed) == pytest.approx(0, abs=0.3)
    # every sample is one of the 256 decoded mu-law levels
    levels = mu_law_decode(np.arange(256)).astype(np.float32)
    assert len(np.unique(phone)) <= 256
    assert set(np.unique(phone)) <= set(levels)


def test_mu_law_codes_round_trip_and_compress():
    codes = np.arange(256)
    assert mu_law_encode(mu_law_decode(codes)).tolist() == codes.tolist()
    assert mu_law_encode(np.array([-2.0, -1.0, 1.0, 3.0])).tolist() == [0, 0, 255, 255]
    levels = mu_law_decode(codes)
    assert np.all(np.diff(levels) > 0) and levels[0] == -levels[-1]
    steps = np.diff(levels)
    assert steps[127] < steps[-1] / 100  # fine steps near 0, coarse near full scale
    signal = speech_like(level=0.3)
    decoded = mu_law_decode(mu_law_encode(signal))
    assert snr_db(signal, decoded) > 30  # 8-bit mu-law keeps about 38 dB on speech


def test_bad_condition_name_lists_the_valid_ones():
    with pytest.raises(SerlibError) as error:
        degrade(speech_like(), RATE, "white-5db", "u1")
    message = str(error.value)
    assert "'white-5db'" in message
    assert all(name in message for name in CONDITIONS)


def make_corpus(root: Path) -> pd.DataFrame:
    """An EmoDB-named tree of 22.05 kHz tones: 4 utterances, 2 speakers."""
    for number, name in enumerate(["03a01Fa", "03b02Wa", "08a01Fb", "08a04Tc"]):
        write_wav(root / "wav" / f"{name}.wav", seconds=0.6 + 0.1 * number, sample_rate=22050,
                  frequency=220 + 110 * number)
    return build_manifest("emodb", root)


def test_degraded_manifest_keeps_ids_and_labels(tmp_path):
    clean = make_corpus(tmp_path / "emodb")
    for condition in ("pink-10db", "telephone"):
        degraded = write_degraded_corpus(clean, condition, tmp_path / condition)
        kept = ["utterance_id", "corpus", "language", "speaker", "gender", "label", "label_code",
                "text"]
        pd.testing.assert_frame_equal(degraded[kept], clean[kept])
        assert set(degraded["condition"]) == {condition}
        rate = 8000 if condition == "telephone" else 16000
        assert set(degraded["sample_rate"]) == {rate}
        np.testing.assert_allclose(degraded["duration_s"], clean["duration_s"], atol=1e-3)
        for path, duration in zip(degraded["path"], degraded["duration_s"]):
            assert Path(path).is_relative_to(tmp_path / condition / "audio")
            info = soundfile.info(path)
            assert (info.samplerate, info.subtype) == (rate, "PCM_16")
            assert info.frames / info.samplerate == pytest.approx(duration)
        written = pd.read_csv(tmp_path / condition / "manifest.csv", dtype=str, keep_default_na=False)
        assert list(written["utterance_id"]) == list(clean["utterance_id"])
        assert list(written["text"]) == ["a01", "b02", "a01", "a04"]
        record = json.loads((tmp_path / condition / RECORD_NAME).read_text())
        assert record["condition"] == condition and record["utterances"] == 4
        assert record["scaled_clips"] == 0


def test_telephone_file_holds_256_levels_at_most(tmp_path):
    clean = make_corpus(tmp_path / "emodb")
    degraded = write_degraded_corpus(clean, "telephone", tmp_path / "phone")
    samples, _ = soundfile.read(degraded["path"].iloc[0], dtype="int16")
    assert 10 < len(np.unique(samples)) <= 256


def test_same_input_gives_identical_bytes_and_rerun_reuses(tmp_path):
    clean = make_corpus(tmp_path / "emodb")
    first = write_degraded_corpus(clean, "white-10db", tmp_path / "a")
    write_degraded_corpus(clean, "white-10db", tmp_path / "b")
    for path in first["path"]:
        relative = Path(path).relative_to(tmp_path / "a")
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes()
    record = tmp_path / "a" / RECORD_NAME
    stamp = (os.stat(tmp_path / "a").st_ino, record.stat().st_mtime_ns)
    again = write_degraded_corpus(clean, "white-10db", tmp_path / "a")
    pd.testing.assert_frame_equal(again, first)
    assert (os.stat(tmp_path / "a").st_ino, record.stat().st_mtime_ns) == stamp  # not rewritten


def test_changed_source_rebuilds_and_a_failed_run_leaves_nothing(tmp_path):
    clean = make_corpus(tmp_path / "emodb")
    root = tmp_path / "noisy"
    write_degraded_corpus(clean, "white-20db", root)
    relabelled = clean.assign(label=["anger"] * 4)
    assert list(write_degraded_corpus(relabelled, "white-20db", root)["label"]) == ["anger"] * 4
    assert list(pd.read_csv(root / "manifest.csv")["label"]) == ["anger"] * 4
    broken = clean.copy()
    broken.loc[2, "path"] = str(tmp_path / "missing.wav")
    with pytest.raises(SerlibError, match="missing.wav does not exist"):
        write_degraded_corpus(broken, "pink-20db", tmp_path / "pink")
    assert not (tmp_path / "pink").exists()
    assert not [path for path in tmp_path.iterdir() if ".partial-" in path.name]


def test_foreign_folder_is_refused(tmp_path):
    clean = make_corpus(tmp_path / "emodb")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(SerlibError, match="refusing to replace it"):
        write_degraded_corpus(clean, "white-0db", tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_manifest_without_required_columns_is_refused(tmp_path):
    clean = make_corpus(tmp_path / "emodb").drop(columns=["speaker"])
    with pytest.raises(SerlibError, match="lacks the column.s. speaker"):
        write_degraded_corpus(clean, "white-0db", tmp_path / "out")
