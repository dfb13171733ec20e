"""Reading a user's CSV file strictly: one clear error instead of a pandas traceback or a
silently shifted table.

pandas quietly turns a row with more cells than the header into an index column, and raises
its own exceptions for empty, binary or non-UTF-8 files. :func:`read_user_csv` refuses all of
these with one :class:`~serlib.common.errors.SerlibError` naming the file and the fix.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from serlib.common.errors import SerlibError


def read_user_csv(path: str | Path, what: str, fix: str, **read_csv_options) -> pd.DataFrame:
    """Read the CSV at ``path`` (a ``what``, e.g. "manifest") with ``pd.read_csv``.

    Rows whose cell count differs from the header's, a file that is empty, not text or not
    UTF-8 raise :class:`SerlibError` saying ``cannot read <what> <path> (<reason>); <fix>``.
    A UTF-8 byte-order mark (as Excel writes) is accepted. Other options go to ``pd.read_csv``.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            table = pd.read_csv(path, index_col=False, encoding="utf-8-sig",
                                **read_csv_options)
    except (pd.errors.ParserError, pd.errors.ParserWarning, pd.errors.EmptyDataError,
            UnicodeDecodeError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if isinstance(error, pd.errors.ParserWarning):
            reason = "a row has more or fewer cells than the header"
        raise SerlibError(f"cannot read {what} {path} ({reason}); {fix}") from None
    if len(table.columns) and any(str(column).startswith("\x00") for column in table.columns):
        raise SerlibError(f"cannot read {what} {path} (it is not a text CSV file); {fix}")
    return table


__all__ = ["read_user_csv"]
