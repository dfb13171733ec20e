"""`serlib extract` (placeholder until implemented)."""

from serlib.errors import SerlibError

NAME = "extract"
HELP = "(not implemented yet)"


def add_arguments(parser):
    pass


def run(args):
    raise SerlibError("'serlib extract' is not implemented yet")
