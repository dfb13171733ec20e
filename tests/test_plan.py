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
from serlib.study.plan import corpus_size, plan_study


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


def test_a_models_corpora_load_it_once_and_notebook_02_compares_plan_and_runs(tmp_path,
                                                                             monkeypatch):
    from serlib import study
    from serlib.features import models
    from serlib.study.prepare import PreparedCorpus

    manifest_dir = tmp_path / "work" / "manifests"
    manifest_dir.mkdir(parents=True)
    prepared = []
    for number, corpus in enumerate(("first", "second")):
        manifest = _clips(tmp_path / "audio" / corpus, [1.0, 1.5], number)
        manifest.to_csv(manifest_dir / f"{corpus}.csv", index=False)
        prepared.append(PreparedCorpus(corpus, "de", manifest_dir / f"{corpus}.csv", {}))
    profile = tmp_path / "tiny.yaml"
    profile.write_text(yaml.safe_dump({
        "profile": "tiny", "work_dir": str(tmp_path / "work"),
        "results_dir": str(tmp_path / "results"),
        "corpora": [{"id": corpus, "name": "emodb", "root": str(tmp_path / "audio" / corpus)}
                    for corpus in ("first", "second")],
        "models": ["random:wav2vec2-tiny"], "extraction": {"dtype": "float32"},
    }))
    config = load_config(profile)
    loads = []
    real_load = models.load_model
    monkeypatch.setattr(models, "load_model", lambda *args: loads.append(args) or real_load(*args))
    runs = study.extract_all(config, prepared, progress=False)
    assert len(loads) == 1 and study.stores.LAST_MODEL.loaded is None  # let go at the end
    assert runs["computed"].tolist() == [2, 2] and (runs["device"] == "cpu").all()
    assert runs.loc[0, "load_s"] > 0 and runs.loc[1, "load_s"] < runs.loc[0, "load_s"]
    comparison = study.planned_vs_measured(config, runs)
    assert comparison["corpus"].tolist() == ["first", "second"]
    assert (comparison["planned_disk_mb"] == comparison["written_disk_mb"]).all()
    assert (comparison["planned_s"] > 0).all() and (comparison["measured_s"] > 0).all()
    again = study.extract_all(config, prepared, progress=False)
    assert again["cache_hit"].all() and len(loads) == 1  # cached stores load nothing
    nothing = study.planned_vs_measured(config, again)
    assert nothing.empty and list(nothing.columns) == list(comparison.columns)


def test_the_readme_quotes_the_paper_plan_as_it_is(capsys):
    """The README's paragraph on running the paper profile gives the plan's own totals."""
    from pathlib import Path

    assert serlib_main(["plan", "paper"]) == 0
    total = next(line for line in capsys.readouterr().out.splitlines()
                 if line.strip().startswith("total")).split()
    cpu, cuda, pooled, frames = " ".join(total[1:3]), " ".join(total[3:5]), " ".join(
        total[5:7]), " ".join(total[7:9])
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text().split())
    paper = load_config("paper")
    hours = sum(corpus_size(paper, corpus.corpus_id).total_seconds for corpus in paper.corpora) / 3600
    assert f"({hours:.2f} h of audio)" in readme
    assert f"plans {cuda} of extraction on an H100, most of it writing {frames} of float16" in readme
    assert f"against {cpu} on 2 CPU cores; {pooled} of pooled features" in readme
