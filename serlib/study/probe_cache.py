"""What a profile says about each probe (settings, protocols, models) and where its results are
cached: one :class:`ProbeEntry` per probe x model x corpus x protocol (notebooks 03-05)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from serlib.study.config import ModelSpec, StudyConfig
from serlib.study.stores import feature_folder, finished_index
from serlib.study.prepare import PreparedCorpus
from serlib.study.tables import cached_tables, split_name


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
    scaling, ``<probe>-raw``, ``<probe>-standardized`` or ``<probe>-speaker-standardized``
    (features standardised within each speaker) when a run departs from it."""
    standardize = probe_settings(config, probe, overrides)["standardize"]
    if standardize == probe_settings(config, probe, {})["standardize"]:
        return probe
    if standardize == "speaker":
        return f"{probe}-speaker-standardized"
    return f"{probe}-standardized" if standardize else f"{probe}-raw"


PREDICTION_DTYPES = {"layer": str, "utterance_id": str, "speaker": str, "label": str, "predicted": str}
TABLE_SUFFIXES = (".csv", ".weights.csv", ".predictions.csv.gz")


@dataclass(frozen=True)
class ProbeEntry:
    """The cache entry of one probe on one model x corpus under the profile's current protocol:
    where its tables live and the key they must have been computed under (the feature store's
    key, the split file's content, the probe's settings, the training code's version)."""

    config: StudyConfig
    model: ModelSpec
    corpus: PreparedCorpus
    probe: str
    settings: dict
    label: str
    key: str
    cache: Path
    stem: str

    @property
    def protocol(self) -> str:
        return self.config.split_protocol

    @property
    def split_file(self) -> Path:
        return self.corpus.split_file(self.protocol)

    def variant(self, name: str, **key_fields) -> "ProbeEntry":
        """The entry of the same probe trained on something else as well (another label of the
        manifest, degraded test copies): labelled ``<probe>@<name>``, keyed by this entry's key
        and ``key_fields``."""
        from serlib.features.store import cache_key

        label = f"{self.label}@{name}"
        return dataclasses.replace(self, label=label, stem=f"{label}.{self.stem.split('.', 1)[1]}",
                                   key=cache_key({"entry": self.key, **key_fields}))

    def is_cached(self) -> bool:
        key_file = self.cache / f"{self.stem}.key.json"
        try:
            return json.loads(key_file.read_text()).get("cache_key") == self.key
        except (OSError, ValueError):
            return False

    def tables(self, compute) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """The cached tables, or ``compute()``'s (written atomically, the key last)."""
        results, weights, predictions = cached_tables(self.cache, self.stem, self.key, compute,
                                                      names=TABLE_SUFFIXES, record=self.settings,
                                                      dtypes=PREDICTION_DTYPES)
        results["layer"] = results["layer"].astype(str)
        return results, weights, predictions


def probe_entry(config: StudyConfig, model: ModelSpec, corpus: PreparedCorpus, probe: str,
                **overrides) -> ProbeEntry:
    """The :class:`ProbeEntry` of ``probe`` with the profile's settings and ``overrides``."""
    from serlib.features.store import cache_key, model_slug
    from serlib.probing.train import TRAINING_CODE_VERSION

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
    cache = config.work_dir / "probes" / model_slug(model.model_id) / corpus.corpus_id
    return ProbeEntry(config, model, corpus, probe, settings, label, key, cache, stem)


def labelled_tables(run, label: str) -> list[pd.DataFrame]:
    """A :class:`~serlib.probing.train.ProbeRun`'s three tables with the probe named ``label``."""
    for table in (run.results, run.layer_weights, run.predictions):
        table["probe"] = label
    return [run.results, run.layer_weights, run.predictions]


def probes_run_under(config: StudyConfig, probe: str) -> tuple[str, ...]:
    """The profile's protocols under which ``probe`` runs (``per_probe.<probe>.protocols``)."""
    per_probe = (config.probes.get("per_probe") or {}).get(probe) or {}
    listed = per_probe.get("protocols")
    if per_probe.get("models") == []:  # not run at all
        return ()
    return tuple(protocol for protocol in config.split_protocols if listed is None or protocol in listed)


def probe_applies(config: StudyConfig, model: ModelSpec, corpus_id: str, probe: str) -> bool:
    """Whether ``probe`` can run on the store of ``model`` x ``corpus_id``: probes that combine
    hidden states need more than one, and frame-level probes need a speech model (the acoustic
    baselines have no frames and a single "hidden state"). Frames need not be on disk: the
    frame-level stage holds them in memory."""
    from serlib.features.registry import ACOUSTIC_PREFIX
    from serlib.probing.kinds import get_probe_kind
    from serlib.features.store import read_complete_index

    kind = get_probe_kind(probe)
    if kind.input == "frames" and model.source.startswith(ACOUSTIC_PREFIX):
        return False
    index = read_complete_index(feature_folder(config, model, corpus_id)) or {}
    return kind.scope == "per_layer" or index.get("layers", 2) > 1
