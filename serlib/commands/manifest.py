"""`serlib manifest` (placeholder until implemented)."""

from serlib.errors import SerlibError

NAME = "manifest"
HELP = "(not implemented yet)"


def add_arguments(parser):
    pass


def run(args):
    raise SerlibError("'serlib manifest' is not implemented yet")
