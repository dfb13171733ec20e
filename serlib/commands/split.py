"""`serlib split` (placeholder until implemented)."""

from serlib.errors import SerlibError

NAME = "split"
HELP = "(not implemented yet)"


def add_arguments(parser):
    pass


def run(args):
    raise SerlibError("'serlib split' is not implemented yet")
