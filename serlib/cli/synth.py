"""`serlib synth OUT_DIR`: generate the embedded offline ``synthetic`` corpus (stand-in speech)."""

from __future__ import annotations

import argparse

from serlib.common.errors import SerlibError
from serlib.data.synthetic import EMOTIONS, LANGUAGES, generate_synthetic_corpus

NAME = "synth"
HELP = "generate the offline synthetic stand-in corpus (eSpeak NG, emotional prosody rules)"
DESCRIPTION = f"""\
Generate the embedded offline corpus `synthetic`: SYNTHETIC STAND-IN SPEECH made with eSpeak NG,
emotions rendered by published prosody rules (see docs/synthetic_corpus.md). Not human emotional
speech: use it to run the pipeline offline, not to draw conclusions about real speech.

Layout: OUT_DIR/<language>/<speaker>/<speaker>_<emotion>_<sentence>.wav (16 kHz mono 16-bit),
OUT_DIR/synthetic_manifest.csv and OUT_DIR/VERSION.json. The output is deterministic and cached:
an up-to-date OUT_DIR is left as it is unless --force is given.

languages: {", ".join(LANGUAGES)}; emotions: {", ".join(EMOTIONS)}
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder to generate the corpus into")
    parser.add_argument("--languages", default=",".join(LANGUAGES),
                        help=f"comma-separated language codes (default: {','.join(LANGUAGES)})")
    parser.add_argument("--emotions", default=",".join(EMOTIONS),
                        help=f"comma-separated emotions (default: {','.join(EMOTIONS)})")
    parser.add_argument("--force", action="store_true", help="regenerate even when OUT_DIR is up to date")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: CPU count); never changes the output")


def _split_list(option: str, value: str) -> list[str]:
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise SerlibError(f"{option} is empty; give comma-separated values, e.g. {option} de,en")
    return items


def run(args: argparse.Namespace) -> int:
    if args.workers is not None and args.workers < 1:
        raise SerlibError(f"--workers {args.workers}: give a positive number of processes")
    result = generate_synthetic_corpus(
        args.out_dir,
        languages=_split_list("--languages", args.languages),
        emotions=_split_list("--emotions", args.emotions),
        force=args.force,
        workers=args.workers,
    )
    action = "generated" if result.generated else "up to date, reused"
    print(f"{result.clips} synthetic stand-in clips {action} in {result.root} "
          f"({result.seconds:.1f} s)")
    return 0
