"""The ``serlib`` command line: one sub-command per stage of the study.

Each sub-command lives in ``serlib/cli/<name>.py`` and defines ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. Errors of type
:class:`serlib.common.errors.SerlibError` are printed as one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from serlib import __version__
from serlib.common.errors import SerlibError

COMMAND_MODULES = (
    "serlib.cli.manifest",
    "serlib.cli.split",
    "serlib.cli.synth",
    "serlib.cli.extract",
    "serlib.cli.probe",
    "serlib.cli.best_layer",
    "serlib.cli.findings",
    "serlib.cli.report",
    "serlib.cli.plan",
    "serlib.cli.reproduce",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="serlib",
        description="Decoding Emotions: layer-wise speech emotion recognition study tools.",
    )
    parser.add_argument("--version", action="version", version=f"serlib {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(
            module.NAME,
            help=module.HELP,
            description=getattr(module, "DESCRIPTION", module.HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except SerlibError as error:
        print(f"serlib {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
