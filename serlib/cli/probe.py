"""`serlib probe`: train probes for every layer x seed on one feature folder and split."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from serlib.common.files import write_csv_atomically
from serlib.probing.kinds import PROBE_KINDS

#: The profiles' default (params/*.yaml probes.standardize).
STANDARDIZE_DEFAULT = True

NAME = "probe"
HELP = "train probes for every layer and seed of one model x corpus; write tidy results CSV"
DESCRIPTION = (
    "Train one probe kind for every hidden state (or all layers at once) of a feature folder\n"
    "written by 'serlib extract', select per probe the epoch with the best dev accuracy and\n"
    "write its dev and test metrics as tidy rows (corpus, language, model, probe, protocol, fold,\n"
    "layer, seed, split, metric, value, best_epoch). Probes with learned layer weights also write\n"
    "<out stem>.layer_weights.csv. Per-utterance dev and test predictions of every fold, seed and\n"
    "layer go to <out stem>.predictions.csv.gz. A split with a fold column trains every fold.\n\nprobes:\n"
    + "\n".join(f"  {kind.name:<18} {kind.description}" for kind in PROBE_KINDS.values())
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--features", required=True, type=Path,
                        help="feature folder <out>/<model slug>/<corpus> with pooled.npy and index.json")
    parser.add_argument("--split", required=True, type=Path, help="split CSV from 'serlib split'")
    parser.add_argument("--probe", default="linear", choices=list(PROBE_KINDS),
                        help="probe kind (default: linear = the paper's probe); see the list above")
    parser.add_argument("--out", required=True, type=Path, help="results CSV to write")
    parser.add_argument("--seeds", type=int, default=5, help="training runs, seeds 0..n-1 (default 5)")
    parser.add_argument("--epochs", type=int, default=30, help="epochs per run (default 30)")
    parser.add_argument("--batch-size", type=int, default=32, help="mini-batch size (default 32)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, ...")
    parser.add_argument("--groups-per-pass", type=int, default=None,
                        help="train at most this many layers per batched pass (bounds memory "
                             "for frame-level probes; results do not change)")
    parser.add_argument("--corpus", default=None, help="corpus name (default: the folder name)")
    parser.add_argument("--model", default=None, help="model name (default: from index.json)")
    parser.add_argument("--language", default=None,
                        help="ISO 639-1 code (default: from the corpus registry, 'und' if unknown)")
    parser.add_argument("--standardize", action=argparse.BooleanOptionalAction,
                        default=STANDARDIZE_DEFAULT,
                        help="scale every feature dimension by train-part mean and standard "
                             "deviation before training (default: on, as in the profiles' "
                             "probes.standardize; raw features train poorly)")


def layer_weights_path(results_path: Path) -> Path:
    """Where the learned layer weights of ``results_path`` go."""
    return results_path.with_name(f"{results_path.stem}.layer_weights.csv")


def predictions_path(results_path: Path) -> Path:
    """Where the per-utterance predictions of ``results_path`` go."""
    return results_path.with_name(f"{results_path.stem}.predictions.csv.gz")


def run(args: argparse.Namespace) -> int:
    import torch  # loaded only when a probe runs

    from serlib.probing.train import train_probe

    torch.set_num_threads(os.cpu_count() or 1)
    run = train_probe(
        args.features, args.split, probe=args.probe, seeds=args.seeds, epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.lr, device=args.device,
        groups_per_pass=args.groups_per_pass, corpus=args.corpus, model=args.model,
        language=args.language, standardize=args.standardize, progress=True,
    )
    write_csv_atomically(run.results, args.out)
    write_csv_atomically(run.predictions, predictions_path(args.out))
    message = (f"wrote {len(run.results)} rows to {args.out}, per-utterance predictions to "
               f"{predictions_path(args.out)}")
    if not run.layer_weights.empty:
        weights_path = layer_weights_path(args.out)
        write_csv_atomically(run.layer_weights, weights_path)
        message += f" and layer weights to {weights_path}"
    print(message)
    return 0
