"""`serlib probe` (placeholder until implemented)."""

from serlib.errors import SerlibError

NAME = "probe"
HELP = "(not implemented yet)"


def add_arguments(parser):
    pass


def run(args):
    raise SerlibError("'serlib probe' is not implemented yet")
