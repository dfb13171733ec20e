"""Execute the study's notebooks in order with papermill (``./run_all.sh`` through
:mod:`serlib.cli.run_all`).

Each ``notebooks/NN_*.ipynb`` runs with the parameter ``profile`` set, and its executed copy
is written to ``results/<profile>/notebooks/``. Before any notebook runs, the profile is
checked (corpus roots, models available offline or by download) and every problem is listed at
once. The run stops at the first failing notebook, naming it and the cell's error. Reruns are
cheap: manifests, splits, features and probe results are cached under the profile's work dir.

The terminal shows one progress bar per notebook (cells done / total) whose tail is the current
stage's own progress bar (the last tqdm line the kernel wrote to stderr); any other stderr line
of the kernel (warnings, errors) is printed above the bar. The kernel talks to papermill over
local IPC sockets instead of TCP, so it has no unencrypted network port (and ipykernel's warning
about one is gone).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import IO

from serlib.common.errors import SerlibError
from serlib.study.config import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
ENGINE_NAME = "serlib-progress"
PROGRESS_LINE = re.compile(r"\d+%\||\d+/\d+ \[")
"""What a tqdm bar line looks like (``42%|###`` or ``3/7 [00:01<...``)."""
STAGE_WIDTH = 60


def study_notebooks(notebook_dir: Path = NOTEBOOK_DIR) -> list[Path]:
    """The numbered notebooks ``NN_name.ipynb`` in order."""
    notebooks = sorted(p for p in notebook_dir.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise SerlibError(f"no notebooks named NN_*.ipynb in {notebook_dir}")
    return notebooks


def select_notebooks(notebooks: list[Path], start: str | None, only: str | None,
                     end: str | None = None) -> list[Path]:
    """Apply ``--from NN`` / ``--to NN`` (both included) / ``--only NN`` (two-digit prefixes)."""
    numbers = [p.name[:2] for p in notebooks]
    for flag, value in (("--from", start), ("--to", end), ("--only", only)):
        if value is not None and value.zfill(2) not in numbers:
            raise SerlibError(f"{flag} {value}: no notebook with that number; have {', '.join(numbers)}")
    if only is not None:
        return [p for p in notebooks if p.name[:2] == only.zfill(2)]
    if start is not None and end is not None and start.zfill(2) > end.zfill(2):
        raise SerlibError(f"--from {start} comes after --to {end}: no notebook to run")
    return [p for p in notebooks
            if (start is None or p.name[:2] >= start.zfill(2)) and (end is None or p.name[:2] <= end.zfill(2))]


def execute_notebook(notebook: Path, output: Path, profile: str, progress: bool = True) -> float:
    """Run one notebook with papermill; returns seconds taken. Raises SerlibError on failure.

    With ``progress``, a cells-done bar and the stage's own progress go to stderr.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    output.parent.mkdir(parents=True, exist_ok=True)
    _register_engine()
    stage_lines = StageLines(sys.stderr)
    started = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters={"profile": profile},
            kernel_name="python3",
            cwd=str(notebook.parent),
            engine_name=ENGINE_NAME,
            progress_bar={"desc": notebook.stem, "leave": False, "dynamic_ncols": True} if progress else False,
            stderr_file=stage_lines,
            kernel_manager_class=_ipc_kernel_manager(),
        )
    except PapermillExecutionError as error:
        raise SerlibError(
            f"notebook {notebook.name} failed in cell {error.exec_count}: {error.ename}: {error.evalue}\n"
            f"  the executed copy with the full traceback is {output}"
        ) from None
    finally:
        if output.is_file():
            portable_paths(output)
    return time.perf_counter() - started


def portable_paths(executed: Path, root: Path = REPO_ROOT) -> None:
    """Write the paths papermill records in an executed notebook's metadata relative to the
    repository, so that the committed report names no folder of the machine that ran it."""
    import nbformat

    notebook = nbformat.read(executed, as_version=4)
    record = notebook.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if record.get(key) and Path(record[key]).is_absolute():
            try:
                record[key] = Path(record[key]).resolve().relative_to(root.resolve()).as_posix()
            except ValueError:
                record[key] = Path(record[key]).name
    nbformat.write(notebook, executed)


class StageLines:
    """The kernel's stderr as papermill hands it on: tqdm lines become the tail (postfix) of the
    notebook's cells bar, every other line is printed to ``terminal`` above the bar."""

    def __init__(self, terminal: IO[str]):
        self.terminal = terminal
        self.bar = None
        self.pending = ""

    def write(self, text: str) -> int:
        self.pending += text
        *complete, self.pending = re.split(r"[\r\n]", self.pending)
        for line in complete:
            self._show(line)
        if PROGRESS_LINE.search(self.pending):  # a bar redrawn without a line end yet
            self._show(self.pending)
        return len(text)

    def flush(self) -> None:
        self.terminal.flush()

    def _show(self, line: str) -> None:
        line = line.rstrip()
        if not line:
            return
        if PROGRESS_LINE.search(line):
            if self.bar is not None:
                self.bar.set_postfix_str(line[-STAGE_WIDTH:], refresh=True)
            return
        from tqdm import tqdm

        tqdm.write(line, file=self.terminal)


def _register_engine() -> None:
    """Register papermill's nbclient engine, handing the cells bar to :class:`StageLines`."""
    from papermill.engines import NBClientEngine, papermill_engines

    class ProgressEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
            stderr_file = kwargs.get("stderr_file")
            if isinstance(stderr_file, StageLines):
                stderr_file.bar = nb_man.pbar
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register(ENGINE_NAME, ProgressEngine)


def _ipc_kernel_manager() -> type:
    """A kernel manager whose kernel listens on IPC sockets (files in Jupyter's runtime folder)."""
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.transport = "ipc"

    return IPCKernelManager
