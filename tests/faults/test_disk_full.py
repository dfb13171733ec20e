"""Fault suite (fast part): the disk fills up while a cache is written.

A writer runs in a subprocess under a small ``RLIMIT_FSIZE`` (with SIGXFSZ ignored, so a write
past the limit fails with ``EFBIG`` as on a full disk). It must stop with one message naming
the folder and the bytes it needed, leave no half-written file, and a rerun without the limit
must recompute and succeed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from serlib.features.store import is_finished, load_pooled

LIMITED_RUN = """
import resource, signal, sys
limit = int(sys.argv[1])
if limit:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
from serlib.common.errors import SerlibError
try:
    exec(sys.argv[2])
except SerlibError as error:
    print(error, file=sys.stderr)
    sys.exit(2)
"""

WRITE_STORE = """
from pathlib import Path
import numpy as np
from serlib.features.store import Chunk, resume_store
folder = Path(sys.argv[3])
plan = [np.arange(start, start + 4) for start in range(0, 40, 4)]
run = resume_store(folder, "key-1", plan, with_frames=False)
for number in run.pending:
    rows = plan[number]
    pooled = (rows[:, None, None] * 1000.0 + np.arange(5 * 256).reshape(5, 256)).astype(np.float32)
    run.save(Chunk(number, rows, pooled, np.full(4, 7)), None)
run.finish([f"u{i}" for i in range(40)], (40, 5, 256), None, {"cache_key": "key-1"})
print(len(run.plan) - len([c for c in run.chunks if c is None]))
"""

WRITE_TABLE = """
import pandas as pd
from serlib.common.files import write_csv_atomically
table = pd.DataFrame({"utterance_id": [f"u{i:05d}" for i in range(20000)], "value": 0.25})
write_csv_atomically(table, sys.argv[3])
"""


def limited(limit_bytes: int, code: str, target: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", LIMITED_RUN, str(limit_bytes), code, str(target)],
                          capture_output=True, text=True, timeout=120)


def test_full_disk_while_assembling_a_store_is_one_message_and_a_rerun_recomputes(tmp_path):
    folder = tmp_path / "features" / "model" / "corpus"
    # chunks (about 20 kB each) fit under 100 kB; pooled.npy (40 x 5 x 256 float32, 205 kB) does not
    failed = limited(100_000, WRITE_STORE, folder)
    assert failed.returncode == 2, failed.stderr
    message = failed.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message
    assert f"no space to write pooled.npy in {folder}" in message
    assert "204,800 bytes" in message and "File too large" in message
    assert not (folder / "index.json").exists() and not (folder / "pooled.npy").exists()
    assert not list(folder.glob("*.tmp")) and not is_finished(folder, "key-1")

    rerun = limited(0, WRITE_STORE, folder)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.strip() == "10"  # every chunk stored before the failure was reused
    pooled, ids, _ = load_pooled(folder)
    assert ids == [f"u{i}" for i in range(40)] and pooled.shape == (40, 5, 256)
    np.testing.assert_array_equal(pooled[:, 0, 0], np.arange(40) * 1000.0)
    np.testing.assert_array_equal(pooled[3, 4, :3], [3000.0 + 1024, 3000.0 + 1025, 3000.0 + 1026])


def test_full_disk_while_writing_a_table_keeps_the_old_one_and_names_the_bytes(tmp_path):
    target = tmp_path / "tables" / "results.csv"
    target.parent.mkdir()
    target.write_text("utterance_id,value\nold,1.0\n")
    failed = limited(50_000, WRITE_TABLE, target)
    assert failed.returncode == 2, failed.stderr
    message = failed.stderr.strip()
    assert len(message.splitlines()) == 1
    assert f"no space to write results.csv in {target.parent}" in message
    assert "240,019 bytes" in message  # header (19 bytes) + 20000 rows of 12 bytes, exactly
    assert target.read_text() == "utterance_id,value\nold,1.0\n"  # the old file, whole
    assert sorted(path.name for path in target.parent.iterdir()) == ["results.csv"]
    assert limited(0, WRITE_TABLE, target).returncode == 0
    assert target.read_text().count("\n") == 20001
