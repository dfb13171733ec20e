"""One writer per cache folder: a per-folder lock that says who holds it.

Every writer of a cache (feature store, synthetic corpus, manifests, the study's table cache,
splits) wraps its check-compute-write in::

    from serlib.common.locks import folder_lock

    with folder_lock(folder, wait=True, what="feature store"):
        ...  # read the cache; if stale, compute and write it

- ``folder`` is the folder (or single file) being written; the lock lives *beside* it, as
  ``<parent>/.<name>.lock`` (a :mod:`filelock` lock file) plus ``<parent>/.<name>.lock.owner``
  (JSON: pid, host, start time, what), so the lock survives the folder being replaced by a
  rename, and the target's own content is never touched.
- A second writer waits (``wait=True``), printing once to stderr who holds the lock (pid, host,
  since when), then takes it when the first is done; with ``wait=False`` it stops at once with
  :class:`~serlib.common.errors.SerlibError` carrying that message (``serlib extract --no-wait``).
- The operating system releases the lock of a process that dies. A lock still held although its
  recorded owner is dead on this host (a forked child kept the file open) is taken over.
- Re-entrant within a process (all its threads count as one writer): a function holding the
  lock of ``folder`` may call another that locks the same folder.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock, Timeout

from serlib.common.errors import SerlibError
from serlib.common.files import atomic_write_text

LOCK_SUFFIX = ".lock"
OWNER_SUFFIX = ".lock.owner"
#: Seconds between two attempts while waiting for a lock.
POLL_SECONDS = 0.2

_held: dict[Path, int] = {}
_held_guard = threading.Lock()


def lock_path(target: str | Path) -> Path:
    """``<parent>/.<name>.lock``: the lock file of ``target`` (a folder or a file)."""
    target = Path(os.path.abspath(Path(target).expanduser()))
    return target.parent / f".{target.name}{LOCK_SUFFIX}"


def _owner_path(lock: Path) -> Path:
    return lock.with_name(lock.name.removesuffix(LOCK_SUFFIX) + OWNER_SUFFIX)


def read_owner(target: str | Path) -> dict | None:
    """The owner record of ``target``'s lock (pid, host, since, what), or None if there is none."""
    try:
        return json.loads(_owner_path(lock_path(target)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _describe_owner(owner: dict | None) -> str:
    if not owner:
        return "another process (no owner record)"
    return (f"pid {owner.get('pid')} on host {owner.get('host')} since {owner.get('since')}"
            f" ({owner.get('what', 'writing')})")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def _owner_is_dead_here(owner: dict | None) -> bool:
    return (bool(owner) and owner.get("host") == socket.gethostname()
            and isinstance(owner.get("pid"), int) and owner["pid"] != os.getpid()
            and not _pid_alive(owner["pid"]))


def _take_over_if_dead(lock: Path) -> bool:
    """Remove a lock file whose recorded owner is dead on this host; True if it did.

    Serialised through a second lock so that two waiters never both remove a fresh lock.
    """
    with FileLock(str(lock) + ".takeover"):
        owner_file = _owner_path(lock)
        try:
            owner = json.loads(owner_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if not _owner_is_dead_here(owner):
            return False
        print(f"serlib: taking over the lock {lock} left by {_describe_owner(owner)}, "
              "which is no longer running", file=sys.stderr, flush=True)
        owner_file.unlink(missing_ok=True)
        lock.unlink(missing_ok=True)
        return True


@contextmanager
def folder_lock(folder: str | Path, wait: bool = True, what: str = "writing") -> Iterator[Path]:
    """Hold the lock of ``folder`` (a folder or a file) for the ``with`` block; yields the lock path.

    ``wait=True`` waits for another holder (saying once who it is); ``wait=False`` raises
    :class:`SerlibError` naming the holder. ``what`` says in the owner record, and so in
    another writer's message, what the holder is doing (e.g. ``"feature store"``).
    """
    lock = lock_path(folder)
    with _held_guard:
        if _held.get(lock, 0) > 0:
            _held[lock] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield lock
        finally:
            with _held_guard:
                _held[lock] -= 1
        return

    lock.parent.mkdir(parents=True, exist_ok=True)
    handle = _acquire(lock, Path(folder), wait, what)
    with _held_guard:
        _held[lock] = 1
    try:
        yield lock
    finally:
        with _held_guard:
            _held.pop(lock, None)
        _owner_path(lock).unlink(missing_ok=True)
        handle.release()


def _acquire(lock: Path, target: Path, wait: bool, what: str) -> FileLock:
    announced = False
    while True:
        handle = FileLock(str(lock))
        try:
            handle.acquire(timeout=POLL_SECONDS if wait else 0)
        except Timeout:
            if _take_over_if_dead(lock):
                continue
            owner = read_owner(target)
            message = (f"{target} is being written by {_describe_owner(owner)}; lock file {lock}")
            if not wait:
                raise SerlibError(
                    f"{message}. Wait for that run to finish (run again without --no-wait to "
                    "wait for it), or stop it; a lock of a process that died is taken over"
                ) from None
            if not announced:
                print(f"serlib: waiting: {message}", file=sys.stderr, flush=True)
                announced = True
            continue
        if lock.exists():
            break
        handle.release()  # the file was taken over (removed) while we waited: lock the new one
    owner = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
        "what": what,
    }
    atomic_write_text(_owner_path(lock), json.dumps(owner))
    return handle


__all__ = ["folder_lock", "lock_path", "read_owner"]
