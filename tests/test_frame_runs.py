"""The study's frame-level stage: frames held in memory only while the probes train on them."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from serlib import study
from serlib.features.frames import plan_frame_memory
from serlib.common.errors import SerlibError
from serlib.study import frame_runs

from test_study import _tiny_italian_profile

FRAME_SETTINGS = """split: {protocols: [speaker-cv, random], repeats: 1}
probes:
  seeds: 1
  epochs: 2
  standardize: true
  per_probe:
    dense: {protocols: [speaker-cv, random]}
    aggregate: {protocols: [random]}
"""


def _tables(config, prepared, probe, protocol):
    protocol_config = study.with_protocol(config, protocol)
    results, _ = study.probe_all(protocol_config, prepared, probe)
    return results.sort_values(["fold", "layer", "seed", "split", "metric"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def in_memory(tmp_path_factory):
    """The tiny profile with frames never on disk: notebook 02's run trains the frame probes."""
    config = _tiny_italian_profile(tmp_path_factory.mktemp("memory"), FRAME_SETTINGS +
                                   "extraction: {keep_frames: false, dtype: float32}")
    prepared = study.prepare_corpora(config)
    runs = study.extract_all(config, prepared, progress=False)
    return config, prepared, runs


def test_frame_probes_train_during_extraction_and_no_frame_touches_the_disk(in_memory):
    config, prepared, runs = in_memory
    assert runs.loc[0, "frame_probes_s"] > 0
    assert not list(config.work_dir.rglob("frames.npy")) and not list(config.work_dir.rglob("*.npy.tmp"))
    assert not list((config.work_dir / "frames-tmp").rglob("*.npy"))
    records = frame_runs.frame_stage_records(config)
    assert sorted(zip(records["probe"], records["protocol"])) == [
        ("aggregate", "random"), ("dense", "random"), ("dense", "speaker-cv")]
    assert set(records["frames_held"]) == {"memory"}
    # notebook 04 finds them cached: nothing is trained again
    assert frame_runs.missing_entries(config, config.models[0], prepared[0]) == []
    dense = _tables(config, prepared, "dense", "speaker-cv")
    assert set(dense["layer"]) == {"0", "1", "2"} and dense["fold"].nunique() == 4


def test_kept_frames_memory_chunks_and_spill_all_give_the_same_results(in_memory, tmp_path, monkeypatch):
    config, prepared, _ = in_memory
    expected = {probe_protocol: _tables(config, prepared, *probe_protocol)
                for probe_protocol in (("dense", "speaker-cv"), ("aggregate", "random"))}
    kept = _tiny_italian_profile(tmp_path / "kept", FRAME_SETTINGS + "extraction: {keep_frames: true, dtype: float32}")
    prepared_kept = study.prepare_corpora(kept)
    study.extract_all(kept, prepared_kept, progress=False)
    assert list(kept.work_dir.rglob("frames.npy"))
    for probe_protocol, table in expected.items():
        pd.testing.assert_frame_equal(_tables(kept, prepared_kept, *probe_protocol), table)
    # a budget of one hidden state at a time: dense in groups, the aggregation from a spill file
    small = _tiny_italian_profile(tmp_path / "small", FRAME_SETTINGS +
                                  "extraction: {keep_frames: false, dtype: float32, frame_memory_gb: 0.0004}")
    prepared_small = study.prepare_corpora(small)
    runs = study.extract_all(small, prepared_small, progress=False)
    assert runs.loc[0, "frame_probes_s"] == 0  # too large to hand over: the frame stage runs the model again
    for probe_protocol, table in expected.items():
        pd.testing.assert_frame_equal(_tables(small, prepared_small, *probe_protocol), table)
    record = json.loads(next((small.work_dir / "probes").rglob("frame-stage.json")).read_text())
    assert record["frames_held"] == "spill" and len(record["hidden_state_groups"]) >= 2
    assert not list((small.work_dir / "frames-tmp").rglob("*.npy"))  # the spill file is gone


def test_memory_plan_chooses_memory_groups_or_spill():
    mb = 1e6
    everything = plan_frame_memory(1000, 10, 4, 100, 10 * mb, needs_all_layers=True)
    assert everything.mode == "memory" and everything.chunks == ((0, 1, 2, 3),)
    # 1000 frames x 100 x 2 bytes + moments = 0.216 MB per hidden state: two fit in 0.5 MB
    rerun = plan_frame_memory(1000, 10, 4, 100, 0.5 * mb, needs_all_layers=False, rerun_seconds=0.001)
    assert rerun.mode == "chunks" and rerun.chunks == ((0, 1), (2, 3)) and rerun.spill_bytes == 0
    spill = plan_frame_memory(1000, 10, 4, 100, 0.5 * mb, needs_all_layers=False, rerun_seconds=100.0)
    assert spill.mode == "spill" and spill.spill_bytes == 800_000
    assert plan_frame_memory(1000, 10, 4, 100, 0.5 * mb, needs_all_layers=True).mode == "spill"
    with pytest.raises(SerlibError, match="nor the free disk"):
        plan_frame_memory(1000, 10, 4, 100, 0.5 * mb, needs_all_layers=True, disk_free_bytes=1e5)
    with pytest.raises(SerlibError, match="frame_memory_gb"):
        plan_frame_memory(1000, 10, 4, 100, 0.1 * mb, needs_all_layers=False)
    # on a GPU whose budget is too small, the host's memory holds every hidden state: no disk,
    # one model run, groups for the per-layer probes
    host = plan_frame_memory(1000, 10, 4, 100, 0.5 * mb, needs_all_layers=True, host_budget_bytes=1 * mb,
                             disk_free_bytes=1e5)
    assert host.mode == "host" and host.chunks == ((0, 1), (2, 3)) and host.spill_bytes == 0
    assert host.host_bytes == 4 * 216_000 and host.peak_memory_bytes == 2 * 216_000
    dense_only = plan_frame_memory(1000, 10, 4, 100, 0.5 * mb, needs_all_layers=False, rerun_seconds=0.001,
                                   host_budget_bytes=1 * mb)
    assert dense_only.mode == "host"  # one model run, not one per group
    assert plan_frame_memory(1000, 10, 4, 100, 0.5 * mb, needs_all_layers=True,
                             host_budget_bytes=0.8 * mb).mode == "spill"  # nor fits the host
    kept = plan_frame_memory(1000, 10, 4, 100, 0.5 * mb, needs_all_layers=False, frames_on_disk=True,
                             host_budget_bytes=1 * mb)
    assert kept.mode == "chunks"  # a kept store is read a group at a time, no model run


def test_frames_in_host_memory_give_the_same_results(in_memory, tmp_path, monkeypatch):
    """Frames held in the host's memory (on a GPU whose budget holds one hidden state at a time:
    here the host is the device) train the aggregation on the whole bank and the dense probes on
    groups copied over, with the results of frames held whole; nothing is written to disk."""
    config, prepared, _ = in_memory
    expected = {probe_protocol: _tables(config, prepared, *probe_protocol)
                for probe_protocol in (("dense", "speaker-cv"), ("aggregate", "random"))}
    monkeypatch.setattr(frame_runs, "host_memory_budget", lambda config, device: 1e9)
    small = _tiny_italian_profile(tmp_path, FRAME_SETTINGS +
                                  "extraction: {keep_frames: false, dtype: float32, frame_memory_gb: 0.0004}")
    prepared_small = study.prepare_corpora(small)
    study.extract_all(small, prepared_small, progress=False)
    for probe_protocol, table in expected.items():
        pd.testing.assert_frame_equal(_tables(small, prepared_small, *probe_protocol), table)
    record = json.loads(next((small.work_dir / "probes").rglob("frame-stage.json")).read_text())
    assert record["frames_held"] == "host" and len(record["hidden_state_groups"]) >= 2
    assert record["spill_gb"] == 0 and not list((small.work_dir / "frames-tmp").rglob("*.npy"))


def test_groups_of_hidden_states_from_model_reruns_give_the_same_results(in_memory, tmp_path, monkeypatch):
    """Where spilling is dearer than running the model again (a slow disk), the dense probes train
    a group of hidden states per model run, with the same results."""
    from serlib.study import plan

    config, prepared, _ = in_memory
    expected = _tables(config, prepared, "dense", "speaker-cv")
    monkeypatch.setattr(plan, "frames_disk_rate", lambda device: 1.0)  # one byte per second
    settings = FRAME_SETTINGS.replace("    aggregate: {protocols: [random]}\n", "    aggregate: {models: []}\n")
    small = _tiny_italian_profile(tmp_path, settings + "extraction: {keep_frames: false, dtype: float32, "
                                  "frame_memory_gb: 0.0004}")
    prepared_small = study.prepare_corpora(small)
    study.extract_all(small, prepared_small, progress=False)
    pd.testing.assert_frame_equal(_tables(small, prepared_small, "dense", "speaker-cv"), expected)
    record = json.loads(next((small.work_dir / "probes").rglob("frame-stage.json")).read_text())
    assert record["frames_held"] == "chunks" and len(record["hidden_state_groups"]) >= 2
