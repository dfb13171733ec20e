"""`serlib findings`: print a profile's FINDINGS.md, or copy it into the README's findings block."""

from __future__ import annotations

import argparse
from pathlib import Path

from serlib.common.errors import SerlibError
from serlib.report.findings import sync_readme

NAME = "findings"
HELP = "print results/<profile>/FINDINGS.md, or copy it into the README (--readme)"
DESCRIPTION = """\
FINDINGS.md is written by the study's last notebook from its tables: every claim with its
number, 95% interval, protocol, n and source table. With --readme, the README's block between
the findings markers is replaced by it (the README's findings are never typed by hand; a test
checks that they agree).

Example: serlib findings real-small --readme README.md
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("profile", help="profile whose results/<profile>/FINDINGS.md to use")
    parser.add_argument("--results", type=Path, default=None,
                        help="results folder of the profile (default: results/<profile>)")
    parser.add_argument("--readme", type=Path, default=None,
                        help="README to update in place (its findings block)")


def run(args: argparse.Namespace) -> int:
    from serlib.study.config import REPO_ROOT

    findings = (args.results or REPO_ROOT / "results" / args.profile) / "FINDINGS.md"
    if not findings.is_file():
        raise SerlibError(f"{findings} does not exist; run ./run_all.sh {args.profile} first")
    if args.readme is None:
        print(findings.read_text(), end="")
        return 0
    changed = sync_readme(args.readme, findings)
    print(f"{args.readme}: findings block {'updated from' if changed else 'already matches'} {findings}")
    return 0
