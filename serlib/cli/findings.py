"""`serlib findings`: regenerate a profile's FINDINGS.md from its tables; print it, or copy its
summary into the README's findings block."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "findings"
HELP = "regenerate results/<profile>/FINDINGS.md from its tables; print it, or copy its summary into the README"
DESCRIPTION = """\
FINDINGS.md is the study's findings stage (notebook 11 runs it): from the tables in
results/<profile>/tables/ it writes the paper-style table (tables/paper_style_summary.csv), the
two headline figures (figures/layer_curves_with_controls.<main protocol>.png,
figures/aggregation_forest.png) and FINDINGS.md itself: the summary (figures, compact headline
table, pairings counted by verdict), then one table per question, every number with its 95%
interval, protocol and n. Nothing is retrained. With --readme, the README's block between the
findings markers is replaced by FINDINGS.md's summary (the README's findings are never typed by
hand; a test checks that they agree). With --no-write, the committed FINDINGS.md is used as it is.

Example: serlib findings real-small --readme README.md
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("profile", help="profile whose tables to read (params/<profile>.yaml)")
    parser.add_argument("--results", type=Path, default=None,
                        help="results folder of the profile (default: the profile's results_dir)")
    parser.add_argument("--readme", type=Path, default=None,
                        help="README to update in place (its findings block)")
    parser.add_argument("--no-write", action="store_true",
                        help="do not regenerate FINDINGS.md; print or copy the one there is")


def run(args: argparse.Namespace) -> int:
    from serlib.common.errors import SerlibError
    from serlib.report.findings import sync_readme

    if args.no_write:
        from serlib.study.config import REPO_ROOT

        findings = (args.results or REPO_ROOT / "results" / args.profile) / "FINDINGS.md"
        if not findings.is_file():
            raise SerlibError(f"{findings} does not exist; run ./run_all.sh {args.profile} first")
    else:
        from serlib.study.config import load_study
        from serlib.study.reporting import write_findings

        config = load_study(args.profile, results_dir=str(args.results) if args.results else None)
        if not config.tables_dir.is_dir():
            raise SerlibError(f"{config.tables_dir} does not exist; run ./run_all.sh {args.profile} first")
        findings, _ = write_findings(config)
    if args.readme is None:
        print(findings.read_text(), end="")
        return 0
    changed = sync_readme(args.readme, findings)
    print(f"{args.readme}: findings block {'updated from' if changed else 'already matches'} {findings}")
    return 0
