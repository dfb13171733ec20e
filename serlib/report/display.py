"""Tables as a notebook shows them: the first rows, and a link to the whole table.

A notebook that shows a long table in full pushes everything after it off the screen. The
notebooks call :func:`show_table` instead: it shows the first ``rows`` rows as HTML and a line
"showing 25 of N rows; full table: <link>", the link pointing to the CSV the notebook wrote.
The link is relative to ``results/<profile>/notebooks/`` (where the executed notebooks live),
which is also right from ``results/<profile>/report/`` (the HTML report), since both folders sit
beside ``tables/``.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

ROWS = 25
TABLES_FOLDER = "tables"
#: Class of the block :func:`table_html` writes; the report's style sheet styles it.
TABLE_CLASS = "serlib-table"


def table_link(csv_path: str | Path) -> str:
    """The link to ``csv_path`` as seen from ``results/<profile>/notebooks/``.

    A path inside a ``tables/`` folder becomes ``../tables/...`` (from that folder's parent,
    the results folder); any other path is taken as relative to the results folder."""
    path = Path(csv_path)
    parts = path.parts
    if TABLES_FOLDER in parts:
        index = len(parts) - 1 - parts[::-1].index(TABLES_FOLDER)
        return "../" + Path(*parts[index:]).as_posix()
    if path.is_absolute():
        return Path(os.path.relpath(path, Path.cwd())).as_posix()
    return "../" + path.as_posix()


def table_html(table: pd.DataFrame, csv_path: str | Path | Sequence[str | Path] | None = None,
               rows: int = ROWS) -> str:
    """The first ``rows`` rows of ``table`` as HTML, and a line saying how many rows there are
    and where the whole table is (``csv_path``: one CSV, several, or None for a table that was
    not written)."""
    paths = [] if csv_path is None else ([csv_path] if isinstance(csv_path, (str, Path)) else list(csv_path))
    links = ", ".join(f'<a href="{html.escape(table_link(path))}">{html.escape(Path(path).name)}</a>'
                      for path in paths)
    shown = table.head(rows)
    if len(table) > rows:
        line = f"showing {rows} of {len(table)} rows" + (f"; full table: {links}" if links else "")
    else:
        line = f"{len(table)} row{'' if len(table) == 1 else 's'}" + (f"; table: {links}" if links else "")
    return (f'<div class="{TABLE_CLASS}">{shown.to_html(border=0, na_rep="")}'
            f'<p class="{TABLE_CLASS}-rows"><small>{line}</small></p></div>')


def show_table(table: pd.DataFrame, csv_path: str | Path | Sequence[str | Path] | None = None,
               rows: int = ROWS) -> None:
    """Display :func:`table_html` in the notebook (its first rows and the link to the CSV)."""
    from IPython.display import HTML, display

    display(HTML(table_html(table, csv_path, rows)))
