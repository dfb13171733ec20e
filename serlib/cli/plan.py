"""`serlib plan PROFILE`: expected time, disk and memory of a profile's run, before running it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "plan"
HELP = "print the expected time (extraction, frame-level and pooled probes), disk and memory of a profile"
DESCRIPTION = (
    "Estimate what ./run_all.sh PROFILE will cost on each measured device (cpu: the project's\n"
    "2 cores; cuda: an H100), per model summed over the profile's corpora: extraction (counted\n"
    "multiply-adds at the measured rate, model loads, per-run and per-utterance overheads, frame-store\n"
    "writes where frames are kept; acoustic baselines at their measured seconds per audio second),\n"
    "holding the frames of the frame-level probes (in memory, in groups of hidden states, or spilled\n"
    "to one temporary file, under the device's memory budget), the frame-level probes (counted\n"
    "multiply-adds over every fold at the measured rate), the pooled probes (each kind's measured\n"
    "seconds scaled by utterances, hidden states, width, folds, seeds and epochs), peak memory, and\n"
    "the disk at the peak and kept at the end. Rates assumed rather than measured are said so.\n"
    "Corpus sizes and folds come from work/<profile>/manifests/ when notebook 01 has run, else from\n"
    "typical sizes and speakers (serlib.study.plan_sizes.TYPICAL_CORPORA); model sizes from the bundled\n"
    "configs. Loads no model and reads no audio."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("profile", help="params/<profile>.yaml, or a path to a profile YAML")
    parser.add_argument("--json", nargs="?", const="-", default=None, metavar="PATH",
                        help="write the plan as JSON (devices with extraction_s, frame_holding_s, "
                             "frame_probe_s, pooled_probe_s and total_s; peak and kept disk; peak memory; "
                             "the model x corpus rows) to PATH, or to stdout instead of the text")
    parser.add_argument("--csv", type=Path, default=None,
                        help="also write the per model x corpus plan to this CSV")
    parser.add_argument("--measurements", type=Path, default=None,
                        help="measured rates JSON (default: serlib/study/measured_throughput.json)")


def run(args: argparse.Namespace) -> int:
    from serlib.common.files import atomic_write_text
    from serlib.study.config import load_config
    from serlib.study.plan import plan_study, plan_summary
    from serlib.study.plan_format import format_plan, plan_json
    from serlib.study.plan_rates import load_measurements

    config = load_config(args.profile)
    measurements = load_measurements(args.measurements)
    plan = plan_study(config, measurements)
    summary = plan_summary(config, plan, measurements)
    if args.json == "-":
        sys.stdout.write(plan_json(summary))
    else:
        print(format_plan(config, plan, measurements, summary))
        if args.json:
            atomic_write_text(Path(args.json), plan_json(summary))
    if args.csv:
        plan.to_csv(args.csv, index=False)
    return 0
