"""Execute the study's notebooks in order with papermill (what ``./run_all.sh`` calls).

    python -m serlib.runner [PROFILE] [--from NN] [--only NN]

Each ``notebooks/NN_*.ipynb`` runs with the parameter ``profile`` set, and its executed copy
is written to ``results/<profile>/notebooks/``. Before any notebook runs, the profile is
checked (corpus roots, models available offline or by download) and every problem is listed at
once. The run stops at the first failing notebook, naming it and the cell's error. Reruns are
cheap: manifests, splits, features and probe results are cached under the profile's work dir.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from serlib.config import REPO_ROOT, load_config
from serlib.errors import SerlibError

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
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_all.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", nargs="?", default="demo", help="params/<profile>.yaml (default: demo)")
    parser.add_argument("--from", dest="start", metavar="NN", help="start at notebook NN")
    parser.add_argument("--only", metavar="NN", help="run only notebook NN")
    args = parser.parse_args(argv)

    try:
        from serlib.study import preflight

        config = load_config(args.profile)
        problems = preflight(config)
        if problems:
            print(f"profile {config.profile!r} cannot run; missing:", file=sys.stderr)
            for problem in problems:
                print(f"  - {problem}", file=sys.stderr)
            return 2
        notebooks = select_notebooks(study_notebooks(), args.start, args.only)
        output_dir = config.results_dir / "notebooks"
        total = time.perf_counter()
        for notebook in notebooks:
            print(f"[{config.profile}] {notebook.name} ...", flush=True)
            seconds = execute_notebook(notebook, output_dir / notebook.name, config.profile)
            print(f"[{config.profile}] {notebook.name} done in {seconds:.0f} s", flush=True)
        print(f"[{config.profile}] {len(notebooks)} notebooks in {time.perf_counter() - total:.0f} s; "
              f"executed copies in {output_dir}")
    except SerlibError as error:
        print(f"run_all: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
