"""`serlib split MANIFEST.csv --protocol random|speaker|emobox`: write a split CSV next to it."""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from serlib.common.errors import SerlibError
from serlib.data.emobox import emobox_path, load_or_create_emobox_split
from serlib.data.splits import (
    PROTOCOLS,
    SPLIT_NAMES,
    folds_path,
    load_or_create_folds,
    load_or_create_split,
    split_path,
)

EMOBOX = "emobox"
NAME = "split"
HELP = "write a train/dev/test split (or speaker folds) of a manifest next to it"
DESCRIPTION = """\
Write <manifest stem>.split-<protocol>-seed<k>.csv next to the manifest, with columns
utterance_id, speaker, label, split (train/dev/test, 60/20/20).

  random   stratified by label (the paper's protocol)
  speaker  no speaker in two parts

With --folds N, write speaker-independent folds instead:
<manifest stem>.folds-<N>-seed<k>.csv with columns utterance_id, speaker, label, fold.
An existing file is reused when it covers exactly the manifest's utterances.

  emobox   EmoBox's published folds (--emobox-data PATH/TO/EmoBox/data): writes
           <manifest stem>.split-emobox-seed<k>.csv with columns utterance_id, speaker, label,
           fold, split (EmoBox's test part; dev = stratified 20% of its training part, seeded),
           and says whether the folds are speaker-independent

Example: serlib split manifests/emodb.csv --protocol random --seed 0
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("manifest", metavar="MANIFEST.csv", help="manifest CSV")
    parser.add_argument("--protocol", choices=(*PROTOCOLS, EMOBOX), default="random",
                        help="split protocol (default: random)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--folds", type=int, metavar="N",
                        help="write N speaker-independent folds instead of a split")
    parser.add_argument("--emobox-data", metavar="PATH",
                        help="EmoBox's data/ folder (with --protocol emobox)")
    parser.add_argument("--emobox-corpus", metavar="NAME",
                        help="EmoBox's name of the corpus (default: the manifest's corpus column)")


def run(args: argparse.Namespace) -> int:
    """Create (or reuse) the split file and print where it is and the part sizes."""
    if args.protocol == EMOBOX:
        return _run_emobox(args)
    if args.folds is not None:
        table = load_or_create_folds(args.manifest, args.folds, args.seed)
        path = folds_path(args.manifest, args.folds, args.seed)
        column = "fold"
    else:
        table = load_or_create_split(args.manifest, args.protocol, args.seed)
        path = split_path(args.manifest, args.protocol, args.seed)
        column = "split"
    parts = table.groupby(column, sort=True)["speaker"]
    sizes = ", ".join(
        f"{part} {parts.size()[part]} ({parts.nunique()[part]} speakers)"
        for part in _ordered_parts(parts.size().index)
    )
    print(f"{path}: {sizes}")
    return 0


def _ordered_parts(parts: Iterable[str | int]) -> list[str | int]:
    """Split names in train, dev, test order; fold numbers ascending."""
    return sorted(parts, key=lambda part: SPLIT_NAMES.index(part) if part in SPLIT_NAMES else part)


def _run_emobox(args: argparse.Namespace) -> int:
    if not args.emobox_data:
        raise SerlibError("--protocol emobox needs --emobox-data PATH/TO/EmoBox/data")
    folds = load_or_create_emobox_split(args.manifest, args.emobox_data, args.emobox_corpus, args.seed)
    print(f"{emobox_path(args.manifest, args.seed)}: {folds.table['fold'].nunique()} EmoBox folds of "
          f"{folds.corpus}\n{folds.summary()}")
    return 0
