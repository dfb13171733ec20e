"""``./run_all.sh [PROFILE] [--from NN] [--to NN] [--only NN] [--lab]``: run the study's notebooks for a profile.

The command line of :mod:`serlib.study.runner`: checks the profile first (listing everything
missing), then executes ``notebooks/NN_*.ipynb`` in order with papermill, writing the executed
copies to ``results/<profile>/notebooks/``, stops at the first failing notebook, then writes the
static HTML report ``results/<profile>/report/`` and ends with one summary (each notebook's
time, the extraction's planned against its actual time, where the report is). Every run, whole
or partial, records the machine, libraries, code versions and feature stores it used in
``results/<profile>/environment.json`` (:mod:`serlib.study.environment`); a whole run also
writes each notebook's seconds to ``results/<profile>/run_seconds.csv``. A profile given as a
YAML file reaches the notebooks as its absolute path. ``--lab`` opens JupyterLab on
``results/<profile>/`` instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from serlib.common.errors import SerlibError
from serlib.report.site import build_report_site
from serlib.study.config import load_config
from serlib.study.environment import write_environment
from serlib.study.kernels import pinned_kernels
from serlib.study.plan import planned_run_seconds
from serlib.study.plan_format import long_run_plan
from serlib.study.reproduce import notebook_profile
from serlib.study.runner import execute_notebook, select_notebooks, study_notebooks

RUN_SECONDS_FILE = "run_seconds.csv"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_all.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", nargs="?", default="demo", help="params/<profile>.yaml (default: demo)")
    parser.add_argument("--from", dest="start", metavar="NN", help="start at notebook NN")
    parser.add_argument("--to", dest="end", metavar="NN", help="stop after notebook NN")
    parser.add_argument("--only", metavar="NN", help="run only notebook NN")
    parser.add_argument("--lab", action="store_true",
                        help="open JupyterLab on results/<profile>/ instead of running")
    args = parser.parse_args(argv)

    try:
        config = load_config(args.profile)
        if args.lab:
            return open_lab(config.results_dir)
        from serlib.study.checks import preflight

        problems = preflight(config)
        if problems:
            print(f"profile {config.profile!r} cannot run; missing:", file=sys.stderr)
            for problem in problems:
                print(f"  - {problem}", file=sys.stderr)
            return 2
        print(long_run_plan(config), end="", flush=True)  # only for long runs (serlib plan)
        notebooks = select_notebooks(study_notebooks(), args.start, args.only, args.end)
        parameter = notebook_profile(args.profile)  # what the user named: params/<name>.yaml or a file
        output_dir = config.results_dir / "notebooks"
        total = time.perf_counter()
        times = {}
        with pinned_kernels(config.cpu_kernels):  # the kernels inherit the pinned CPU code paths
            for number, notebook in enumerate(notebooks, start=1):
                print(f"[{config.profile}] {number}/{len(notebooks)} {notebook.name}", flush=True)
                times[notebook.name] = execute_notebook(notebook, output_dir / notebook.name, parameter)
            environment = write_environment(config)
        index = build_report_site(config.results_dir)
        print(f"[{config.profile}] done: {len(notebooks)} notebooks in "
              f"{time.perf_counter() - total:.0f} s")
        if len(notebooks) == len(study_notebooks()):  # a whole run: keep its timings
            write_run_seconds(config.results_dir / RUN_SECONDS_FILE, times)
        for name, seconds in times.items():
            print(f"  {seconds:7.0f} s  {name}")
        extraction = next((seconds for name, seconds in times.items() if name.startswith("02_")), None)
        planned = planned_run_seconds(config)
        if extraction is not None and planned is not None:
            print(f"  extraction (notebook 02): {extraction:.0f} s; planned for a fresh run: "
                  f"{planned['extraction_s']:.0f} s of extraction (model loads included) + "
                  f"{planned['frames_in_extraction_probe_s']:.0f} s of frame-level probes on the frames it "
                  "hands over (serlib plan; cached stores make a rerun shorter)")
        print(f"  environment record: {environment}")
        print(f"  executed notebooks: {output_dir}\n  report: {index} "
              f"(open it in a browser, or ./run_all.sh --lab {config.profile})")
    except SerlibError as error:
        print(f"run_all: error: {error}", file=sys.stderr)
        return 2
    return 0


def write_run_seconds(path, times: dict[str, float]) -> None:
    """The wall-clock seconds of each notebook of the last whole run, with a total row."""
    import pandas as pd

    from serlib.common.files import write_csv_atomically

    rows = [{"notebook": name, "seconds": round(seconds, 1)} for name, seconds in times.items()]
    rows.append({"notebook": "total", "seconds": round(sum(times.values()), 1)})
    write_csv_atomically(pd.DataFrame(rows), path)


def open_lab(results_dir) -> int:
    """Replace this process by JupyterLab serving ``results_dir``."""
    if not results_dir.is_dir():
        raise SerlibError(f"{results_dir} does not exist yet; run ./run_all.sh first")
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={results_dir}"]
    print(f"opening JupyterLab on {results_dir} (Ctrl-C to stop)", flush=True)
    os.execv(sys.executable, command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
