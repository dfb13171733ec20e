"""`serlib synth` (placeholder until implemented)."""

from serlib.errors import SerlibError

NAME = "synth"
HELP = "(not implemented yet)"


def add_arguments(parser):
    pass


def run(args):
    raise SerlibError("'serlib synth' is not implemented yet")
