"""``./run_all.sh [PROFILE] [--from NN] [--only NN]``: run the study's notebooks for a profile.

The command line of :mod:`serlib.study.runner`: checks the profile first (listing everything
missing), then executes ``notebooks/NN_*.ipynb`` in order with papermill, writing the executed
copies to ``results/<profile>/notebooks/``, and stops at the first failing notebook.
"""

from __future__ import annotations

import argparse
import sys
import time

from serlib.common.errors import SerlibError
from serlib.study.config import load_config
from serlib.study.plan import long_run_plan
from serlib.study.runner import execute_notebook, select_notebooks, study_notebooks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_all.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", nargs="?", default="demo", help="params/<profile>.yaml (default: demo)")
    parser.add_argument("--from", dest="start", metavar="NN", help="start at notebook NN")
    parser.add_argument("--only", metavar="NN", help="run only notebook NN")
    args = parser.parse_args(argv)

    try:
        from serlib.study.checks import preflight

        config = load_config(args.profile)
        problems = preflight(config)
        if problems:
            print(f"profile {config.profile!r} cannot run; missing:", file=sys.stderr)
            for problem in problems:
                print(f"  - {problem}", file=sys.stderr)
            return 2
        print(long_run_plan(config), end="", flush=True)  # only for long runs (serlib plan)
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
