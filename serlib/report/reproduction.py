"""Compare two results folders table by table: did a rerun reproduce the study?

:func:`compare_results` reads every table of a committed results folder (``tables/**/*.csv``
and the per-utterance predictions ``tables/predictions/*.csv.gz``) beside the same table of a
rerun and gives each one status:

- ``identical``: the files' bytes are equal;
- ``equal within tolerance``: the same columns and rows, every number within
  :data:`RELATIVE_TOLERANCE` relative or :data:`ABSOLUTE_TOLERANCE` absolute, every text cell
  exactly equal;
- ``different``: anything else, with the first differing column and the largest relative
  difference of the table's numbers;
- ``missing``: a committed table that a whole rerun did not write;
- ``new``: a table only the rerun has;
- ``not rerun``: a committed table that a partial rerun (``--from`` / ``--to``) did not write;
- ``measurement, not compared``: a table of timings (:data:`MEASUREMENT_TABLES`).

Tolerances, stated here and in every printed report:

- numbers are equal when ``|a - b| <= 1e-6 * max(|a|, |b|)`` or ``|a - b| <= 1e-9``; text
  (every cell that is not a number, including empty cells) must be exactly equal;
- rows are matched by the table's text columns (rows that share them, such as the folds and
  layers of one model, are paired after sorting by the other columns), so the order in which
  rows were written does not matter; the set of rows must be the same in both;
- per-utterance prediction tables are within tolerance when the ``predicted`` column agrees on
  at least :data:`PREDICTION_AGREEMENT` (99%) of the rows; columns ``p_<class>`` (predicted
  probabilities), where present, are reported by their largest absolute difference and never
  fail a table;
- measurement columns (:func:`is_measurement_column`: seconds, ``*_s``, ``*_s_per_s``, peak
  memory, ``cache_hit``, ``computed``, ``measured_*`` ...) are left out of every comparison, and
  the line says so ("timing").

Conclusions come from the tables themselves, not from FINDINGS.md: every table with the columns
``p_holm`` and ``difference`` is a comparison table, and each of its rows has a verdict
(:func:`verdict`): "A better" (Holm p < 0.05, difference > 0), "B better" (Holm p < 0.05,
difference < 0) or "no clear difference". Rows are matched between the two folders by their
text columns other than the chosen layers (:data:`LAYER_CHOICE_COLUMNS`); a committed row with no
match in the rerun counts as a changed conclusion. Rows whose chosen layers changed are listed
for information. :attr:`Reproduction.exit_status` is 0 when no conclusion changed and no table is
missing, 1 otherwise.

Pure pandas: no model, no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from serlib.common.errors import SerlibError

RELATIVE_TOLERANCE = 1e-6
ABSOLUTE_TOLERANCE = 1e-9
#: share of rows whose ``predicted`` label must agree for a predictions table to pass
PREDICTION_AGREEMENT = 0.99
#: Holm-adjusted p below which a comparison is a clear win
SIGNIFICANCE = 0.05
TOLERANCE_STATEMENT = (
    f"tolerances: numbers within {RELATIVE_TOLERANCE:g} relative or {ABSOLUTE_TOLERANCE:g} absolute; "
    "text exactly equal; the same rows; predictions: the predicted label agrees on "
    f">= {PREDICTION_AGREEMENT:.0%} of rows (p_<class> columns reported, never failing); "
    "timing columns not compared"
)

IDENTICAL = "identical"
WITHIN_TOLERANCE = "equal within tolerance"
DIFFERENT = "different"
MISSING = "missing"
NEW = "new"
NOT_RERUN = "not rerun"
MEASUREMENT = "measurement, not compared"

TABLES_FOLDER = "tables"
PREDICTIONS_FOLDER = "predictions"
PREDICTED_COLUMN = "predicted"
PROBABILITY_PREFIX = "p_"

#: Tables that hold only measurements of a run (times, memory, cache hits): never compared.
MEASUREMENT_TABLES = ("extraction_runs.csv", "extraction_plan_vs_measured.csv", "run_seconds.csv")
#: Measurement columns by exact name ...
MEASUREMENT_COLUMNS = ("seconds", "mean_seconds", "cache_hit", "computed", "written_disk_mb",
                       "peak_rss_gb", "peak_gpu_gb", "peak_memory_gb")
#: ... by prefix ...
MEASUREMENT_PREFIXES = ("measured_", "peak_")
#: ... and by suffix (``*_s``: seconds; durations of the audio, ``*duration_s``, are data)
MEASUREMENT_SUFFIXES = ("_seconds", "_s_per_s", "_s")
DATA_SUFFIXES = ("duration_s",)

#: Columns that name the layer(s) a row chose: not part of a row's identity; changes listed.
LAYER_CHOICE_COLUMNS = ("layers_chosen", "best_layer", "chosen_layer", "oracle_layer")
#: The columns that make a table a comparison table with a conclusion per row.
CONCLUSION_COLUMNS = ("p_holm", "difference")


def is_measurement_column(name: str) -> bool:
    """True for a column that measures the run (time, memory, cache use) rather than a result."""
    name = str(name)
    if name in MEASUREMENT_COLUMNS or name.startswith(MEASUREMENT_PREFIXES):
        return True
    return name.endswith(MEASUREMENT_SUFFIXES) and not name.endswith(DATA_SUFFIXES)


def is_probability_column(name: str) -> bool:
    return str(name).startswith(PROBABILITY_PREFIX) and str(name) != "p_holm" and str(name) != "p_value"


def verdict(p_holm: Any, difference: Any) -> str:
    """"A better", "B better" or "no clear difference" (Holm p < 0.05 and the sign)."""
    p, d = _number(p_holm), _number(difference)
    if p is None or d is None or not p < SIGNIFICANCE or d == 0:
        return "no clear difference"
    return "A better" if d > 0 else "B better"


@dataclass(frozen=True)
class TableResult:
    """One table's outcome: its path relative to the results folder, status and detail."""

    path: str
    status: str
    detail: str = ""

    def line(self) -> str:
        return f"{self.path}: {self.status}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class RowChange:
    """A row of a table whose conclusion (or chosen layers) differs between the two folders."""

    table: str
    key: str
    before: str
    after: str

    def line(self) -> str:
        return f"{self.table}: {self.key}: {self.before} -> {self.after}"


@dataclass
class Reproduction:
    """The comparison of a committed results folder with a rerun."""

    tables: list[TableResult] = field(default_factory=list)
    conclusions_checked: int = 0
    conclusion_changes: list[RowChange] = field(default_factory=list)
    layer_changes: list[RowChange] = field(default_factory=list)

    def with_status(self, status: str) -> list[TableResult]:
        return [table for table in self.tables if table.status == status]

    @property
    def exit_status(self) -> int:
        """0 when no conclusion changed and no table is missing; else 1."""
        return 1 if self.conclusion_changes or self.with_status(MISSING) else 0

    def lines(self) -> list[str]:
        """The printed report: one line per table, the conclusions, the layer choices."""
        out = [TOLERANCE_STATEMENT]
        out += [f"  {table.line()}" for table in self.tables]
        counts = pd.Series([table.status for table in self.tables], dtype=object).value_counts()
        out.append("tables: " + ("; ".join(f"{count} {status}" for status, count in counts.items())
                                 or "none"))
        out.append(f"conclusions: {self.conclusions_checked} checked, "
                   f"{len(self.conclusion_changes)} changed")
        out += [f"  {change.line()}" for change in self.conclusion_changes]
        if self.layer_changes:
            out.append(f"chosen layers changed (for information): {len(self.layer_changes)} rows")
            out += [f"  {change.line()}" for change in self.layer_changes]
        return out


# --- reading -------------------------------------------------------------------------------


def table_paths(results_dir: Path) -> list[str]:
    """Every table of a results folder, relative to it, sorted: ``tables/**/*.csv``,
    ``tables/predictions/*.csv.gz`` and the run's own ``run_seconds.csv``."""
    results_dir = Path(results_dir)
    tables = results_dir / TABLES_FOLDER
    found = set()
    if tables.is_dir():
        found |= {path for path in tables.rglob("*.csv")}
        found |= {path for path in (tables / PREDICTIONS_FOLDER).glob("*.csv.gz")}
    if (results_dir / "run_seconds.csv").is_file():
        found.add(results_dir / "run_seconds.csv")
    return sorted(path.relative_to(results_dir).as_posix() for path in found if path.is_file())


def read_text_table(path: Path) -> pd.DataFrame:
    """A CSV (gzipped when its name ends in ``.gz``) with every cell as its exact text."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, OSError) as error:
        raise SerlibError(f"{path} cannot be read as a CSV table ({error}); rerun the notebook "
                          "that writes it, or delete it") from None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _numeric(column: pd.Series) -> pd.Series:
    return pd.to_numeric(column, errors="coerce")


def text_columns(table: pd.DataFrame) -> list[str]:
    """Columns with at least one non-empty cell and no cell that reads as a number."""
    columns = []
    for name in table.columns:
        cells = table[name][table[name] != ""]
        if len(cells) and _numeric(cells).isna().all():
            columns.append(name)
    return columns


def _sortable(column: pd.Series) -> pd.Series:
    """A column as numbers when every non-empty cell is one, else as its text."""
    numbers = _numeric(column)
    return numbers if (numbers.notna() == (column != "")).all() else column


def in_row_order(table: pd.DataFrame, key_columns: list[str]) -> pd.DataFrame:
    """``table`` sorted by its key columns, then by every other column (numbers as numbers),
    so that rows sharing a key (folds, layers, seeds) pair up whatever order they were written in."""
    if table.empty:
        return table
    order = [*key_columns, *(c for c in table.columns if c not in key_columns)]
    sortable = pd.DataFrame({f"c{i}": _sortable(table[c]).values for i, c in enumerate(order)},
                            index=table.index)
    ranked = sortable.sort_values(list(sortable.columns), kind="stable", na_position="last")
    return table.loc[ranked.index]


def row_keys(table: pd.DataFrame, key_columns: list[str]) -> pd.Series:
    """One key per row: the key columns' text joined by " / ", plus the occurrence number
    when a key repeats (rows of the same key are matched in :func:`in_row_order`)."""
    if key_columns:
        joined = table[key_columns[0]].astype(str)
        for column in key_columns[1:]:
            joined = joined + " / " + table[column].astype(str)
    else:
        joined = pd.Series([""] * len(table), index=table.index, dtype=object)
    occurrence = joined.groupby(joined).cumcount()
    return joined.where(occurrence == 0, joined + " #" + (occurrence + 1).astype(str))


# --- one table -----------------------------------------------------------------------------


def _relative_differences(before: pd.Series, after: pd.Series) -> pd.Series:
    a, b = _numeric(before), _numeric(after)
    scale = np.maximum(a.abs(), b.abs())
    return ((a - b).abs() / scale.where(scale > 0, 1.0)).where(a.notna() & b.notna())


def _cells_equal(before: pd.Series, after: pd.Series) -> pd.Series:
    """Cell by cell: the same text, or two numbers within the tolerance."""
    a, b = _numeric(before), _numeric(after)
    gap = (a - b).abs()
    close = (gap <= ABSOLUTE_TOLERANCE) | (gap <= RELATIVE_TOLERANCE * np.maximum(a.abs(), b.abs()))
    return (before.values == after.values) | (a.notna() & b.notna() & close).values


def _aligned(before: pd.DataFrame, after: pd.DataFrame,
             key_columns: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, str | None]:
    """Both tables indexed by their row keys in the committed order; a detail when the row
    sets differ."""
    before = in_row_order(before, key_columns)
    after = in_row_order(after, key_columns)
    before = before.set_axis(row_keys(before, key_columns), axis=0)
    after = after.set_axis(row_keys(after, key_columns), axis=0)
    only_before = before.index.difference(after.index)
    only_after = after.index.difference(before.index)
    if len(only_before) or len(only_after):
        example = (only_before if len(only_before) else only_after)[0]
        return before, after, (f"rows differ: {len(only_before)} only in the committed table, "
                               f"{len(only_after)} only in the rerun (e.g. {example!r}); "
                               f"{len(before)} vs {len(after)} rows")
    return before, after.loc[before.index], None


def _compare_columns(before: pd.DataFrame, after: pd.DataFrame) -> str | None:
    """None when the column sets match, else what differs."""
    if list(before.columns) == list(after.columns):
        return None
    gone = [c for c in before.columns if c not in after.columns]
    added = [c for c in after.columns if c not in before.columns]
    if not gone and not added:
        return None  # the same columns in another order
    return f"columns differ: only committed {gone}, only rerun {added}"


def compare_table(path: str, before_file: Path, after_file: Path) -> TableResult:
    """Compare one ordinary table (see the module docstring for the rules)."""
    before, after = read_text_table(before_file), read_text_table(after_file)
    timing = [c for c in before.columns if is_measurement_column(c)]
    before = before.drop(columns=timing)
    after = after.drop(columns=[c for c in after.columns if is_measurement_column(c)])
    note = f"timing columns not compared: {', '.join(timing)}" if timing else ""
    columns = _compare_columns(before, after)
    if columns:
        return TableResult(path, DIFFERENT, _join(columns, note))
    after = after[list(before.columns)]
    keys = [c for c in text_columns(before) if c not in LAYER_CHOICE_COLUMNS]
    before, after, rows = _aligned(before, after, keys)
    if rows:
        return TableResult(path, DIFFERENT, _join(rows, note))
    first, largest, where = None, 0.0, None
    for name in before.columns:
        if first is None and not _cells_equal(before[name], after[name]).all():
            first = name
        relative = _relative_differences(before[name], after[name]).max()
        if pd.notna(relative) and relative > largest:
            largest, where = float(relative), name
    size = f"largest relative difference {largest:.3g}" + (f" in {where}" if where else "")
    if first is not None:
        return TableResult(path, DIFFERENT, _join(f"first differing column {first}; {size}", note))
    return TableResult(path, WITHIN_TOLERANCE, _join(size, note))


def compare_predictions(path: str, before_file: Path, after_file: Path) -> TableResult:
    """Compare a per-utterance predictions table: rows must match, ``predicted`` agree on
    >= 99% of them; ``p_<class>`` columns are reported by their largest absolute difference."""
    before, after = read_text_table(before_file), read_text_table(after_file)
    columns = _compare_columns(before, after)
    if columns:
        return TableResult(path, DIFFERENT, columns)
    if PREDICTED_COLUMN not in before.columns:
        raise SerlibError(f"{before_file} has no {PREDICTED_COLUMN!r} column; a predictions table "
                          "needs one (rerun the probe notebook that writes it)")
    probabilities = [c for c in before.columns if is_probability_column(c)]
    keys = [c for c in before.columns if c != PREDICTED_COLUMN and c not in probabilities]
    before, after, rows = _aligned(before, after[list(before.columns)], keys)
    if rows:
        return TableResult(path, DIFFERENT, rows)
    agree = float((before[PREDICTED_COLUMN].values == after[PREDICTED_COLUMN].values).mean()) if len(before) else 1.0
    changed = int(round((1 - agree) * len(before)))
    detail = f"predicted label agrees on {agree:.2%} of {len(before)} rows ({changed} changed)"
    if probabilities:
        gaps = [(_numeric(before[c]) - _numeric(after[c])).abs().max() for c in probabilities]
        largest = max((gap for gap in gaps if pd.notna(gap)), default=0.0)
        detail += f"; largest probability difference {largest:.3g}"
    return TableResult(path, WITHIN_TOLERANCE if agree >= PREDICTION_AGREEMENT else DIFFERENT, detail)


def _join(*parts: str) -> str:
    return "; ".join(part for part in parts if part)


# --- conclusions ---------------------------------------------------------------------------


def _comparison_rows(table: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in text_columns(table) if c not in LAYER_CHOICE_COLUMNS
            and not is_measurement_column(c)]
    table = in_row_order(table, keys)
    return table.set_axis(row_keys(table, keys), axis=0)


def conclusion_changes(path: str, before_file: Path, after_file: Path) -> tuple[int, list[RowChange]]:
    """(rows checked, rows whose verdict changed) of a comparison table; a committed row that
    the rerun lacks counts as changed."""
    before = _comparison_rows(read_text_table(before_file))
    after = _comparison_rows(read_text_table(after_file))
    if not set(CONCLUSION_COLUMNS) <= set(after.columns):
        return len(before), [RowChange(path, key, verdict(row["p_holm"], row["difference"]),
                                       "(no p_holm/difference in the rerun)")
                             for key, row in before.iterrows()]
    changes = []
    for key, row in before.iterrows():
        was = verdict(row["p_holm"], row["difference"])
        if key not in after.index:
            changes.append(RowChange(path, key, was, "(row absent from the rerun)"))
            continue
        now = verdict(after.at[key, "p_holm"], after.at[key, "difference"])
        if now != was:
            changes.append(RowChange(path, key, was, now))
    return len(before), changes


def layer_choice_changes(path: str, before_file: Path, after_file: Path) -> list[RowChange]:
    """Rows (matched as for conclusions) whose chosen-layer columns differ."""
    before = _comparison_rows(read_text_table(before_file))
    after = _comparison_rows(read_text_table(after_file))
    changes = []
    for column in (c for c in LAYER_CHOICE_COLUMNS if c in before.columns and c in after.columns):
        shared = before.index.intersection(after.index, sort=False)
        for key in shared:
            was, now = before.at[key, column], after.at[key, column]
            if was != now:
                changes.append(RowChange(path, f"{key}: {column}", repr(was), repr(now)))
    return changes


def _has_columns(file: Path, columns: tuple[str, ...]) -> bool:
    try:
        header = pd.read_csv(file, nrows=0).columns
    except pd.errors.EmptyDataError:  # an empty file (identical in both folders) has no columns
        return False
    return set(columns) <= set(header)


# --- two folders ---------------------------------------------------------------------------


def compare_results(committed: Path, rerun: Path, rewritten: set[str] | None = None,
                    whole_run: bool = True) -> Reproduction:
    """Compare every table of ``committed`` with ``rerun`` (both results folders).

    ``rewritten``: the tables (paths relative to the folder) that the rerun wrote; the others
    are "not rerun" (``whole_run`` False) or "missing" (``whole_run``: the rerun should have
    written every table). None: every table present in ``rerun`` counts as written (two
    folders from independent runs).
    """
    committed, rerun = Path(committed), Path(rerun)
    if not (committed / TABLES_FOLDER).is_dir():
        raise SerlibError(f"{committed} has no {TABLES_FOLDER}/ folder: nothing to compare; run "
                          "the study (./run_all.sh PROFILE) to write it first")
    before_tables, after_tables = table_paths(committed), table_paths(rerun)
    after_set = set(after_tables)
    rewritten = after_set if rewritten is None else set(rewritten) & after_set
    report = Reproduction()
    for path in before_tables:
        name = Path(path).name
        if name in MEASUREMENT_TABLES:
            report.tables.append(TableResult(path, MEASUREMENT))
        elif path not in rewritten:
            if path not in after_set:
                report.tables.append(TableResult(path, MISSING, "absent from the rerun"))
            elif whole_run:
                report.tables.append(TableResult(path, MISSING, "the whole rerun did not write it"))
            else:
                report.tables.append(TableResult(path, NOT_RERUN))
        else:
            _compare_one(report, path, committed / path, rerun / path)
    for path in after_tables:
        if path not in set(before_tables):
            report.tables.append(TableResult(path, NEW, "only in the rerun"))
    return report


def _compare_one(report: Reproduction, path: str, before: Path, after: Path) -> None:
    if before.read_bytes() == after.read_bytes():
        report.tables.append(TableResult(path, IDENTICAL))
    elif path.endswith(".csv.gz"):
        report.tables.append(compare_predictions(path, before, after))
    else:
        report.tables.append(compare_table(path, before, after))
    if path.endswith(".csv.gz"):
        return
    if _has_columns(before, CONCLUSION_COLUMNS):
        checked, changes = conclusion_changes(path, before, after)
        report.conclusions_checked += checked
        report.conclusion_changes += changes
    if any(_has_columns(before, (column,)) for column in LAYER_CHOICE_COLUMNS):
        report.layer_changes += layer_choice_changes(path, before, after)


# --- environment records -------------------------------------------------------------------


def _flatten(record: dict | None, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in (record or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def environment_differences(committed: dict | None, rerun: dict | None) -> list[tuple[str, str, str]]:
    """``(field, committed value, rerun value)`` for every field of the two environment
    records that differs (nested fields dotted; lists summarised by what was added/removed)."""
    before, after = _flatten(committed), _flatten(rerun)
    rows = []
    for name in sorted(set(before) | set(after)):
        was, now = before.get(name, "(absent)"), after.get(name, "(absent)")
        if was == now:
            continue
        if isinstance(was, list) and isinstance(now, list):
            removed = sorted(set(map(str, was)) - set(map(str, now)))
            added = sorted(set(map(str, now)) - set(map(str, was)))
            rows.append((name, f"{len(was)} items; only here: {' '.join(removed) or '-'}",
                         f"{len(now)} items; only here: {' '.join(added) or '-'}"))
        else:
            rows.append((name, _show(was), _show(now)))
    return rows


def _show(value: Any) -> str:
    return value if isinstance(value, str) else ("null" if value is None else str(value))


def environment_lines(committed: dict | None, rerun: dict | None) -> list[str]:
    """The two environment records side by side, only the fields that differ."""
    if committed is None:
        return ["environment: the committed folder has no environment.json (written by runs "
                "since serlib records it); nothing to set beside this run's"]
    rows = environment_differences(committed, rerun)
    if not rows:
        return ["environment: the two records agree on every field"]
    width = max(len(name) for name, _, _ in rows)
    out = [f"environment records, the fields that differ ({len(rows)}): committed | rerun"]
    out += [f"  {name.ljust(width)}  {was} | {now}" for name, was, now in rows]
    return out
