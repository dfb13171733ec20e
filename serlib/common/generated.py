"""Generated folders (the synthetic corpus, the rehearsal's layout trees): built whole or not at all.

A generator writes into a staging folder beside the target (``.<name>.partial-<random>``),
writes its record (a JSON file saying what was generated, from which parameters) last, and
renames the staging folder into place, so a folder holding a record is complete. A killed
generator leaves only a staging folder, which is never read. A non-empty folder without a record
is someone's data and is never replaced.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from serlib.common.errors import SerlibError

Written = TypeVar("Written")


def read_record(root: str | Path, record_name: str) -> dict | None:
    """The parsed record of a generated folder, or None when absent or unreadable."""
    try:
        return json.loads((Path(root) / record_name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def refuse_foreign_folder(root: Path, record_name: str, what: str) -> None:
    """Stop when ``root`` is a file, or a non-empty folder without ``record_name``."""
    if root.exists() and not root.is_dir():
        raise SerlibError(f"{what} root {root} is a file; choose a folder path")
    if root.is_dir() and read_record(root, record_name) is None and any(root.iterdir()):
        raise SerlibError(f"{root} is not empty and holds no {record_name} of a generated {what}; "
                          "refusing to replace it: choose a new or empty folder")


def generate_folder(root: Path, write: Callable[[Path], Written], record_name: str,
                    record: Callable[[Written], dict]) -> Written:
    """Run ``write(staging)``, add ``record(its result)`` as ``record_name``, move it to ``root``.

    An older generated folder at ``root`` is replaced (call :func:`refuse_foreign_folder`
    first); the staging folder is removed whatever happens.
    """
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
    try:
        written = write(staging)
        (staging / record_name).write_text(
            json.dumps(record(written), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if root.exists():
            retired = root.parent / f".{root.name}.retired-{os.getpid()}"
            root.rename(retired)
            staging.rename(root)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(root)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return written
