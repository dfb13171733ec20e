"""`serlib split MANIFEST.csv --protocol random|speaker-cv|session-cv|speaker`: write the folds next to it."""

from __future__ import annotations

import argparse

from serlib.data.splits import DEFAULT_REPEATS, PROTOCOLS, SPLIT_NAMES, load_or_create_split, split_path

NAME = "split"
HELP = "write an evaluation protocol's train/dev/test folds of a manifest next to it"
DESCRIPTION = f"""\
Write <manifest stem>.split-<protocol>-seed<k>.csv next to the manifest, with columns
utterance_id, speaker, label, fold, split: every utterance once per fold, split in train/dev/test.

  random      the paper's stratified 60/20/20, repeated over --repeats split seeds (default {DEFAULT_REPEATS})
  speaker-cv  speaker-grouped cross-validation: leave one speaker out up to 12 speakers, else
              grouped 5-fold; dev speakers come from each fold's training speakers
  session-cv  IEMOCAP: leave one session out (5 folds, SUPERB's protocol), dev 20% of training
  speaker     one speaker-independent 60/20/20 split

An existing file is reused when its utterances, labels and speakers are the manifest's.

Example: serlib split manifests/emodb.csv --protocol speaker-cv
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("manifest", metavar="MANIFEST.csv", help="manifest CSV")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="random",
                        help="evaluation protocol (default: random)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS,
                        help=f"random protocol: number of split seeds (default {DEFAULT_REPEATS})")


def run(args: argparse.Namespace) -> int:
    """Create (or reuse) the split file and print where it is and the part sizes per fold."""
    table = load_or_create_split(args.manifest, args.protocol, args.seed, args.repeats)
    path = split_path(args.manifest, args.protocol, args.seed)
    folds = table["fold"].nunique()
    counts = table.groupby(["fold", "split"])["utterance_id"].size().unstack("split").reindex(
        columns=list(SPLIT_NAMES), fill_value=0)
    speakers = table.groupby(["fold", "split"])["speaker"].nunique().unstack("split").reindex(
        columns=list(SPLIT_NAMES), fill_value=0)
    sizes = ", ".join(f"{part} {counts[part].mean():.0f} ({speakers[part].mean():.1f} speakers)"
                      for part in SPLIT_NAMES)
    print(f"{path}: {folds} fold(s); per fold on average: {sizes}")
    return 0
