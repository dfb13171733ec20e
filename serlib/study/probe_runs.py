"""Notebooks 03-05: one probe over every model x corpus of the profile, cached."""

from __future__ import annotations

import pandas as pd

from serlib.common.errors import SerlibError
from serlib.common.files import write_csv_atomically
from serlib.probing.columns import LAYER_WEIGHT_COLUMNS, RESULT_COLUMNS
from serlib.study.config import ModelSpec, StudyConfig
from serlib.study.execution import JobSpec, run_jobs
from serlib.study.frame_runs import frame_probes
from serlib.study.stores import feature_folder
from serlib.study.prepare import PreparedCorpus
from serlib.study.probe_cache import labelled_tables, probe_applies, probe_entry, probe_label
from serlib.study.tables import predictions_path, table_path


def probe_run(config: StudyConfig, model: ModelSpec, corpus: PreparedCorpus, probe: str,
              **overrides) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Results, layer weights and per-utterance predictions of one probe on one model x corpus
    under the profile's current protocol (every fold), cached in the work dir.

    The cache is keyed by the feature store's key, the split file's content, the probe's
    settings and the training code's version; any change retrains. Files are written atomically.
    Frame-level probes are trained by :func:`serlib.study.frame_runs.frame_probes`, every
    frame-level probe and protocol of the model x corpus at once on frames held in memory.
    """
    from serlib.probing.kinds import get_probe_kind
    from serlib.probing.train import train_probe

    entry = probe_entry(config, model, corpus, probe, **overrides)
    if get_probe_kind(probe).input == "frames" and not entry.is_cached():
        frame_probes(config, model, corpus, overrides=overrides)

    def train() -> list[pd.DataFrame]:
        if get_probe_kind(probe).input == "frames":
            raise SerlibError(f"the frame-level stage did not write {entry.cache / entry.stem}; rerun")
        run = train_probe(feature_folder(config, model, corpus.corpus_id), entry.split_file,
                          probe=probe, corpus=corpus.corpus_id, model=model.model_id,
                          language=corpus.language, protocol=config.split_protocol, **entry.settings)
        return labelled_tables(run, entry.label)

    return entry.tables(train)


def probe_all(config: StudyConfig, prepared: list[PreparedCorpus], probe: str,
              **overrides) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One probe over every model x corpus of the profile under its current protocol (every
    fold); results, layer weights and per-utterance predictions also written to results.

    Pairs the probe does not apply to are skipped (:func:`probe_applies`), and so are models
    not listed in the profile's ``probes.per_probe.<probe>.models`` where that list is given.
    A probe whose ``per_probe.<probe>.protocols`` list leaves out the current protocol, or whose
    ``models`` list is empty, is not run: empty tables come back. Jobs run where the profile's ``execution:`` section says.
    """
    per_probe = (config.probes.get("per_probe") or {}).get(probe) or {}
    only_models, only_protocols = per_probe.get("models"), per_probe.get("protocols")
    if only_protocols is not None and config.split_protocol not in only_protocols:
        return pd.DataFrame(columns=RESULT_COLUMNS), pd.DataFrame(columns=LAYER_WEIGHT_COLUMNS)
    models = [model for model in config.models if only_models is None or model.model_id in only_models]
    if not models:  # an empty list in the profile: the probe is not run
        return pd.DataFrame(columns=RESULT_COLUMNS), pd.DataFrame(columns=LAYER_WEIGHT_COLUMNS)
    jobs = [JobSpec(f"probe {probe} {model.model_id} x {corpus.corpus_id}", probe_run,
                    (config, model, corpus, probe), overrides)
            for model in models for corpus in prepared
            if probe_applies(config, model, corpus.corpus_id, probe)]
    runs = run_jobs(jobs, config.execution, config.work_dir / "jobs")
    results, weights, predictions = (pd.concat([run[part] for run in runs], ignore_index=True)
                                     for part in range(3))
    label = probe_label(config, probe, **overrides)
    write_csv_atomically(results, table_path(config, f"probe_{label}"))
    write_csv_atomically(predictions, predictions_path(config, label))
    if not weights.empty:
        write_csv_atomically(weights, table_path(config, f"layer_weights_{label}"))
    return results, weights


def majority_levels(prepared: list[PreparedCorpus], split: str = "test") -> dict[str, float]:
    """Majority-class accuracy of ``split`` per corpus: the floor drawn beside every curve."""
    from serlib.report.analysis import reference_levels

    levels = {}
    for corpus in prepared:
        table = reference_levels(corpus.split_path).set_index("split")  # main protocol
        levels[corpus.corpus_id] = float(table.loc[split, "majority_accuracy"])
    return levels
