"""Acoustic baselines (acoustic:egemaps, acoustic:mfcc) as models of the feature store."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import write_wav
from serlib.features.acoustic import extract_acoustic_features, is_acoustic, plan_chunks
from serlib.features.acoustic_features import deltas, get_feature_set, pitch_track
from serlib.cli import main
from serlib.common.errors import SerlibError
from serlib.features.extract import extract_features
from serlib.features.models import load_model
from serlib.features.store import load_pooled

FREQUENCIES = (120.0, 200.0, 250.0, 160.0, 320.0)


def write_manifest(folder: Path, frequencies=FREQUENCIES) -> Path:
    """Sine tones of 0.5 s (one per frequency) and their manifest."""
    rows = []
    for number, frequency in enumerate(frequencies):
        path = write_wav(folder / f"utt{number}.wav", 0.5, frequency=frequency)
        rows.append({"utterance_id": f"utt{number}", "path": str(path), "corpus": "tones",
                     "duration_s": 0.5})
    manifest = folder / "tones.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    return write_manifest(tmp_path / "corpus")


def test_names_are_recognised_and_refused_by_the_model_loader():
    assert is_acoustic("acoustic:mfcc") and not is_acoustic("whisper-base")
    assert not is_acoustic(None)
    with pytest.raises(SerlibError, match="acoustic feature set, not a speech model"):
        load_model("acoustic:egemaps")
    with pytest.raises(SerlibError, match="use one of egemaps, mfcc"):
        get_feature_set("gemaps")


def test_deltas_of_a_ramp_are_its_slope_and_pitch_of_a_tone_is_its_frequency():
    ramp = np.arange(10, dtype=np.float64)[None, :] * 3.0
    np.testing.assert_allclose(deltas(ramp)[0, 2:-2], 3.0)
    times = np.arange(16000) / 16000
    f0_hz, voiced = pitch_track(0.5 * np.sin(2 * np.pi * 200.0 * times))
    assert len(f0_hz) == 101 and voiced.all()
    np.testing.assert_array_equal(f0_hz, 200.0)  # period of exactly 80 samples


def test_mfcc_store_has_engine_format_and_tone_pitch(manifest, tmp_path):
    result = extract_features("acoustic:mfcc", manifest, tmp_path / "features", progress=False,
                              keep_frames=True, pooling="mean+std")
    pooled, ids, index = load_pooled(result.folder)
    assert result.folder == tmp_path / "features" / "acoustic__mfcc" / "tones"
    assert pooled.shape == (5, 1, 171) and pooled.dtype == np.float32
    assert ids == [f"utt{number}" for number in range(5)]
    assert index["layers"] == 1 and index["dim"] == 171 and index["complete"] is True
    assert index["keep_frames"] is False and index["ignored_settings"]["keep_frames"] is True
    assert index["ignored_settings"]["pooling"] == "mean+std"
    assert not (result.folder / "frames.npy").exists()
    assert pd.read_csv(result.folder / "utterances.csv")["num_frames"].tolist() == [51] * 5
    f0_mean = pooled[:, 0, index["feature_names"].index("f0_semitones_mean")]
    expected = 12 * np.log2(np.array(FREQUENCIES) / 27.5)
    np.testing.assert_allclose(f0_mean, expected, atol=0.15)  # lag rounding <= 0.12 semitones


def test_egemaps_store_has_the_88_functionals(manifest, tmp_path):
    pytest.importorskip("opensmile")
    result = extract_features("acoustic:egemaps", manifest, tmp_path / "features", progress=False,
                              corpus_name="tones-egemaps", model_label="egemaps")
    pooled, _, index = load_pooled(result.folder)
    assert result.folder == tmp_path / "features" / "egemaps" / "tones-egemaps"
    assert pooled.shape == (5, 1, 88) and len(index["feature_names"]) == 88
    assert index["model"] == "egemaps" and index["model_id"] == "acoustic:egemaps"
    assert index["feature_names"][0] == "F0semitoneFrom27.5Hz_sma3nz_amean"
    assert np.isfinite(pooled).all()


def test_identical_runs_and_cache_hit_and_new_manifest_recomputes(manifest, tmp_path):
    first = extract_features("acoustic:mfcc", manifest, tmp_path / "a", progress=False)
    second = extract_features("acoustic:mfcc", manifest, tmp_path / "b", progress=False)
    np.testing.assert_array_equal(load_pooled(first.folder)[0], load_pooled(second.folder)[0])
    again = extract_features("acoustic:mfcc", manifest, tmp_path / "a", progress=False)
    assert again.cache_hit and again.num_computed == 0
    pd.read_csv(manifest).iloc[:3].to_csv(manifest, index=False)
    changed = extract_features("acoustic:mfcc", manifest, tmp_path / "a", progress=False)
    assert not changed.cache_hit and changed.num_computed == 3
    assert load_pooled(changed.folder)[0].shape == (3, 1, 171)


def test_interrupted_run_resumes_with_the_unfinished_chunks_only(manifest, tmp_path):
    assert [rows.tolist() for rows in plan_chunks(5, 2)] == [[0, 1], [2, 3], [4]]

    def kill_after_first_chunk(done):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract_acoustic_features("acoustic:mfcc", manifest, tmp_path / "resumed", progress=False,
                                  chunk_utterances=2, on_batch=kill_after_first_chunk)
    resumed = extract_acoustic_features("acoustic:mfcc", manifest, tmp_path / "resumed",
                                        progress=False, chunk_utterances=2)
    assert resumed.num_computed == 3 and not (resumed.folder / ".partial").exists()
    fresh = extract_acoustic_features("acoustic:mfcc", manifest, tmp_path / "fresh",
                                      progress=False, chunk_utterances=2)
    np.testing.assert_array_equal(load_pooled(resumed.folder)[0], load_pooled(fresh.folder)[0])


def test_cli_extract_dispatches_acoustic_names(manifest, tmp_path, capsys):
    out = tmp_path / "features"
    assert main(["extract", "--model", "acoustic:mfcc", "--manifest", str(manifest),
                 "--out", str(out), "--quiet"]) == 0
    assert "5/5 utterances computed" in capsys.readouterr().out
    assert load_pooled(out / "acoustic__mfcc" / "tones")[0].shape == (5, 1, 171)


def test_missing_opensmile_is_explained(manifest, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "opensmile", None)  # makes `import opensmile` fail
    with pytest.raises(SerlibError, match="pip install opensmile"):
        extract_features("acoustic:egemaps", manifest, tmp_path / "features", progress=False)
