"""Atomic file writes: the one way serlib writes a file that a later run may trust.

Every writer goes through :func:`atomic_write`: the content goes to a temporary file with a name
unique to this writer (``.<name>.<random>.tmp`` in the target's folder), is flushed and fsynced,
and only then renamed over the target. A reader therefore sees the old file or the new one,
never a half-written one, and two writers never share a temporary file. A temporary file left
by a killed writer ends in ``.tmp`` and is never read as data.

A full disk (``ENOSPC``), a file-size limit (``EFBIG``) or an exhausted quota (``EDQUOT``)
while writing becomes one :class:`~serlib.common.errors.SerlibError` naming the folder and the
bytes being written (:func:`disk_full_error`); the temporary file is removed, so nothing
half-written is ever trusted.
"""

from __future__ import annotations

import errno
import gzip
import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from serlib.common.errors import SerlibError

TEMPORARY_SUFFIX = ".tmp"
#: OSError numbers that mean "no room for this file": disk full, file too large, quota.
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})


def _read_umask() -> int:
    """The process umask (read once at import: setting it back and forth is not thread-safe)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def is_no_space_error(error: BaseException) -> bool:
    """True for an OSError that says the disk, a file-size limit or a quota is full."""
    return isinstance(error, OSError) and error.errno in NO_SPACE_ERRNOS


def disk_full_error(path: Path, needed_bytes: int | None, error: OSError) -> SerlibError:
    """The one message for a write that found no room: the folder, the bytes, the fix."""
    needed = (f"about {needed_bytes:,} bytes ({needed_bytes / 2**20:.1f} MiB)"
              if needed_bytes else "more space")
    return SerlibError(
        f"no space to write {path.name} in {path.parent} ({os.strerror(error.errno)}); it needs "
        f"{needed}. Free space there (or raise the file-size limit / quota), or point the "
        "output elsewhere, then run again: nothing half-written is kept"
    )


def temporary_path(path: Path) -> Path:
    """A new, empty, uniquely named file beside ``path`` (the caller renames or removes it)."""
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX,
                                        dir=path.parent)
    # mkstemp makes the file private (0600); give it the mode an ordinary open() would, so that
    # results and caches stay readable by the group where the user's umask allows it
    os.fchmod(descriptor, 0o666 & ~_UMASK)
    os.close(descriptor)
    return Path(name)



def fsync_file(path: Path) -> None:
    """Force ``path``'s content to disk (for files written through a memory map or by a library)."""
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def replace_durably(temporary: Path, path: Path) -> None:
    """Rename an already fsynced ``temporary`` over ``path`` (removing it if the rename fails)."""
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def atomic_write(path: str | Path, write: Callable[[IO], None], mode: str = "w") -> Path:
    """Write ``path`` through ``write(handle)`` on a unique temporary file, fsync, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(path)
    try:
        text_options = {"encoding": "utf-8", "newline": ""} if "b" not in mode else {}
        with open(temporary, mode, **text_options) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException as error:
        written = temporary.stat().st_size if temporary.exists() else None
        temporary.unlink(missing_ok=True)
        if is_no_space_error(error):
            raise disk_full_error(path, _bytes_needed(write, mode, written), error) from None
        raise
    replace_durably(temporary, path)
    return path


def _bytes_needed(write: Callable[[IO], None], mode: str, written: int | None) -> int | None:
    """How many bytes the failed ``write`` produces (counted in memory), else what reached disk."""
    try:
        buffer = io.BytesIO() if "b" in mode else io.StringIO()
        write(buffer)
    except Exception:  # the count is for the message only
        return written
    value = buffer.getvalue()
    return len(value.encode("utf-8")) if isinstance(value, str) else len(value)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically."""
    return atomic_write(path, lambda handle: handle.write(text))


def atomic_save_npy(path: str | Path, array: np.ndarray) -> Path:
    """Write ``array`` as ``.npy`` to ``path`` atomically."""
    return atomic_write(path, lambda handle: np.save(handle, array), mode="wb")


def write_csv_atomically(table: pd.DataFrame, path: str | Path) -> Path:
    """Write ``table`` (without its index) as CSV to ``path`` atomically; a path ending in
    ``.gz`` is gzip-compressed reproducibly (no time stamp, so equal tables give equal bytes)."""
    if str(path).endswith(".gz"):
        def write_gzip(handle: IO) -> None:
            with gzip.GzipFile(fileobj=handle, mode="wb", mtime=0, filename="") as compressed, \
                    io.TextIOWrapper(compressed, encoding="utf-8", newline="") as text:
                table.to_csv(text, index=False)

        return atomic_write(path, write_gzip, mode="wb")
    return atomic_write(path, lambda handle: table.to_csv(handle, index=False))
