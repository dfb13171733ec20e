"""The one exception type a user should ever see from serlib.

Raise :class:`SerlibError` for bad input (missing corpus folders, unreadable audio, unknown
labels, models that cannot be loaded, ...) with a message that names the file or folder and
says how to fix it. The command line prints the message alone, without a traceback.
"""


class SerlibError(Exception):
    """A problem with the user's input or environment, explained in the message."""
