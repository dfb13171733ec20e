"""The ``serlib`` command line and ``./run_all.sh``: the only package that parses arguments.

- :mod:`serlib.cli.main`: the ``serlib`` command; one sub-command per module here
  (``manifest``, ``split``, ``synth``, ``extract``, ``probe``, ``best_layer``), each defining
  ``NAME``, ``HELP``, ``DESCRIPTION``, ``add_arguments(parser)`` and ``run(args) -> int``;
- :mod:`serlib.cli.run_all`: ``./run_all.sh [PROFILE] [--from NN] [--only NN]``.

May import: everything below it. Sub-command modules import only light modules at import time
(``serlib --help`` and ``serlib manifest`` load no torch or transformers); a command loads the
heavy libraries inside ``run`` when it needs them.
"""

from serlib.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
