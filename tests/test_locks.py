"""The per-folder write lock: waiting, --no-wait, who holds it, dead holders, re-entry."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from serlib.common.errors import SerlibError
from serlib.common.locks import folder_lock, lock_path, read_owner

HOLD_SCRIPT = """
import sys, time
from serlib.common.locks import folder_lock
with folder_lock(sys.argv[1], what="test holder"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def start_holder(folder: Path, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_SCRIPT, str(folder), str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_lock_file_sits_beside_the_folder(tmp_path):
    assert lock_path(tmp_path / "store" / "emodb") == tmp_path / "store" / ".emodb.lock"


def test_no_wait_names_the_holder_pid_host_and_time(tmp_path):
    folder = tmp_path / "store"
    holder = start_holder(folder, 30)
    try:
        owner = read_owner(folder)
        assert owner["pid"] == holder.pid and owner["what"] == "test holder"
        with pytest.raises(SerlibError) as raised:
            with folder_lock(folder, wait=False):
                pass
        message = str(raised.value)
        assert f"pid {holder.pid} on host {owner['host']} since {owner['since']}" in message
        assert str(folder) in message and "--no-wait" in message
    finally:
        holder.kill()
        holder.wait()


def test_a_waiting_writer_says_once_who_holds_it_then_gets_the_lock(tmp_path, capsys):
    folder = tmp_path / "store"
    holder = start_holder(folder, 1.5)
    started = time.monotonic()
    with folder_lock(folder, wait=True):
        waited = time.monotonic() - started
        assert read_owner(folder)["pid"] == os.getpid()
    holder.wait()
    assert waited > 0.5
    printed = capsys.readouterr().err
    assert printed.count("waiting:") == 1 and f"pid {holder.pid}" in printed


def test_the_lock_of_a_process_killed_with_sigkill_is_taken(tmp_path):
    folder = tmp_path / "store"
    holder = start_holder(folder, 60)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with folder_lock(folder, wait=False):
        assert read_owner(folder)["pid"] == os.getpid()


def test_a_lock_still_held_for_a_dead_owner_is_taken_over(tmp_path, capsys):
    """A forked child that inherited the lock's file keeps it locked after its parent died."""
    folder = tmp_path / "store"
    lock = lock_path(folder)
    lock.parent.mkdir(parents=True, exist_ok=True)
    keeper = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time\n"
        f"handle = open({str(lock)!r}, 'a')\n"
        "fcntl.flock(handle, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert keeper.stdout.readline().strip() == "held"
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        owner_file = lock.with_name(".store.lock.owner")
        owner_file.write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename,
                                          "since": "2024-01-01T00:00:00", "what": "x"}))
        with folder_lock(folder, wait=False):
            assert read_owner(folder)["pid"] == os.getpid()
        assert f"left by pid {dead.pid}" in capsys.readouterr().err
    finally:
        keeper.kill()
        keeper.wait()


def test_the_lock_is_reentrant_in_one_process(tmp_path):
    folder = tmp_path / "cache"
    order = []
    with folder_lock(folder):
        with folder_lock(folder):  # a locked function calling another that locks the same folder
            order.append("nested")
        assert read_owner(folder)["pid"] == os.getpid()  # still held after the inner block
    assert read_owner(folder) is None  # released: owner record removed
    assert order == ["nested"]
