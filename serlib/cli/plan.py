"""`serlib plan PROFILE`: expected time, disk and memory of a profile's run, before running it."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "plan"
HELP = "print the expected extraction time, disk, peak memory and probe time of a profile"
DESCRIPTION = (
    "Estimate what ./run_all.sh PROFILE will cost, per model (summed over the profile's corpora):\n"
    "extraction time per device (counted multiply-adds over the measured rate of\n"
    "benchmarks/extract_throughput.py), disk of the pooled and float16 frame stores, peak memory\n"
    "of one batch (CPU float32 / GPU bfloat16) and linear-probe training time (CPU).\n"
    "Corpus sizes come from work/<profile>/manifests/ when notebook 01 has run, else from typical\n"
    "sizes (serlib.study.plan.TYPICAL_CORPORA); model sizes from the bundled configs.\n"
    "Loads no model and reads no audio."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("profile", help="params/<profile>.yaml, or a path to a profile YAML")
    parser.add_argument("--csv", type=Path, default=None,
                        help="also write the per model x corpus plan to this CSV")
    parser.add_argument("--measurements", type=Path, default=None,
                        help="measured rates JSON (default: serlib/study/measured_throughput.json)")


def run(args: argparse.Namespace) -> int:
    from serlib.study.config import load_config
    from serlib.study.plan import format_plan, load_measurements, plan_study

    config = load_config(args.profile)
    measurements = load_measurements(args.measurements)
    plan = plan_study(config, measurements)
    print(format_plan(config, plan, measurements))
    if args.csv:
        plan.to_csv(args.csv, index=False)
    return 0
