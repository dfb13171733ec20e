"""Helpers of the fault suite: a tiny manifest, the `serlib extract` command, store bytes."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

from conftest import write_tiny_manifest

MODEL = "random:wav2vec2-tiny"
STORE = Path("random__wav2vec2-tiny") / "tiny"


def write_manifest(folder: Path, durations=(0.3, 0.4, 0.5, 0.6, 0.7, 0.8)) -> Path:
    """Clips of the given durations (distinct tones) and their manifest ``tiny.csv``."""
    return write_tiny_manifest(folder, durations)


def extract_arguments(manifest: Path, out: Path, *extra: str) -> list[str]:
    """`serlib extract` arguments: exact float32, one thread, one clip per batch."""
    return ["extract", "--model", MODEL, "--manifest", str(manifest), "--out", str(out),
            "--dtype", "float32", "--batch-seconds", "0.5", "--threads", "1", "--quiet", *extra]


def extract_command(manifest: Path, out: Path, *extra: str) -> list[str]:
    """The same as a subprocess command line."""
    return [sys.executable, "-m", "serlib", *extract_arguments(manifest, out, *extra)]


@contextmanager
def torch_threads_kept():
    """Restore torch's thread count after an in-process `serlib extract --threads 1`."""
    import torch

    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def extract_in_process(manifest: Path, out: Path, *extra: str) -> int:
    """Run `serlib extract` in this process (no second torch import); its exit status."""
    from serlib.cli.main import main

    with torch_threads_kept():
        return main(extract_arguments(manifest, out, *extra))


def store_bytes(folder: Path) -> dict[str, bytes]:
    """Every file of a store folder (not its hidden ``.partial/``), by name."""
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}
