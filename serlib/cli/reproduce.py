"""`serlib reproduce PROFILE`: rerun the study into a scratch folder and compare its tables."""

from __future__ import annotations

import argparse

NAME = "reproduce"
HELP = "rerun a profile's notebooks into a scratch folder and compare every table with the committed results"
DESCRIPTION = """\
Reruns notebooks/NN_*.ipynb of the profile (all of them, or --from NN / --to NN) into a scratch
results folder (default work/<profile>/reproduce/results), with fresh caches and the profile's own
feature stores (reused only when their cache keys match), then compares every table of
results/<profile>/tables/ with the rerun's. The committed results are never written.

One line per table: identical, equal within tolerance, different (first differing column and
largest relative difference), missing, new, not rerun, or measurement (not compared). Numbers are
equal within 1e-6 relative or 1e-9 absolute, text exactly; prediction tables pass when the
predicted label agrees on >= 99% of rows; timing columns are not compared. Then the conclusions
(every row of a table with p_holm and difference: A better, B better, no clear difference) that
changed, rows whose chosen layers changed, and the fields of the two environment.json records
that differ.

Exit status 0: no conclusion changed and no table is missing; 1 otherwise; 2 on an error.
The scratch results are kept for inspection; the scratch caches are removed unless --keep.

Example: serlib reproduce demo --to 03
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("profile", help="params/<profile>.yaml, or a path to a profile YAML file")
    parser.add_argument("--from", dest="start", metavar="NN", help="first notebook to rerun (default: 01)")
    parser.add_argument("--to", dest="end", metavar="NN", help="last notebook to rerun (default: the last)")
    parser.add_argument("--scratch", metavar="DIR", default=None,
                        help="scratch folder for the rerun's results/ and work/ "
                             "(default: work/<profile>/reproduce)")
    parser.add_argument("--keep", action="store_true",
                        help="also keep the scratch work/ caches (the scratch results are always kept)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no per-notebook progress bars")


def run(args: argparse.Namespace) -> int:
    """Rerun, print the comparison, return 0 (reproduced) or 1."""
    from serlib.study.reproduce import reproduce

    outcome = reproduce(args.profile, start=args.start, end=args.end, scratch=args.scratch,
                        keep=args.keep, progress=args.progress, log=lambda line: print(line, flush=True))
    print("\n".join(outcome.lines()))
    return outcome.exit_status
