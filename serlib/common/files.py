"""Atomic file writes: the one way serlib writes a file that a later run may trust.

Every writer goes through :func:`atomic_write`: the content goes to a temporary file with a name
unique to this writer (``.<name>.<random>.tmp`` in the target's folder), is flushed and fsynced,
and only then renamed over the target. A reader therefore sees the old file or the new one,
never a half-written one, and two writers never share a temporary file. A temporary file left
by a killed writer ends in ``.tmp`` and is never read as data.
"""

from __future__ import annotations

import gzip
import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

TEMPORARY_SUFFIX = ".tmp"


def temporary_path(path: Path) -> Path:
    """A new, empty, uniquely named file beside ``path`` (the caller renames or removes it)."""
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX,
                                        dir=path.parent)
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
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    replace_durably(temporary, path)
    return path


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
