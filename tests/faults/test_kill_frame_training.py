"""Fault suite: `kill -9` during frame-level training, then a rerun.

The run holds its frames in a spill file (its memory budget is below the frames' size) and has
written one probe x protocol of its frame-level stage when it is killed. The rerun reuses that
finished entry, deletes the dead run's spill file without reading it, trains the rest, and gives
the tables of an uninterrupted run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pandas as pd

from faults.test_kill_extract import wait_for

SCRIPT = """
import sys
from serlib import study
config = study.load_config(sys.argv[1])
prepared = study.prepare_corpora(config)
study.extract_all(config, prepared, progress=False)
for probe in ("dense", "aggregate"):
    for protocol_config in study.protocol_configs(config, probe):
        study.probe_all(protocol_config, prepared, probe)
print("done")
"""


def _profile(folder, synthetic_root):
    folder.mkdir(parents=True, exist_ok=True)
    profile = folder / "frames.yaml"
    profile.write_text(textwrap.dedent(f"""\
        profile: frames
        work_dir: {folder / 'work'}
        results_dir: {folder / 'results'}
        corpora:
          - {{id: synthetic-it, name: synthetic, language: it, root: {synthetic_root}}}
        models: [random:wav2vec2-tiny]
        split: {{protocols: [speaker-cv, random], repeats: 2}}
        extraction: {{keep_frames: false, dtype: float32, frame_memory_gb: 0.0004, num_threads: 1}}
        probes:
          seeds: 2
          epochs: 30
          standardize: true
          per_probe:
            dense: {{protocols: [speaker-cv, random]}}
            aggregate: {{protocols: [speaker-cv, random]}}
        """))
    return profile


def _run(profile, log):
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(profile)], stdout=subprocess.PIPE,
                            stderr=log.open("w"), text=True, env=environment)


def _results(folder):
    tables = {}
    for path in sorted((folder / "results" / "tables").glob("probe_*.csv")):
        tables[path.name] = pd.read_csv(path).sort_values(
            ["fold", "layer", "seed", "split", "metric"]).reset_index(drop=True)
    return tables


def test_kill_9_during_frame_training_then_rerun_gives_the_uninterrupted_results(tmp_path):
    from serlib.data.synthetic import generate_synthetic_corpus

    generate_synthetic_corpus(tmp_path / "synthetic", languages=["it"])
    killed_profile = _profile(tmp_path / "killed", tmp_path / "synthetic")
    entries = tmp_path / "killed" / "work" / "probes" / "random__wav2vec2-tiny" / "synthetic-it"
    spills = tmp_path / "killed" / "work" / "frames-tmp"
    run = _run(killed_profile, tmp_path / "killed.log")
    try:
        first = wait_for(lambda: [path for path in entries.glob("*.key.json")
                                  if path.name.startswith(("dense.", "aggregate."))], timeout=600, step=0.01)
        spill_files = list(spills.rglob("*.npy"))
        os.kill(run.pid, signal.SIGKILL)
        run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == -signal.SIGKILL
    assert spill_files, "the run was killed after its frame stage: nothing was interrupted"
    kept_entry = first[0]
    kept_bytes = kept_entry.read_bytes()
    kept_mtime = kept_entry.stat().st_mtime_ns

    rerun = _run(killed_profile, tmp_path / "rerun.log")
    out, _ = rerun.communicate(timeout=900)
    assert rerun.returncode == 0, (tmp_path / "rerun.log").read_text()[-3000:]
    assert "done" in out
    assert kept_entry.read_bytes() == kept_bytes and kept_entry.stat().st_mtime_ns == kept_mtime  # reused
    assert not any(path.exists() for path in spill_files) and not list(spills.rglob("*.npy"))

    uninterrupted = _run(_profile(tmp_path / "alone", tmp_path / "synthetic"), tmp_path / "alone.log")
    uninterrupted.communicate(timeout=900)
    assert uninterrupted.returncode == 0, (tmp_path / "alone.log").read_text()[-3000:]
    expected, got = _results(tmp_path / "alone"), _results(tmp_path / "killed")
    assert sorted(got) == sorted(expected) and any(name.startswith("probe_dense") for name in got)
    for name in expected:
        pd.testing.assert_frame_equal(got[name], expected[name])
