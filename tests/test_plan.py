"""`serlib plan`: the cost model against measured runs, and the command on the shipped profiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile
import yaml

from serlib.cli.main import main as serlib_main
from serlib.features.extract import extract_features
from serlib.features.models import load_model
from serlib.study.config import load_config
from serlib.study.plan import plan_study


def _clips(folder, durations, seed):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for number, seconds in enumerate(durations):
        path = folder / f"clip{number}.wav"
        soundfile.write(path, 0.1 * rng.standard_normal(int(seconds * 16000)), 16000)
        rows.append({"utterance_id": path.stem, "path": str(path), "corpus": folder.name,
                     "duration_s": seconds})
    return pd.DataFrame(rows)


def test_planned_disk_matches_the_written_stores(tmp_path):
    manifest_dir = tmp_path / "work" / "manifests"
    manifest = _clips(tmp_path / "audio" / "tiny", [1.0, 2.5, 3.0], 3)
    manifest_dir.mkdir(parents=True)
    manifest.to_csv(manifest_dir / "tiny.csv", index=False)
    profile = tmp_path / "tiny.yaml"
    profile.write_text(yaml.safe_dump({
        "profile": "tiny", "work_dir": str(tmp_path / "work"),
        "corpora": [{"id": "tiny", "name": "emodb", "root": str(tmp_path / "audio")}],
        "models": ["random:wav2vec2-tiny"], "extraction": {"keep_frames": True},
    }))
    plan = plan_study(load_config(profile))
    assert plan.loc[0, "utterances"] == 3 and plan.loc[0, "sizes_from"].startswith("manifest")
    result = extract_features(load_model("random:wav2vec2-tiny"), manifest, tmp_path / "out",
                              keep_frames=True, progress=False, dtype="float32")
    pooled = np.load(result.folder / "pooled.npy", mmap_mode="r")
    frames = np.load(result.folder / "frames.npy", mmap_mode="r")
    assert plan.loc[0, "pooled_bytes"] == pooled.nbytes
    assert plan.loc[0, "frames_bytes"] == pytest.approx(frames.nbytes, rel=0.03)


def test_large_models_on_iemocap_need_the_frame_store_the_issue_names():
    """float16 frames of one 24-block x 1024 model: 50 frames/s x 25 x 1024 x 2 bytes per second."""
    plan = plan_study(load_config("paper"))
    iemocap = plan[(plan["corpus"] == "iemocap") & (plan["model"] == "xlsr-53")].iloc[0]
    hours = iemocap["audio_h"]
    assert iemocap["frames_bytes"] == pytest.approx(hours * 3600 * 50 * 25 * 1024 * 2, rel=1e-6)
    assert 50e9 < iemocap["frames_bytes"] < 120e9  # 7 h of the 4-class set: about 65 GB
    base = plan[(plan["corpus"] == "iemocap") & (plan["model"] == "wav2vec2-base")].iloc[0]
    assert base["extract_cpu_s"] < iemocap["extract_cpu_s"] < 4 * base["extract_cpu_s"]


def test_plan_command_prints_every_model_of_the_paper_profile(capsys):
    assert serlib_main(["plan", "paper"]) == 0
    out = capsys.readouterr().out
    for model in ("wav2vec2-base", "xlsr-53", "hubert-large-ft", "xlsr-53-random-init"):
        assert f"  {model} " in out
    assert "total" in out and "GMAC/s" in out
