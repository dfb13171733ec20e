"""`serlib best-layer`: choose the layer of one feature folder from its train and dev parts."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from serlib.common.errors import SerlibError
from serlib.probing.layer_selection import (CRITERIA, DEV_PROBE, cheap_criterion_scores, chosen_layers,
                                    dev_probe_scores)

#: The profiles' default (params/*.yaml probes.standardize).
STANDARDIZE_DEFAULT = True

NAME = "best-layer"
HELP = "choose the best layer of a feature folder from train+dev only; print it"
DESCRIPTION = (
    "Choose the hidden state of one model x corpus that carries the labels best, looking only at\n"
    "the train and dev parts of the split (never test). The last line of the output is the\n"
    "chosen layer (an integer hidden-state index); the lines above explain the choice.\n\n"
    "criteria:\n"
    "  separability  nearest-class-centroid dev accuracy (centroids from train, standardised\n"
    "                with train statistics); no training, about a second\n"
    "  lda           dev accuracy of shrinkage LDA fitted on train (standardised); seconds\n"
    "  fisher        trace(S_w^-1 S_b) on train+dev with Ledoit-Wolf shrinkage; seconds\n"
    "  dev-probe     mean dev accuracy of the paper's probe over seeds, from --results or\n"
    "                trained here (--seeds, --epochs); the probe's full cost\n"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--features", required=True, type=Path,
                        help="feature folder <out>/<model slug>/<corpus> with pooled.npy and index.json")
    parser.add_argument("--split", required=True, type=Path, help="split CSV from 'serlib split'")
    parser.add_argument("--criterion", default="separability", choices=list(CRITERIA),
                        help="how to choose (default: separability); see the list above")
    parser.add_argument("--results", type=Path, default=None,
                        help="results CSV of 'serlib probe' for dev-probe (else the probe is trained)")
    parser.add_argument("--probe", default="linear", help="probe whose dev score dev-probe uses (default linear)")
    parser.add_argument("--seeds", type=int, default=3, help="dev-probe training runs when trained here (default 3)")
    parser.add_argument("--epochs", type=int, default=30, help="dev-probe epochs when trained here (default 30)")
    parser.add_argument("--device", default="auto", help="dev-probe device: auto, cpu, cuda, ...")
    parser.add_argument("--standardize", action=argparse.BooleanOptionalAction,
                        default=STANDARDIZE_DEFAULT,
                        help="scale every feature dimension by train-part mean and standard "
                             "deviation before training (default: on, as in the profiles' "
                             "probes.standardize; raw features train poorly) (dev-probe criterion; the cheap criteria always standardise)")


def _dev_probe_scores(args: argparse.Namespace) -> pd.DataFrame:
    if args.results is not None:
        if not args.results.is_file():
            raise SerlibError(f"{args.results}: results CSV not found; write it with 'serlib probe'")
        return dev_probe_scores(pd.read_csv(args.results, dtype={"layer": str}), probe=args.probe)
    from serlib.probing.train import run_probe  # loads torch: only for the dev-probe criterion

    started = time.perf_counter()
    results, _ = run_probe(args.features, args.split, probe=args.probe, seeds=args.seeds,
                           epochs=args.epochs, device=args.device,
                           standardize=args.standardize)
    return dev_probe_scores(results, probe=args.probe, seconds=time.perf_counter() - started)


def run(args: argparse.Namespace) -> int:
    if args.criterion == DEV_PROBE:
        scores = _dev_probe_scores(args)
    else:
        if args.results is not None:
            raise SerlibError(f"--results is only read by --criterion {DEV_PROBE}; "
                              f"{args.criterion} needs no probe results")
        scores = cheap_criterion_scores(args.features, args.split, criteria=[args.criterion])
    choice = chosen_layers(scores)
    if len(choice) != 1:
        runs = ", ".join(f"{row.model} on {row.corpus}" for row in choice.itertuples())
        raise SerlibError(f"{args.results}: holds several runs ({runs}); give the results of one "
                          "model x corpus")
    chosen = choice.iloc[0]
    per_layer = "  ".join(f"{int(row.layer)}:{row.score:.3f}"
                          for row in scores.sort_values("layer").itertuples())
    print(f"{chosen['model']} on {chosen['corpus']}: criterion {args.criterion} "
          f"(higher is better; train+dev only)")
    print(f"score per layer  {per_layer}")
    print(f"chosen: layer {chosen['chosen_layer']} of {scores['layer'].max()}, score {chosen['score']:.3f}")
    print(int(chosen["chosen_layer"]))
    return 0

