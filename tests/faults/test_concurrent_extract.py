"""Fault suite (fast part): two `serlib extract` runs into one store at the same time."""

from __future__ import annotations

import subprocess
import sys

import pytest

from faults.extraction_runs import (STORE, extract_command, extract_in_process, store_bytes,
                             write_manifest)


@pytest.mark.slow  # two torch imports and a full run; test_kill_extract covers a pair in the fast set
def test_two_concurrent_extractions_both_succeed_and_leave_one_runs_store(tmp_path):
    manifest = write_manifest(tmp_path)
    runs = [subprocess.Popen(extract_command(manifest, tmp_path / "shared"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert not any("Traceback" in err for _, err in outputs)
    assert extract_in_process(manifest, tmp_path / "alone") == 0
    shared, alone = store_bytes(tmp_path / "shared" / STORE), store_bytes(tmp_path / "alone" / STORE)
    assert set(shared) == {"index.json", "pooled.npy", "utterances.csv"}
    for name in ("pooled.npy", "utterances.csv"):
        assert shared[name] == alone[name]
    assert not (tmp_path / "shared" / STORE / ".partial").exists()


HOLD_LOCK = """
import sys, time
from serlib.common.locks import folder_lock
with folder_lock(sys.argv[1], what="a test holding the store"):
    print("held", flush=True)
    time.sleep(120)
"""


def test_no_wait_stops_with_who_holds_the_store(tmp_path, capsys):
    manifest = write_manifest(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK,
                               str(tmp_path / "out" / STORE)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        status = extract_in_process(manifest, tmp_path / "out", "--no-wait")
    finally:
        holder.kill()
        holder.wait()
    stderr = capsys.readouterr().err
    assert status == 2
    assert f"is being written by pid {holder.pid}" in stderr
    assert "a test holding the store" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "out" / STORE / "index.json").exists()
