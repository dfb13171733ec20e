"""Notebooks 03-05: one probe over every model x corpus of the profile, cached."""

from __future__ import annotations

import hashlib

import pandas as pd

from serlib.common.files import write_csv_atomically
from serlib.probing.columns import LAYER_WEIGHT_COLUMNS, RESULT_COLUMNS
from serlib.study.config import ModelSpec, StudyConfig
from serlib.study.execution import JobSpec, run_jobs
from serlib.study.extraction import feature_folder, finished_index
from serlib.study.prepare import PreparedCorpus
from serlib.study.tables import cached_tables, predictions_path, split_name, table_path


PROBE_SETTINGS = ("seeds", "epochs", "batch_size", "learning_rate", "standardize")


def probe_settings(config: StudyConfig, probe: str, overrides: dict | None = None) -> dict:
    """The paper's defaults, then the profile's ``probes`` settings, then the profile's
    ``probes.per_probe.<probe>`` settings, then the caller's (notebook parameters)."""
    settings = {"seeds": 5, "epochs": 30, "batch_size": 32, "learning_rate": 1e-3,
                "standardize": False}
    settings.update({k: v for k, v in config.probes.items() if k in PROBE_SETTINGS})
    per_probe = (config.probes.get("per_probe") or {}).get(probe) or {}
    settings.update({k: v for k, v in per_probe.items() if k in PROBE_SETTINGS})
    settings.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return settings


def probe_label(config: StudyConfig, probe: str, **overrides) -> str:
    """The name a probe's results carry: the probe's own name with the profile's input
    scaling, ``<probe>-raw`` or ``<probe>-standardized`` when a run departs from it."""
    standardize = probe_settings(config, probe, overrides)["standardize"]
    if standardize == probe_settings(config, probe, {})["standardize"]:
        return probe
    return f"{probe}-standardized" if standardize else f"{probe}-raw"


def probe_run(config: StudyConfig, model: ModelSpec, corpus: PreparedCorpus, probe: str,
              **overrides) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Results, layer weights and per-utterance predictions of one probe on one model x corpus
    under the profile's current protocol (every fold), cached in the work dir.

    The cache is keyed by the feature store's key, the split file's content, the probe's
    settings and the training code's version; any change retrains. Files are written atomically.
    """
    from serlib.features.store import cache_key, model_slug
    from serlib.probing.train import TRAINING_CODE_VERSION, train_probe

    settings = probe_settings(config, probe, overrides)
    split_file = corpus.split_file(config.split_protocol)
    index = finished_index(config, model, corpus.corpus_id)
    key = cache_key({"features": index["cache_key"], "probe": probe, **settings,
                     "training_code_version": TRAINING_CODE_VERSION,
                     "split_sha256": hashlib.sha256(split_file.read_bytes()).hexdigest()})
    label = probe_label(config, probe, **overrides)
    stem = f"{label}.{split_name(config)}"
    if settings.get("train_fraction") is not None:
        stem += f".train{settings['train_fraction']:g}"

    def train() -> list[pd.DataFrame]:
        run = train_probe(feature_folder(config, model, corpus.corpus_id), split_file,
                          probe=probe, corpus=corpus.corpus_id, model=model.model_id,
                          language=corpus.language, protocol=config.split_protocol, **settings)
        for table in (run.results, run.layer_weights, run.predictions):
            table["probe"] = label
        return [run.results, run.layer_weights, run.predictions]

    cache = config.work_dir / "probes" / model_slug(model.model_id) / corpus.corpus_id
    results, weights, predictions = cached_tables(
        cache, stem, key, train, names=(".csv", ".weights.csv", ".predictions.csv.gz"),
        record=settings, dtypes={"layer": str, "utterance_id": str, "speaker": str, "label": str,
                                 "predicted": str})
    results["layer"] = results["layer"].astype(str)
    return results, weights, predictions


def probe_applies(config: StudyConfig, model: ModelSpec, corpus_id: str, probe: str) -> bool:
    """Whether ``probe`` can run on the store of ``model`` x ``corpus_id``: frame-level probes
    need kept frames, probes that combine hidden states need more than one (the acoustic
    baselines have no frames and a single "hidden state")."""
    from serlib.probing.kinds import get_probe_kind
    from serlib.features.store import FRAMES_FILE, read_complete_index

    kind = get_probe_kind(probe)
    folder = feature_folder(config, model, corpus_id)
    if kind.input == "frames" and not (folder / FRAMES_FILE).is_file():
        return False
    index = read_complete_index(folder) or {}
    return kind.scope == "per_layer" or index.get("layers", 2) > 1


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


def probes_run_under(config: StudyConfig, probe: str) -> tuple[str, ...]:
    """The profile's protocols under which ``probe`` runs (``per_probe.<probe>.protocols``)."""
    per_probe = (config.probes.get("per_probe") or {}).get(probe) or {}
    listed = per_probe.get("protocols")
    if per_probe.get("models") == []:  # not run at all
        return ()
    return tuple(protocol for protocol in config.split_protocols if listed is None or protocol in listed)


def majority_levels(prepared: list[PreparedCorpus], split: str = "test") -> dict[str, float]:
    """Majority-class accuracy of ``split`` per corpus: the floor drawn beside every curve."""
    from serlib.report.analysis import reference_levels

    levels = {}
    for corpus in prepared:
        table = reference_levels(corpus.split_path).set_index("split")  # main protocol
        levels[corpus.corpus_id] = float(table.loc[split, "majority_accuracy"])
    return levels
