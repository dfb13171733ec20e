"""``serlib reproduce PROFILE``: rerun the study's notebooks into a scratch folder and compare
every table with the committed results (:mod:`serlib.report.reproduction` says how).

The rerun never writes the committed results folder. It runs the selected notebooks with

- a scratch results folder (default ``work/<profile>/reproduce/results``; ``SERLIB_RESULTS_DIR``),
  filled first with a copy of the committed results (without ``report/``), so that a notebook
  after ``--from`` finds the tables of the notebooks before it;
- a fresh scratch work folder (``work/<profile>/reproduce/work``; ``SERLIB_WORK_DIR``), so the
  manifests, splits and probe results are computed again, never read from a cache;
- the profile's own feature stores (``SERLIB_FEATURE_DIR``): a store is reused only when its
  cache key (model weights, manifest, dtype, code versions ...) matches, else recomputed.

Notebook kernels inherit these variables from this process. A table whose file was not
rewritten during the rerun (same inode, modification time and size as the copy) is "not rerun"
in a partial run and "missing" in a whole one. The rerun writes its own ``environment.json``,
and the two environment records are printed side by side (the fields that differ).

The scratch folder: its ``results/`` (tables, executed notebooks, figures, environment.json) is
always kept for inspection; its ``work/`` (caches only, of no use to a later rerun, which starts
from a fresh one) is removed at the end unless ``keep``. Both are replaced at the start of the
next rerun; a scratch folder that ``serlib reproduce`` did not make is never deleted.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from serlib.common.environ import environment_variables
from serlib.common.errors import SerlibError
from serlib.report.reproduction import Reproduction, compare_results, environment_lines, table_paths
from serlib.study.config import (FEATURE_DIR_VARIABLE, RESULTS_DIR_VARIABLE, WORK_DIR_VARIABLE, StudyConfig,
                                 load_config)
from serlib.study.environment import read_environment, write_environment
from serlib.study.kernels import pinned_kernels
from serlib.study.runner import NOTEBOOK_DIR, execute_notebook, select_notebooks, study_notebooks

SCRATCH_FOLDER = "reproduce"
SCRATCH_MARKER = ".serlib-reproduce"
NOT_COPIED = ("report",)  # the HTML site: not read by any notebook


@dataclass
class ReproduceRun:
    """What one ``serlib reproduce`` did and found."""

    profile: str
    committed: Path
    scratch: Path
    scratch_results: Path
    notebooks: list[str]
    whole_run: bool
    started_utc: str
    comparison: Reproduction
    environment: list[str] = field(default_factory=list)
    kept_work: bool = False

    @property
    def exit_status(self) -> int:
        return self.comparison.exit_status

    def lines(self) -> list[str]:
        which = "every notebook" if self.whole_run else f"notebooks {', '.join(self.notebooks)} (a partial run)"
        out = [f"reproduce {self.profile}: reran {which} from {self.started_utc}",
               f"committed results: {self.committed}",
               f"rerun results:     {self.scratch_results}"]
        out += self.comparison.lines()
        out += self.environment
        work = "kept" if self.kept_work else "removed (--keep keeps it)"
        out.append(f"scratch folder: {self.scratch} (results kept for inspection; work caches {work})")
        verdict = ("reproduced: no conclusion changed, no table missing" if self.exit_status == 0
                   else "NOT reproduced: a conclusion changed or a table is missing")
        out.append(verdict)
        return out


def scratch_folders(config: StudyConfig, scratch: str | os.PathLike | None) -> tuple[Path, Path, Path]:
    """``(scratch, scratch results, scratch work)``; the default scratch is ``work/<profile>/reproduce``."""
    root = Path(scratch).expanduser().resolve() if scratch else config.work_dir / SCRATCH_FOLDER
    return root, root / "results", root / "work"


def _overlaps(inner: Path, outer: Path) -> bool:
    inner, outer = inner.resolve(), outer.resolve()
    return inner == outer or inner.is_relative_to(outer)


def check_scratch(config: StudyConfig, root: Path, results: Path, work: Path) -> None:
    """Refuse a scratch folder that would delete or write what the profile keeps."""
    protected = {"the committed results": config.results_dir, "the feature stores": config.feature_dir,
                 "the profile's work folder": config.work_dir}
    for scratch in (results, work):
        for what, folder in protected.items():
            if _overlaps(folder, scratch):
                raise SerlibError(f"scratch folder {scratch} would hold {what} ({folder}); choose "
                                  "another --scratch (default: work/<profile>/reproduce)")
        if _overlaps(scratch, config.results_dir):
            raise SerlibError(f"scratch folder {scratch} is inside the committed results "
                              f"{config.results_dir}, which a rerun never writes; choose another --scratch")
    if any(folder.exists() for folder in (results, work)) and not (root / SCRATCH_MARKER).is_file():
        raise SerlibError(f"{root} already holds results/ or work/ that serlib reproduce did not make; "
                          "choose an empty or new --scratch folder (nothing there was changed)")


def prepare_scratch(config: StudyConfig, root: Path, results: Path, work: Path) -> None:
    """Empty the scratch folders and copy the committed results into the scratch results."""
    check_scratch(config, root, results, work)
    for folder in (results, work):
        if folder.exists():
            shutil.rmtree(folder)
    root.mkdir(parents=True, exist_ok=True)
    (root / SCRATCH_MARKER).write_text("made by serlib reproduce; its results/ and work/ are replaced "
                                       "by the next rerun\n")
    shutil.copytree(config.results_dir, results, copy_function=shutil.copy2,
                    ignore=lambda folder, names: [n for n in names if Path(folder) == config.results_dir
                                                  and n in NOT_COPIED])
    work.mkdir(parents=True)


def _signature(path: Path) -> tuple[int, int, int]:
    status = path.stat()
    return status.st_ino, status.st_mtime_ns, status.st_size


def table_signatures(results_dir: Path) -> dict[str, tuple[int, int, int]]:
    """Inode, modification time and size of every table of ``results_dir``."""
    return {path: _signature(results_dir / path) for path in table_paths(results_dir)}


def rewritten_tables(results_dir: Path, before: dict[str, tuple[int, int, int]], started_ns: int) -> set[str]:
    """Tables written since ``before`` was taken: new, replaced, or modified after ``started_ns``."""
    written = set()
    for path in table_paths(results_dir):
        signature = _signature(results_dir / path)
        if path not in before or signature != before[path] or signature[1] >= started_ns:
            written.add(path)
    return written


def redirected(results: Path, work: Path, features: Path) -> AbstractContextManager[None]:
    """Set SERLIB_RESULTS_DIR / SERLIB_WORK_DIR / SERLIB_FEATURE_DIR for the block (and the
    notebook kernels it starts); restore the previous values after."""
    return environment_variables({RESULTS_DIR_VARIABLE: str(results), WORK_DIR_VARIABLE: str(work),
                                  FEATURE_DIR_VARIABLE: str(features)})


def notebook_profile(profile: str | os.PathLike) -> str:
    """The ``profile`` parameter for a notebook: a name as it is, a YAML file as an absolute
    path (the kernel runs in ``notebooks/``)."""
    path = Path(profile)
    return str(path.resolve()) if path.suffix in {".yaml", ".yml"} else str(profile)


def reproduce(profile: str | os.PathLike, start: str | None = None, end: str | None = None,
              scratch: str | os.PathLike | None = None, keep: bool = False, progress: bool = True,
              notebook_dir: Path = NOTEBOOK_DIR, log: Callable[[str], None] = print) -> ReproduceRun:
    """Rerun notebooks ``start``..``end`` of ``profile`` into a scratch folder and compare
    its tables with the committed ones (see the module docstring)."""
    config = load_config(profile)
    committed = config.results_dir
    if not (committed / "tables").is_dir():
        raise SerlibError(f"{committed} has no tables/: there is nothing to reproduce yet; run "
                          f"./run_all.sh {profile} first")
    from serlib.study.checks import preflight

    problems = preflight(config)
    if problems:
        raise SerlibError(f"profile {config.profile!r} cannot run; missing: " + "; ".join(problems))
    every = study_notebooks(notebook_dir)
    notebooks = select_notebooks(every, start, None, end)
    root, results, work = scratch_folders(config, scratch)
    prepare_scratch(config, root, results, work)
    before = table_signatures(results)
    started_ns = time.time_ns()
    started_utc = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    parameter = notebook_profile(profile)
    with redirected(results, work, config.feature_dir), pinned_kernels(config.cpu_kernels):
        rerun_config = load_config(profile)
        for number, notebook in enumerate(notebooks, start=1):
            log(f"[reproduce {config.profile}] {number}/{len(notebooks)} {notebook.name}")
            execute_notebook(notebook, results / "notebooks" / notebook.name, parameter, progress=progress)
        write_environment(rerun_config)
    whole = len(notebooks) == len(every)
    comparison = compare_results(committed, results, rewritten_tables(results, before, started_ns), whole)
    environment = environment_lines(read_environment(committed), read_environment(results))
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return ReproduceRun(profile=config.profile, committed=committed, scratch=root, scratch_results=results,
                        notebooks=[notebook.name[:2] for notebook in notebooks], whole_run=whole,
                        started_utc=started_utc, comparison=comparison, environment=environment,
                        kept_work=keep)
