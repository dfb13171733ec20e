"""serlib.data.audio: mono 16 kHz float32 output and the checks on bad files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
from conftest import write_wav

from serlib.data.audio import audio_info, load_audio
from serlib.common.errors import SerlibError


def test_stereo_is_downmixed_by_mean(tmp_path):
    path = tmp_path / "stereo.wav"
    left = np.full(1600, 0.5)
    right = np.full(1600, -0.25)
    soundfile.write(path, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    samples = load_audio(path)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert samples.shape == (1600,)
    np.testing.assert_allclose(samples, 0.125, atol=1e-7)


def test_resampling_22050_to_16000_keeps_length_and_frequency(tmp_path):
    path = write_wav(tmp_path / "tone.wav", seconds=1.0, sample_rate=22050, frequency=440.0)
    samples = load_audio(path, target_sample_rate=16000)
    assert samples.shape == (16000,)
    spectrum = np.abs(np.fft.rfft(samples))
    peak_hz = np.argmax(spectrum) * 16000 / len(samples)
    assert peak_hz == pytest.approx(440.0, abs=1.0)


def test_audio_info_reads_header(tmp_path):
    path = write_wav(tmp_path / "tone.wav", seconds=0.5, sample_rate=22050)
    assert audio_info(path) == (pytest.approx(0.5, abs=1e-4), 22050)


def test_missing_file_is_named(tmp_path):
    missing = tmp_path / "absent.wav"
    with pytest.raises(SerlibError, match="absent.wav does not exist"):
        load_audio(missing)
    with pytest.raises(SerlibError, match="absent.wav does not exist"):
        audio_info(missing)


def test_corrupt_file_is_named(tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    with pytest.raises(SerlibError, match="cannot read audio file .*corrupt.wav"):
        load_audio(corrupt)
    with pytest.raises(SerlibError, match="cannot read audio file .*corrupt.wav"):
        audio_info(corrupt)


def test_empty_file_is_named(tmp_path):
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0), 16000)
    with pytest.raises(SerlibError, match="empty.wav is empty"):
        load_audio(empty)
    with pytest.raises(SerlibError, match="empty.wav is empty"):
        audio_info(empty)


def test_nan_samples_are_rejected(tmp_path):
    path = tmp_path / "nan.wav"
    samples = np.zeros(3200, dtype=np.float32)
    samples[100] = np.nan
    soundfile.write(path, samples, 16000, subtype="FLOAT")
    with pytest.raises(SerlibError, match="nan.wav contains NaN or infinite samples"):
        load_audio(path)


def test_too_short_clip_is_rejected(tmp_path):
    path = write_wav(tmp_path / "short.wav", seconds=0.05)
    with pytest.raises(SerlibError, match=r"short.wav lasts 0.050 s, shorter than .* 0.1 s"):
        load_audio(path)
    assert load_audio(path, min_seconds=0.01).shape == (800,)
