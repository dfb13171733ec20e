"""`serlib report PROFILE|RESULTS_DIR`: write the static HTML report of executed notebooks."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "report"
HELP = "write the static HTML report (results/<profile>/report/index.html) of executed notebooks"
DESCRIPTION = """\
Render every executed notebook of results/<profile>/notebooks/ as a self-contained HTML page
(figures embedded; opens from the file system with no server) and write index.html: the
profile's FINDINGS.md as the front page and a table of contents. ./run_all.sh does this at
the end of every run.

Example: serlib report demo      (or: serlib report path/to/results-folder)
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("target", metavar="PROFILE|RESULTS_DIR",
                        help="a profile name (params/<profile>.yaml) or a results folder")


def run(args: argparse.Namespace) -> int:
    """Build the site and print where its front page is."""
    from serlib.report.site import build_report_site

    target = Path(args.target)
    if (target / "notebooks").is_dir():
        results_dir = target
    else:
        from serlib.study.config import load_config

        results_dir = load_config(args.target).results_dir
    print(build_report_site(results_dir))
    return 0
