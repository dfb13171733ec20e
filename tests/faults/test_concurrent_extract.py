"""Fault suite (fast part): two `serlib extract` runs into one store at the same time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from conftest import write_wav


def write_manifest(folder: Path) -> Path:
    rows = []
    for number, duration in enumerate((0.3, 0.4, 0.5, 0.6, 0.7, 0.8)):
        path = write_wav(folder / "wav" / f"utt{number}.wav", duration, 16000,
                         frequency=200 + 90 * number)
        rows.append({"utterance_id": f"utt{number}", "path": str(path), "corpus": "tiny",
                     "duration_s": duration, "sample_rate": 16000})
    pd.DataFrame(rows).to_csv(folder / "tiny.csv", index=False)
    return folder / "tiny.csv"


def extract_command(manifest: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "serlib", "extract", "--model", "random:wav2vec2-tiny",
            "--manifest", str(manifest), "--out", str(out), "--dtype", "float32",
            "--batch-seconds", "0.5", "--threads", "1", "--quiet", *extra]


def store_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def test_two_concurrent_extractions_both_succeed_and_leave_one_runs_store(tmp_path):
    manifest = write_manifest(tmp_path)
    runs = [subprocess.Popen(extract_command(manifest, tmp_path / "shared"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert not any("Traceback" in err for _, err in outputs)
    assert subprocess.run(extract_command(manifest, tmp_path / "alone")).returncode == 0
    folder = Path("random__wav2vec2-tiny") / "tiny"
    shared, alone = store_bytes(tmp_path / "shared" / folder), store_bytes(tmp_path / "alone" / folder)
    assert set(shared) == {"index.json", "pooled.npy", "utterances.csv"}
    for name in ("pooled.npy", "utterances.csv"):
        assert shared[name] == alone[name]
    assert not (tmp_path / "shared" / folder / ".partial").exists()


def test_no_wait_stops_with_who_holds_the_store(tmp_path):
    from serlib.common.locks import folder_lock

    manifest = write_manifest(tmp_path)
    folder = tmp_path / "out" / "random__wav2vec2-tiny" / "tiny"
    with folder_lock(folder, what="a test holding the store"):
        result = subprocess.run(extract_command(manifest, tmp_path / "out", "--no-wait"),
                                capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "is being written by pid" in result.stderr and "a test holding the store" in result.stderr
    assert "Traceback" not in result.stderr
