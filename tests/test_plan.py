"""`serlib plan`: the cost model against measured runs, and the command on the shipped profiles."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
import yaml

from serlib.cli.main import main as serlib_main
from serlib.data.splits import make_protocol
from serlib.features.cost import architecture_of, frame_probe_macs
from serlib.features.extract import extract_features
from serlib.features.models import load_model
from serlib.study.config import load_config
from serlib.study.plan import plan_study, plan_summary
from serlib.study.plan_format import human_bytes, human_seconds
from serlib.study.plan_rates import load_measurements, pooled_device_seconds
from serlib.study.plan_sizes import FoldSize
from serlib.study.plan_sizes import CorpusSize, corpus_size, estimated_folds

REPO = Path(__file__).resolve().parents[1]
PARTS = ("extraction_s", "frame_holding_s", "frame_probe_s", "pooled_probe_s")


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


def _manifest_profile(tmp_path, extraction, probes=None, speakers=10, utterances=100, seconds=3.0,
                      models=("wav2vec2-base",), protocols=("speaker-cv",)):
    """A profile over one corpus whose manifest (no audio: the plan reads only durations,
    speakers and labels) holds ``utterances`` clips of ``seconds`` from ``speakers`` speakers."""
    manifests = tmp_path / "work" / "manifests"
    manifests.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"utterance_id": [f"u{i:04d}" for i in range(utterances)], "path": "missing.wav",
                  "speaker": [f"s{i % speakers}" for i in range(utterances)],
                  "label": [("anger", "neutral", "sadness")[i % 3] for i in range(utterances)],
                  "language": "de", "duration_s": seconds}).to_csv(manifests / "corpus.csv", index=False)
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump({
        "profile": "planned", "work_dir": str(tmp_path / "work"),
        "corpora": [{"id": "corpus", "name": "emodb", "root": str(tmp_path / "audio")}],
        "models": list(models), "split": {"protocols": list(protocols), "repeats": 3},
        "extraction": extraction, "probes": probes or {"seeds": 1, "epochs": 30},
    }))
    return load_config(profile)


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


def test_large_models_on_iemocap_hold_the_frames_the_issue_names():
    """float16 frames of one 24-block x 1024 model: 50 frames/s x 25 x 1024 x 2 bytes per second,
    held for the frame-level probes (the paper profile keeps no frame store)."""
    plan = plan_study(load_config("paper"))
    iemocap = plan[(plan["corpus"] == "iemocap") & (plan["model"] == "xlsr-53")].iloc[0]
    hours = iemocap["audio_h"]
    assert iemocap["frames_bytes"] == 0
    assert iemocap["bank_bytes"] == pytest.approx(hours * 3600 * 50 * 25 * 1024 * 2, rel=1e-6)
    assert 50e9 < iemocap["bank_bytes"] < 120e9  # 7 h of the 4-class set: about 64 GB
    base = plan[(plan["corpus"] == "iemocap") & (plan["model"] == "wav2vec2-base")].iloc[0]
    assert base["extract_cpu_s"] < iemocap["extract_cpu_s"] < 4 * base["extract_cpu_s"]


def test_plan_command_prints_every_model_of_the_paper_profile(capsys):
    assert serlib_main(["plan", "paper"]) == 0
    out = capsys.readouterr().out
    for model in ("wav2vec2-base", "xlsr-53", "hubert-large-ft", "xlsr-53-random-init", "acoustic:egemaps"):
        assert f"  {model} " in out
    assert "total cpu" in out and "total cuda" in out and "GMAC/s" in out
    assert "ASSUMED, not measured: frame_probes.cuda" in out  # no GPU measured the frame-level grid
    assert "spilled to disk" in out


def _paper_json(capsys) -> dict:
    assert serlib_main(["plan", "paper", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_json_plan_has_every_part_and_its_totals_are_their_sums(capsys, tmp_path):
    plan = _paper_json(capsys)
    assert set(plan["devices"]) == {"cpu", "cuda"}
    rows = pd.DataFrame(plan["rows"])
    assert len(rows) == 12 * 7 and {"model", "corpus", "extract_cpu_s", "frame_probe_cuda_s"} <= set(rows)
    for device, entry in plan["devices"].items():
        assert entry["total_s"] == pytest.approx(sum(entry[part] for part in PARTS), rel=1e-12)
        assert entry["extraction_s"] == pytest.approx(entry["load_s"] + entry["extraction_runs_s"], rel=1e-12)
        assert entry["extraction_runs_s"] == pytest.approx(rows[f"extract_{device}_s"].sum(), rel=1e-12)
        assert entry["frame_probe_s"] == pytest.approx(rows[f"frame_probe_{device}_s"].sum(), rel=1e-12)
        assert entry["frame_probe_s"] == pytest.approx(sum(entry["frame_probe_s_by_probe"].values()), rel=1e-12)
        assert entry["pooled_probe_s"] == pytest.approx(sum(entry["pooled_probe_s_by_probe"].values()), rel=1e-12)
        assert entry["total_s"] == pytest.approx(sum(model["total_s"] for model in entry["models"]), rel=1e-12)
        assert entry["largest_spill_bytes"] == rows[f"spill_{device}_bytes"].max()
        assert entry["peak_disk_bytes"] == pytest.approx(
            plan["pooled_disk_bytes"] + plan["kept_frames_bytes"] + entry["largest_spill_bytes"])
        assert entry["peak_memory_bytes"] == rows[f"peak_memory_{device}_bytes"].max()
        assert sum(entry["frames_held"].values()) == (rows[f"frames_held_{device}"] != "").sum() == 10 * 7
        assert entry["load_s"] > 0 and entry["pooled_probe_s"] > 0
    assert plan["kept_disk_bytes"] == plan["pooled_disk_bytes"] == rows["pooled_bytes"].sum()
    assert plan["peak_disk_bytes"] == max(entry["peak_disk_bytes"] for entry in plan["devices"].values())
    assert plan["peak_memory_bytes"] == max(entry["peak_memory_bytes"] for entry in plan["devices"].values())
    # the acoustic baselines are planned: one hidden state, per-layer pooled probes only
    mfcc = rows[rows["model"] == "acoustic:mfcc"].iloc[0]
    assert mfcc["extract_cpu_s"] > 0 and mfcc["frame_probes"] == "" and mfcc["hidden_states"] == 1
    assert set(mfcc["pooled_probes"].split(", ")) == {"linear", "softmax", "dense-pooled", "linear-raw", "mlp-wide",
                                                      "linear-speaker-standardized"}
    # --json PATH writes the same plan beside the text
    assert serlib_main(["plan", "paper", "--json", str(tmp_path / "plan.json")]) == 0
    assert "total cuda" in capsys.readouterr().out
    assert json.loads((tmp_path / "plan.json").read_text())["devices"] == plan["devices"]


def test_the_plan_imports_neither_torch_nor_transformers(tmp_path):
    script = ("import sys; from serlib.cli.main import main; "
              f"main(['plan', 'paper', '--json', {str(tmp_path / 'plan.json')!r}]); "
              "print(sorted(name for name in ('torch', 'transformers') if name in sys.modules))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_paper_frames_fit_70_gb_of_disk_and_every_device_plans_the_frame_level_probes(capsys):
    plan = _paper_json(capsys)
    assert plan["keep_frames"] is False and plan["kept_frames_bytes"] == 0
    assert 0 < plan["peak_frame_disk_bytes"] <= 70e9  # the largest spill file, one at a time
    for device, entry in plan["devices"].items():
        assert entry["frame_probe_s"] > 0, device
        assert set(entry["frame_probe_s_by_probe"]) == {"dense", "aggregate"}


def _frame_profile(tmp_path, seeds=1, epochs=30):
    return _manifest_profile(tmp_path, {"keep_frames": False},
                             {"seeds": 2, "epochs": 30, "per_probe": {"dense": {"seeds": seeds, "epochs": epochs}}})


def test_frame_level_probe_seconds_scale_with_seeds_and_epochs(tmp_path):
    one = plan_study(_frame_profile(tmp_path / "one")).iloc[0]
    seeds = plan_study(_frame_profile(tmp_path / "seeds", seeds=3)).iloc[0]
    epochs = plan_study(_frame_profile(tmp_path / "epochs", epochs=10)).iloc[0]
    without = plan_study(_manifest_profile(tmp_path / "none", {"keep_frames": False},
                                           {"seeds": 2, "epochs": 30, "per_probe": {"dense": {"models": []}}})).iloc[0]
    for device in ("cpu", "cuda"):
        dense = one[f"frame_probe_{device}_s"] - without[f"frame_probe_{device}_s"]
        assert dense > 0
        assert seeds[f"frame_probe_{device}_s"] - one[f"frame_probe_{device}_s"] == pytest.approx(2 * dense)
        assert one[f"frame_probe_{device}_s"] - epochs[f"frame_probe_{device}_s"] == pytest.approx(dense * 2 / 3)
    # the count itself: 100 utterances x 3 s x 50 frames/s, 10 speakers left out one at a time
    # (train 7 of 10, dev + test 3 of 10), 13 hidden states x 768, 30 epochs, 1 seed
    frames = 100 * 3.0 * 50
    per_fold = frame_probe_macs("dense", 13, 768, 0.7 * frames, 0.3 * frames, 70, 30, 3)
    assert one["frame_macs_dense"] == pytest.approx(10 * 30 * per_fold, rel=1e-9)
    rate = load_measurements()["frame_probes"]["cpu"]["dense"]["effective_gmacs_per_s"] * 1e9
    assert one["frame_probe_cpu_s"] - without["frame_probe_cpu_s"] == pytest.approx(one["frame_macs_dense"] / rate)


def test_the_frame_count_is_the_benchmarks_and_reproduces_its_measured_multiply_adds():
    """serlib.features.cost.frame_probe_macs counts as benchmarks/frame_probe_speed.py, whose
    run gave the measured rates: the same 42.71 T (dense) and 7.67 T (aggregate)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import frame_probe_speed as bench
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    from serlib.probing.sizes import DENSE_HIDDEN
    from serlib.features import cost

    assert cost.DENSE_HIDDEN == DENSE_HIDDEN
    folds = bench.speaker_folds(10, np.random.default_rng(0))
    measured = load_measurements()["frame_probes"]["cpu"]
    for probe in ("dense", "aggregate"):
        ours = sum(frame_probe_macs(probe, bench.STATES, bench.WIDTH,
                                    len(fold.split.rows["train"]) * bench.FRAMES,
                                    (len(fold.split.rows["dev"]) + len(fold.split.rows["test"])) * bench.FRAMES,
                                    len(fold.split.rows["train"]),
                                    len(fold.split.rows["dev"]) + len(fold.split.rows["test"]), bench.CLASSES)
                   for fold in folds) * 30
        assert ours == pytest.approx(bench.counted_macs(probe, folds, 1, 30), rel=1e-12)
        assert ours == pytest.approx(measured[probe]["multiply_adds"], rel=2e-3)
        assert measured[probe]["multiply_adds"] / measured[probe]["seconds"] / 1e9 == pytest.approx(
            measured[probe]["effective_gmacs_per_s"], rel=2e-3)


def test_frames_over_the_budget_are_held_in_groups_or_spilled_and_the_spill_is_not_kept(tmp_path):
    """13 x 768 frames of 300 s of audio (315 MB) against a 100 MB budget. Dense alone: spilling
    (2 x 315 MB at the CPU's 200 MB/s) is cheaper than 3 more runs of the model on the CPU; on the
    GPU a model run is cheaper than writing at its 77 MB/s, so the groups are computed by reruns.
    With the aggregation every hidden state is needed together: spilled on both. (No host memory
    for frames on the GPU machine here: with it, one model run fills the host's memory.)"""
    dense_only = {"seeds": 1, "epochs": 30, "per_probe": {"aggregate": {"models": []}}}
    no_host = {"keep_frames": False, "frame_memory_gb": 0.1, "host_frame_memory_gb": 0}
    config = _manifest_profile(tmp_path / "dense", no_host, dense_only)
    row = plan_study(config).iloc[0]
    bank = 300 * 50 * 13 * 768 * 2
    assert row["bank_bytes"] == pytest.approx(bank, rel=1e-6)
    assert row["frames_held_cpu"] == "spill" and row["spill_cpu_bytes"] == pytest.approx(bank, rel=1e-6)
    assert row["frame_holding_cpu_s"] == pytest.approx(row["extract_cpu_s"] + 2 * row["spill_cpu_bytes"] / 200e6)
    assert row["frames_held_cuda"] == "chunks" and row["spill_cuda_bytes"] == 0
    assert row["frame_groups_cuda"] == 4 and row["frame_runs_cuda"] == 4  # 4 hidden states of 24 MB per group
    assert row["frame_holding_cuda_s"] == pytest.approx(4 * row["extract_cuda_s"])
    assert row["frame_memory_cuda_bytes"] <= 0.1e9
    summary = plan_summary(config, plan_study(config))
    cpu, cuda = summary["devices"]["cpu"], summary["devices"]["cuda"]
    assert cpu["frames_held"] == {"memory": 0, "chunks": 0, "host": 0, "spill": 1, "too-large": 0}
    assert cpu["peak_disk_bytes"] == pytest.approx(row["pooled_bytes"] + row["spill_cpu_bytes"])
    assert cuda["peak_disk_bytes"] == row["pooled_bytes"] == summary["kept_disk_bytes"]
    assert cpu["frame_stage_load_s"] > 0  # the stage runs the model in a later notebook: loaded again
    both = _manifest_profile(tmp_path / "both", no_host)
    row = plan_study(both).iloc[0]
    assert row["frames_held_cpu"] == row["frames_held_cuda"] == "spill"
    assert plan_summary(both, plan_study(both))["kept_disk_bytes"] == row["pooled_bytes"]
    hosted = plan_study(_manifest_profile(tmp_path / "host", {"keep_frames": False, "frame_memory_gb": 0.1},
                                          dense_only)).iloc[0]
    assert hosted["frames_held_cuda"] == "host" and hosted["frame_runs_cuda"] == 1
    assert hosted["frames_held_cpu"] == "spill"  # the host is the CPU's device: no second tier


def test_kept_frames_count_in_the_kept_disk_and_their_writes_in_the_extraction(tmp_path):
    held = plan_study(_manifest_profile(tmp_path / "held", {"keep_frames": False})).iloc[0]
    config = _manifest_profile(tmp_path / "kept", {"keep_frames": True})
    kept = plan_study(config).iloc[0]
    frames = 300 * 50 * 13 * 768 * 2
    assert kept["frames_bytes"] == pytest.approx(frames, rel=1e-6) and held["frames_bytes"] == 0
    summary = plan_summary(config, plan_study(config))
    assert summary["kept_disk_bytes"] == pytest.approx(kept["pooled_bytes"] + kept["frames_bytes"])
    assert summary["devices"]["cpu"]["peak_disk_bytes"] == summary["kept_disk_bytes"]  # nothing spilled
    assert kept["extract_cuda_s"] - held["extract_cuda_s"] == pytest.approx(kept["frames_bytes"] / 77e6)
    assert kept["frames_held_cpu"] == "memory"  # read from the kept store, not computed again
    assert kept["frame_holding_cpu_s"] == pytest.approx(frames / 200e6)


@pytest.mark.parametrize("speakers", [4, 6, 10, 12, 24])
def test_estimated_folds_follow_the_splits_module(speakers):
    """The plan's folds without a split file, against the folds serlib.data.splits makes."""
    utterances = 20 * speakers
    manifest = pd.DataFrame({"utterance_id": [f"u{i}" for i in range(utterances)],
                             "speaker": [f"s{i % speakers}" for i in range(utterances)],
                             "label": [("a", "b", "c", "d")[(i // speakers) % 4] for i in range(utterances)]})
    size = CorpusSize("x", utterances, 3.0 * utterances, 3.0, "test", speakers)
    for protocol in ("speaker-cv", "random"):
        folds, _ = estimated_folds(protocol, size, repeats=3)
        table = make_protocol(manifest, protocol, seed=0, repeats=3)
        assert len(folds) == table["fold"].nunique()
        trained = (table["split"] == "train").sum()
        assert sum(fold.train_utterances for fold in folds) == pytest.approx(trained, rel=0.05)
        evaluated = (table["split"] != "train").sum()
        assert sum(fold.evaluated_utterances for fold in folds) == pytest.approx(evaluated, rel=0.1)


def test_folds_from_a_written_split_file_override_the_estimate(tmp_path):
    estimated = _manifest_profile(tmp_path, {"keep_frames": False})
    before = plan_study(estimated).iloc[0]
    assert before["folds"] == "speaker-cv 10" and "estimated: 10 speakers" in before["folds_from"]
    # notebook 01 wrote another split: 2 folds, each training on 20 of the 100 utterances
    rows = []
    for fold in range(2):
        for number in range(100):
            part = "train" if 20 * fold <= number < 20 * fold + 20 else ("dev" if number % 2 else "test")
            rows.append({"utterance_id": f"u{number:04d}", "speaker": f"s{number % 10}", "label": "anger",
                         "fold": fold, "split": part})
    pd.DataFrame(rows).to_csv(estimated.manifest_dir / "corpus.split-speaker-cv-seed0.csv", index=False)
    after = plan_study(estimated).iloc[0]
    assert after["folds"] == "speaker-cv 2" and "split file corpus.split-speaker-cv-seed0.csv" in after["folds_from"]
    # pooled probes scale with the training utterances summed over the folds: 7 x 100 -> 2 x 20
    assert after["pooled_s_linear_cpu_s"] == pytest.approx(before["pooled_s_linear_cpu_s"] * 40 / 700)
    reference = load_measurements()["probes"]["cpu"]
    assert after["pooled_s_linear_cpu_s"] == pytest.approx(
        reference["seconds"]["linear"] * 40 / reference["training_utterances"] * 13 / 7 * 768 / 512)
    frames = 50 * 3.0
    assert after["frame_macs_dense"] == pytest.approx(30 * 2 * frame_probe_macs(
        "dense", 13, 768, 20 * frames, 80 * frames, 20, 80, 3), rel=1e-9)


def test_a_gpu_plans_pooled_probes_by_the_steps_of_their_fused_passes():
    """On a GPU with a measured step, a pooled probe costs its passes' steps (the runs of folds of
    one size fused, as many as a pass holds) at the step's cost per operator, plus its arithmetic
    at the ratio of the matmul peaks; the CPU keeps its seconds."""
    from serlib.probing.kinds import get_probe_kind
    from serlib.probing.sizes import runs_per_pass

    measurements = {"probes": {"cpu": {"operators_per_step": {"linear": 30.0, "dense-pooled": 60.0}},
                               "cuda": {"step_seconds": 0.002, "step_probe": "linear",
                                        "matmul_peak_ratio_to_cpu": 0.01}}}
    random = [FoldSize(321, 214, 0, 0)] * 5  # the repeats of a 60/20/20 split: one size
    speakers = [FoldSize(300, 200, 0, 0), FoldSize(280, 220, 0, 0)]
    arguments = dict(cpu_seconds=100.0, hidden_states=25, width=1024, seeds=5, epochs=30, batch_size=32, classes=7,
                     measurements=measurements)
    linear = pooled_device_seconds("linear", folds=random + speakers, device="cuda", **arguments)
    per_pass = runs_per_pass(get_probe_kind("linear"), 25, 1024, 25, 7, 256, "cuda")
    steps = -(-25 // per_pass) * 30 * 11 + -(-5 // per_pass) * 30 * (10 + 9)
    assert linear == pytest.approx(steps * 0.002 + 100.0 * 0.01)
    alone = pooled_device_seconds("linear", folds=random[:1], device="cuda", **{**arguments, "seeds": 1})
    assert alone == pytest.approx(30 * 11 * 0.002 + 1.0)  # one run: one pass
    assert per_pass >= 5 and linear < 25 * alone + 2 * 5 * alone  # fused: fewer steps than run by run
    dense = pooled_device_seconds("dense-pooled", folds=random[:1], device="cuda", **{**arguments, "seeds": 1})
    assert dense == pytest.approx(2 * 30 * 11 * 0.002 + 1.0)  # twice the operators per step
    assert pooled_device_seconds("linear", folds=random, device="cpu", **arguments) == 100.0


def test_the_demo_extraction_plan_is_within_2x_of_its_measured_runs(tmp_path, monkeypatch):
    """The demo's notebook 02 as committed (results/demo/tables/extraction_runs.csv: every run's
    seconds, loads included), against the plan of the same corpora: model loads, per-run and
    per-utterance overheads, compute, the acoustic baselines."""
    runs = pd.read_csv(REPO / "results" / "demo" / "tables" / "extraction_runs.csv")
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    for corpus, run in runs.groupby("corpus").first().iterrows():  # the corpora as measured
        count = int(run["utterances"])
        pd.DataFrame({"utterance_id": [f"{corpus}-{i}" for i in range(count)], "path": "x.wav",
                      "speaker": [f"v{i % 4}" for i in range(count)], "label": "neutral",
                      "duration_s": run["audio_s"] / count}).to_csv(manifests / f"{corpus}.csv", index=False)
    monkeypatch.setenv("SERLIB_WORK_DIR", str(tmp_path))
    config = load_config("demo")
    summary = plan_summary(config, plan_study(config))
    planned, measured = summary["devices"]["cpu"]["extraction_s"], runs["seconds"].sum()
    assert 30 < measured < 60
    assert 0.5 <= measured / planned <= 2.0, (planned, measured)
    assert summary["devices"]["cpu"]["load_s"] == pytest.approx(runs["load_s"].sum(), rel=0.5)


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
        # no frame-level probes: notebook 02's runs alone (the frame-level stage needs split files)
        "probes": {"per_probe": {"dense": {"models": []}, "aggregate": {"models": []}}},
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
    # planned per run without the load, as measured: compute + 2 utterances' overheads
    per_utterance = load_measurements()["extraction"]["cpu"]["utterance_overhead_s"]
    assert (comparison["planned_s"] >= 2 * per_utterance).all()
    again = study.extract_all(config, prepared, progress=False)
    assert again["cache_hit"].all() and len(loads) == 1  # cached stores load nothing
    nothing = study.planned_vs_measured(config, again)
    assert nothing.empty and list(nothing.columns) == list(comparison.columns)


def _batch_peak(plan: dict, device: str) -> float:
    """The model batch beside the largest bank: the row of the plan's peak memory."""
    rows = pd.DataFrame(plan["rows"])
    peak = rows.loc[rows[f"peak_memory_{device}_bytes"].idxmax()]
    return float(peak[f"peak_batch_{device}_bytes"])


def test_on_an_80_gb_gpu_every_paper_bank_is_held_in_memory_beside_the_model(capsys):
    """The GPU's budget (85% of its memory) holds the largest bank, a 24-block model's IEMOCAP
    frames and moments, once: filled in place, never spilled; with the model's batch it fits."""
    plan = _paper_json(capsys)
    cuda = plan["devices"]["cuda"]
    assert cuda["frames_held"]["spill"] == 0 and cuda["frames_held"]["memory"] == 70
    assert cuda["frame_holding_s"] < 60 and cuda["largest_spill_bytes"] == 0
    assert 63.7e9 < cuda["peak_memory_bytes"] - _batch_peak(plan, "cuda") <= 0.85 * 80e9
    assert cuda["peak_memory_bytes"] < 80e9
    cpu = plan["devices"]["cpu"]  # 24 GiB: the large models' IEMOCAP frames still spill
    assert cpu["frames_held"]["spill"] == 24 and cpu["largest_spill_bytes"] == pytest.approx(63.7e9, rel=1e-3)


def _small_gpu_profile(paper):
    """The paper profile with a 20 GB frame budget (a 24 GB GPU)."""
    return dataclasses.replace(paper, extraction={**paper.extraction, "frame_memory_gb": 20})


def _small_gpu_plan(paper) -> dict:
    """The H100 entry of :func:`_small_gpu_profile`'s plan."""
    small = _small_gpu_profile(paper)
    return plan_summary(small, plan_study(small))["devices"]["cuda"]


def test_on_a_smaller_gpu_the_frames_beyond_its_budget_stream_from_the_host_not_the_disk():
    """With a 20 GB frame budget the large banks go to the host's memory (none spilled); each
    pass of the aggregation over a bank crosses to the GPU: 450 passes (30 epochs x 15 folds x 1
    seed, IEMOCAP) of a 63.7 GB bank at 10 GB/s, about 48 min."""
    small = _small_gpu_profile(load_config("paper"))
    plan = plan_study(small)
    cuda = plan_summary(small, plan)["devices"]["cuda"]
    assert cuda["frames_held"]["spill"] == 0 and cuda["frames_held"]["host"] > 0
    assert cuda["largest_spill_bytes"] == 0
    row = plan.query("model == 'xlsr-53' and corpus == 'iemocap'").iloc[0]
    assert row["frames_held_cuda"] == "host" and row["frame_host_cuda_bytes"] > row["bank_bytes"]
    streamed = row["bank_bytes"] * (1 + 450) / 10e9
    assert row["frame_holding_cuda_s"] == pytest.approx(streamed + row["extract_cuda_s"], rel=0.01)
    # without host memory to hold them, they spill, and the aggregation reads the disk each pass
    no_host = dataclasses.replace(small, extraction={**small.extraction, "host_frame_memory_gb": 0})
    spilled = plan_study(no_host).query("model == 'xlsr-53' and corpus == 'iemocap'").iloc[0]
    assert spilled["frames_held_cuda"] == "spill"
    assert spilled["frame_holding_cuda_s"] > (2 + 450) * spilled["bank_bytes"] / 77e6


def test_the_readme_quotes_the_paper_plan_as_it_is(capsys):
    """The README's paragraph on running the paper profile gives the plan's own figures."""
    plan = _paper_json(capsys)
    cuda, cpu = plan["devices"]["cuda"], plan["devices"]["cpu"]
    readme = " ".join((REPO / "README.md").read_text().split())
    paper = load_config("paper")
    kept = dataclasses.replace(paper, extraction={**paper.extraction, "keep_frames": True})
    frame_stores = plan_summary(kept, plan_study(kept))["kept_frames_bytes"]
    small = _small_gpu_plan(paper)
    quoted = [
        f"({plan['audio_h']:.2f} h of audio)",
        f"it plans {human_seconds(cuda['total_s'])} on an H100: {human_seconds(cuda['extraction_s'])} of "
        f"extraction, {human_seconds(cuda['frame_holding_s'])} holding frames",
        f"take {human_bytes(cuda['peak_memory_bytes'] - _batch_peak(plan, 'cuda'))} once",
        f"{human_seconds(cuda['frame_probe_s'])} of frame-level probes and {human_seconds(cuda['pooled_probe_s'])} "
        "of pooled probes",
        f"against {human_seconds(cpu['total_s'])} on 2 CPU cores",
        f"({human_seconds(cpu['frame_holding_s'])} of them reading spilled frames back",
        f"with `extraction.frame_memory_gb: 20` (a 24 GB GPU) the plan is {human_seconds(small['total_s'])}, "
        f"{human_seconds(small['frame_holding_s'])} of it streaming {small['frames_held']['host']} banks",
        f"on the H100 {human_bytes(cuda['peak_disk_bytes'])} of disk at the peak",
        f"on the CPU {human_bytes(cpu['peak_disk_bytes'])} of disk at the peak",
        f"the largest spill file, {human_bytes(cpu['largest_spill_bytes'])}",
        f"{human_bytes(plan['kept_disk_bytes'])} of pooled features kept",
        f"would keep {human_bytes(frame_stores)} of float16 frame stores",
    ]
    for phrase in quoted:
        assert phrase in readme, phrase
