"""Execute the study's notebooks in order with papermill (``./run_all.sh`` through
:mod:`serlib.cli.run_all`).

Each ``notebooks/NN_*.ipynb`` runs with the parameter ``profile`` set, and its executed copy
is written to ``results/<profile>/notebooks/``. Before any notebook runs, the profile is
checked (corpus roots, models available offline or by download) and every problem is listed at
once. The run stops at the first failing notebook, naming it and the cell's error. Reruns are
cheap: manifests, splits, features and probe results are cached under the profile's work dir.
"""

from __future__ import annotations

import time
from pathlib import Path

from serlib.common.errors import SerlibError
from serlib.study.config import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"


def study_notebooks(notebook_dir: Path = NOTEBOOK_DIR) -> list[Path]:
    """The numbered notebooks ``NN_name.ipynb`` in order."""
    notebooks = sorted(p for p in notebook_dir.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise SerlibError(f"no notebooks named NN_*.ipynb in {notebook_dir}")
    return notebooks


def select_notebooks(notebooks: list[Path], start: str | None, only: str | None) -> list[Path]:
    """Apply ``--from NN`` / ``--only NN`` (two-digit prefixes)."""
    numbers = [p.name[:2] for p in notebooks]
    for flag, value in (("--from", start), ("--only", only)):
        if value is not None and value.zfill(2) not in numbers:
            raise SerlibError(f"{flag} {value}: no notebook with that number; have {', '.join(numbers)}")
    if only is not None:
        return [p for p in notebooks if p.name[:2] == only.zfill(2)]
    if start is not None:
        return [p for p in notebooks if p.name[:2] >= start.zfill(2)]
    return notebooks


def execute_notebook(notebook: Path, output: Path, profile: str) -> float:
    """Run one notebook with papermill; returns seconds taken. Raises SerlibError on failure."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters={"profile": profile},
            kernel_name="python3",
            cwd=str(notebook.parent),
            progress_bar=False,
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
