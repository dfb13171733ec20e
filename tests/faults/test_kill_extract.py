"""Fault suite (fast part): `kill -9` of a `serlib extract` that holds a store while a second
run waits for it. The waiter takes the dead run's lock over, keeps its finished chunks, computes
the rest, and leaves a store byte-identical to an uninterrupted run's.

One subprocess pair covers a kill, a resume and two concurrent runs; the full fault run with
many kill points is ``benchmarks/fault_suite.py``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

from faults.extraction_runs import (STORE, extract_command, extract_in_process, store_bytes,
                                    write_manifest)
from serlib.common.locks import read_owner

#: One clip per batch (batch budget 0.5 s, distinct lengths): twelve chunks; the writer is
#: stopped once its first chunk is on disk.
DURATIONS = tuple(round(0.2 + 0.02 * number, 2) for number in range(12))


def wait_for(condition, timeout: float, step: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {condition}")


def test_kill_9_of_the_writer_then_the_waiting_run_resumes_to_identical_bytes(tmp_path):
    manifest = write_manifest(tmp_path, DURATIONS)
    store = tmp_path / "shared" / STORE
    logs = [tmp_path / f"stderr-{number}.txt" for number in range(2)]
    runs = [subprocess.Popen(extract_command(manifest, tmp_path / "shared"),
                             stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
            for log in logs]
    try:
        wait_for(lambda: list((store / ".partial").glob("chunk-*.npz")), timeout=240, step=0.005)
        holder = read_owner(store)["pid"]
        # Freeze the writer (it keeps the lock) until the other run says it waits for it: the
        # two runs import torch at their own pace, and a late waiter would find a dead lock.
        os.kill(holder, signal.SIGSTOP)
        waiter_log = logs[[run.pid for run in runs].index(holder) ^ 1]
        wait_for(lambda: "serlib: waiting" in waiter_log.read_text(), timeout=240)
        finished_before_kill = (store / "index.json").exists()
        os.kill(holder, signal.SIGKILL)
        outputs = {run.pid: run.communicate(timeout=300)[0] for run in runs}
    finally:
        for run in runs:
            run.kill()
    killed, = [run for run in runs if run.pid == holder]
    survivor, = [run for run in runs if run.pid != holder]
    assert killed.returncode == -signal.SIGKILL and not finished_before_kill
    out, err = outputs[survivor.pid], waiter_log.read_text()
    assert survivor.returncode == 0, err
    assert "Traceback" not in err and "serlib: waiting" in err
    computed = int(re.search(rf"(\d+)/{len(DURATIONS)} utterances computed", out).group(1))
    assert 0 < computed < len(DURATIONS)  # the killed run's chunks were kept, the rest computed

    assert extract_in_process(manifest, tmp_path / "alone") == 0
    assert store_bytes(store) == store_bytes(tmp_path / "alone" / STORE)
    assert not (store / ".partial").exists()
    assert not list(store.parent.glob("*.tmp")) and not list(store.glob("*.tmp"))
