"""Where the study's tables go, and the cache rule for tables computed from features."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from serlib.common.errors import SerlibError
from serlib.common.files import atomic_write_text, write_csv_atomically
from serlib.common.locks import folder_lock
from serlib.study.config import StudyConfig


def split_name(config: StudyConfig) -> str:
    """``random-seed0``: the split protocol and seed of the profile's current protocol."""
    return f"{config.split_protocol}-seed{config.split_seed}"


def table_path(config: StudyConfig, stem: str) -> Path:
    """``tables/<stem>.<protocol>.csv``: every table computed under a protocol names it, so the
    tables of all protocols sit side by side."""
    return config.tables_dir / f"{stem}.{config.split_protocol}.csv"


def predictions_path(config: StudyConfig, probe_label: str) -> Path:
    """``tables/predictions/<probe>.<protocol>.csv.gz``: per-utterance predictions of a probe."""
    return config.tables_dir / "predictions" / f"{probe_label}.{config.split_protocol}.csv.gz"


def _read_written(path: Path, config: StudyConfig, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise SerlibError(f"{path} does not exist yet; run the notebook that trains the "
                          f"{what} first (./run_all.sh {config.profile})")
    return pd.read_csv(path, dtype={"layer": str, "utterance_id": str, "speaker": str,
                                    "label": str, "predicted": str})


def read_probe_table(config: StudyConfig, probe: str) -> pd.DataFrame:
    """The results table of ``probe`` written by :func:`probe_all` for this profile and protocol."""
    return _read_written(table_path(config, f"probe_{probe}"), config, f"{probe!r} probe")


def read_predictions(config: StudyConfig, probe: str) -> pd.DataFrame:
    """The per-utterance predictions of ``probe`` written by :func:`probe_all` (this protocol)."""
    return _read_written(predictions_path(config, probe), config, f"{probe!r} probe")


def cached_tables(cache: Path, stem: str, key: str, compute, names: tuple[str, ...] = (".csv",),
                  record: dict | None = None, dtypes: dict | None = None) -> list[pd.DataFrame]:
    """The tables ``cache/<stem><name>`` (CSV, gzipped for names ending in ``.gz``; read with
    ``dtypes``) when ``cache/<stem>.key.json`` holds ``key``; otherwise ``compute()`` (one
    table per name), written atomically, the key file last, so a half-written set is never
    taken as complete. ``record`` adds fields to the key file. The check, ``compute()`` and the
    writes hold the lock of ``cache/<stem>`` (:func:`serlib.common.locks.folder_lock`): a
    concurrent run waits, then reads what the first one wrote."""
    paths = [cache / f"{stem}{name}" for name in names]
    key_path = cache / f"{stem}.key.json"
    with folder_lock(cache / stem, what=f"computing the cached tables {stem}"):
        if key_path.is_file() and json.loads(key_path.read_text()).get("cache_key") == key:
            return [pd.read_csv(path, dtype=dtypes) for path in paths]
        tables = compute()
        key_path.unlink(missing_ok=True)
        for table, path in zip(tables, paths):
            write_csv_atomically(table, path)
        atomic_write_text(key_path, json.dumps({"cache_key": key, **(record or {})}, indent=2))
    return tables
