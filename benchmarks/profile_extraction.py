"""A profile's extraction stage (notebook 02) on a chosen device, without Jupyter.

Prepares the profile's corpora (notebook 01's manifests and splits; generated trees for
``generate:`` corpora), runs every model x corpus through the engine and prints the runs table
(throughput, model load, peak memory) and the plan beside it, as notebook 02 shows them. For a
GPU machine that has torch and transformers but no Jupyter stack.

    python benchmarks/profile_extraction.py paper-rehearsal --device cuda [--models xlsr-53 ...]
        [--out runs.csv]
"""

from __future__ import annotations

import argparse

import pandas as pd

from serlib import study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile")
    parser.add_argument("--device", default=None, help="cpu, cuda or auto (default: the profile's)")
    parser.add_argument("--models", nargs="*", default=None,
                        help="model ids of the profile (default: all but the acoustic sets)")
    parser.add_argument("--out", default=None, help="also write the runs table to this CSV")
    args = parser.parse_args()
    models = args.models
    if models is None:
        models = [spec.model_id for spec in study.load_study(args.profile).models
                  if not spec.source.startswith("acoustic:")]
    config = study.load_study(args.profile, models=models)
    prepared = study.prepare_corpora(config)
    runs = study.extract_all(config, prepared, device=args.device, progress=True)
    if args.out:
        runs.to_csv(args.out, index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(runs.to_string(index=False), flush=True)
        print(study.planned_vs_measured(config, runs).to_string(index=False), flush=True)


if __name__ == "__main__":
    main()
