"""The study's stages run over a whole profile: what the notebooks call.

Each function takes the :class:`~serlib.config.StudyConfig` and runs one stage for every corpus
(and model) of the profile, reusing what earlier runs left on disk:

- :func:`preflight` lists everything a profile needs that is missing, before any work starts;
- :func:`prepare_corpora` writes each corpus's manifest and split (notebook 01);
- :func:`extract_all` fills the feature store for every model x corpus (notebook 02);
- :func:`probe_all` trains one probe for every model x corpus, cached (notebooks 03-05);
- :func:`layer_selection`, :func:`learning_curves`, :func:`with_protocol` (notebook 07) and
  :func:`transfer` (notebook 08) answer the questions beyond the paper.

Results tables go to ``results/<profile>/tables/`` (:func:`table_path`); caches to
``work/<profile>/``. The work of :func:`extract_all` and :func:`probe_all` runs as one job per
model x corpus through :mod:`serlib.execution` (in-process, or a SLURM array).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import socket
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from serlib.config import CorpusSpec, ModelSpec, StudyConfig, load_config
from serlib.corpora import build_manifest, get_corpus, write_manifest
from serlib.corpora.manifest import read_manifest, write_csv_atomically
from serlib.errors import SerlibError
from serlib.execution import JobSpec, run_jobs
from serlib.splits import load_or_create_split, split_path

SYNTHETIC = "synthetic"


@dataclass(frozen=True)
class PreparedCorpus:
    """A corpus of the profile with its manifest and split on disk."""

    corpus_id: str
    language: str
    manifest_path: Path
    split_path: Path

    def manifest(self) -> pd.DataFrame:
        return read_manifest(self.manifest_path)

    def split(self) -> pd.DataFrame:
        return pd.read_csv(self.split_path, dtype={"utterance_id": str, "speaker": str})


# --- checks before a run ------------------------------------------------------------------


def _corpus_problem(spec: CorpusSpec) -> str | None:
    if spec.name == SYNTHETIC:
        return None  # generated on demand
    try:
        get_corpus(spec.name)
    except SerlibError as error:
        return f"corpus {spec.corpus_id}: {error}"
    if spec.root is None:
        return f"corpus {spec.corpus_id}: root not set: {spec.describe_root()}"
    if not spec.root.is_dir():
        return f"corpus {spec.corpus_id}: root {spec.root} is not a folder ({spec.describe_root()})"
    return None


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def model_location(source: str) -> str:
    """Where a model would load from: ``random``, ``local`` folder, HF ``cache``, or ``hub``."""
    from huggingface_hub import try_to_load_from_cache

    from serlib.models import RANDOM_PREFIX, TINY_RANDOM_CONFIGS, resolve_model_id

    from serlib.acoustic import is_acoustic

    if source.removeprefix(RANDOM_PREFIX) in TINY_RANDOM_CONFIGS:
        return "random"
    if is_acoustic(source):
        return "local"
    bare = source.removeprefix(RANDOM_PREFIX)  # random-init controls still need the config
    if Path(bare).expanduser().is_dir():
        return "local"
    cached = try_to_load_from_cache(resolve_model_id(bare), "config.json")
    return "cache" if isinstance(cached, str) else "hub"


def _model_problem(spec: ModelSpec, hub_reachable: bool | None) -> tuple[str | None, bool | None]:
    if "${" in spec.source:
        return f"model {spec.model_id}: source not set: {spec.source_setting}", hub_reachable
    if model_location(spec.source) != "hub":
        return None, hub_reachable
    if hub_reachable is None:
        hub_reachable = _hub_reachable()
    if hub_reachable:
        return None, hub_reachable
    return (f"model {spec.model_id} ({spec.source}): not in the Hugging Face cache and the Hub "
            "cannot be reached; download it on a machine with network "
            "(huggingface-cli download ID) or give a local folder"), hub_reachable


def preflight(config: StudyConfig) -> list[str]:
    """Everything the profile needs that is missing: one line each, empty when ready."""
    problems = [problem for spec in config.corpora if (problem := _corpus_problem(spec))]
    hub_reachable = None
    for spec in config.models:
        problem, hub_reachable = _model_problem(spec, hub_reachable)
        if problem:
            problems.append(problem)
    if not config.corpora:
        problems.append(f"profile {config.profile}: no corpora listed in {config.source}")
    if not config.models:
        problems.append(f"profile {config.profile}: no models listed in {config.source}")
    return problems


# --- notebook 01: manifests and splits ------------------------------------------------------


def _corpus_manifest(spec: CorpusSpec) -> pd.DataFrame:
    if spec.name == SYNTHETIC:
        from serlib.synthetic import generate_synthetic_corpus

        generate_synthetic_corpus(spec.root)
    if spec.root is None:
        raise SerlibError(f"corpus {spec.corpus_id}: root not set: {spec.describe_root()}")
    manifest = build_manifest(spec.name, spec.root)
    if spec.language is not None:
        manifest = manifest[manifest["language"] == spec.language].reset_index(drop=True)
        if manifest.empty:
            raise SerlibError(f"corpus {spec.corpus_id}: no {spec.name} utterances in language "
                              f"{spec.language!r} under {spec.root}")
    return manifest


def prepare_corpus(config: StudyConfig, spec: CorpusSpec) -> PreparedCorpus:
    """Write the manifest of one corpus and its split (reused when the manifest is unchanged)."""
    manifest = _corpus_manifest(spec)
    manifest_path = write_manifest(manifest, config.manifest_dir / f"{spec.corpus_id}.csv")
    load_or_create_split(manifest_path, config.split_protocol, config.split_seed)
    language = manifest["language"].iloc[0] if manifest["language"].nunique() == 1 else "multi"
    return PreparedCorpus(spec.corpus_id, language, manifest_path,
                          split_path(manifest_path, config.split_protocol, config.split_seed))


def prepare_corpora(config: StudyConfig) -> list[PreparedCorpus]:
    """Manifests and splits for every corpus of the profile; splits also copied to results."""
    prepared = [prepare_corpus(config, spec) for spec in config.corpora]
    for corpus in prepared:
        write_csv_atomically(corpus.split(), config.results_dir / "splits" / corpus.split_path.name)
    return prepared


def corpus_summary(prepared: list[PreparedCorpus]) -> pd.DataFrame:
    """Per corpus: language, utterances, speakers, labels, hours and duration range."""
    rows = []
    for corpus in prepared:
        manifest = corpus.manifest()
        split = corpus.split()
        rows.append({
            "corpus": corpus.corpus_id,
            "language": corpus.language,
            "utterances": len(manifest),
            "speakers": manifest["speaker"].nunique(),
            "labels": manifest["label"].nunique(),
            "hours": round(manifest["duration_s"].sum() / 3600, 3),
            "median_duration_s": round(manifest["duration_s"].median(), 2),
            "train/dev/test": "/".join(str((split["split"] == part).sum())
                                       for part in ("train", "dev", "test")),
        })
    return pd.DataFrame(rows)


def label_counts(prepared: list[PreparedCorpus]) -> pd.DataFrame:
    """Utterances per corpus (rows) and canonical label (columns)."""
    frames = [corpus.manifest().assign(corpus=corpus.corpus_id) for corpus in prepared]
    table = pd.concat(frames).pivot_table(index="corpus", columns="label", values="utterance_id",
                                          aggfunc="count", fill_value=0)
    return table.reindex([corpus.corpus_id for corpus in prepared])


def all_manifests(prepared: list[PreparedCorpus]) -> pd.DataFrame:
    """All manifests of the profile in one table, with the profile's corpus id."""
    return pd.concat([corpus.manifest().assign(corpus_id=corpus.corpus_id) for corpus in prepared],
                     ignore_index=True)


def load_study(
    profile: str = "demo",
    corpora: list[str] | None = None,
    models: list[str] | None = None,
    split_protocol: str | None = None,
    split_seed: int | None = None,
    results_dir: str | None = None,
) -> StudyConfig:
    """The profile's config with a notebook's parameter overrides applied (None keeps the profile's)."""
    config = load_config(profile, results_dir=results_dir)
    changes = {}
    if corpora:
        changes["corpora"] = tuple(config.corpus(corpus_id) for corpus_id in corpora)
    if models:
        changes["models"] = tuple(config.model(model_id) for model_id in models)
    if split_protocol:
        changes["split_protocol"] = split_protocol
    if split_seed is not None:
        changes["split_seed"] = int(split_seed)
    return dataclasses.replace(config, **changes)


# --- notebook 02: features -----------------------------------------------------------------


def feature_folder(config: StudyConfig, model: ModelSpec, corpus_id: str) -> Path:
    """Where the feature store of ``model`` on ``corpus_id`` lives."""
    from serlib.store import store_folder

    return store_folder(config.feature_dir, model.model_id, corpus_id)


def extract_one(config: StudyConfig, model: ModelSpec, corpus: PreparedCorpus,
                settings: dict, progress: bool = True) -> dict:
    """Extract (or reuse) the features of one model x corpus; one row of the runs table."""
    from serlib.extract import extract_features

    result = extract_features(model.source, corpus.manifest_path, config.feature_dir,
                              corpus_name=corpus.corpus_id, model_label=model.model_id,
                              progress=progress, **settings)
    return {"model": model.model_id, "corpus": corpus.corpus_id,
            "utterances": result.num_utterances, "computed": result.num_computed,
            "cache_hit": result.cache_hit, "audio_s": round(result.audio_seconds, 1),
            "seconds": round(result.seconds, 2), "audio_s_per_s": round(result.throughput, 1)}


def extract_all(config: StudyConfig, prepared: list[PreparedCorpus], device: str | None = None,
                progress: bool = True) -> pd.DataFrame:
    """Run the extraction engine for every model x corpus; one row per run with its throughput.

    Finished stores with the same cache key are reused (``cache_hit``); an interrupted run
    resumes where it stopped. Jobs run where the profile's ``execution:`` section says
    (in-process by default, or a SLURM job array through submitit).
    """
    settings = dict(config.extraction)
    if device is not None:
        settings["device"] = device
    jobs = [JobSpec(f"extract {model.model_id} x {corpus.corpus_id}", extract_one,
                    (config, model, corpus, settings, progress))
            for model in config.models for corpus in prepared]
    return pd.DataFrame(run_jobs(jobs, config.execution, config.work_dir / "jobs"))


# --- notebooks 03-05: probes ----------------------------------------------------------------

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


def finished_index(config: StudyConfig, model: ModelSpec, corpus_id: str) -> dict:
    """The ``index.json`` of a finished feature store; a clear error when there is none."""
    from serlib.store import read_complete_index

    features = feature_folder(config, model, corpus_id)
    index = read_complete_index(features)
    if index is None:
        raise SerlibError(f"no finished features in {features}; run notebook 02 "
                          f"(or `serlib extract`) for {model.model_id} on {corpus_id} first")
    return index


def cached_tables(cache: Path, stem: str, key: str, compute, names: tuple[str, ...] = ("",),
                  record: dict | None = None, dtypes: dict | None = None) -> list[pd.DataFrame]:
    """The tables ``cache/<stem><name>.csv`` (read with ``dtypes``) when
    ``cache/<stem>.key.json`` holds ``key``; otherwise ``compute()`` (one table per name),
    written atomically, the key file last, so a half-written set is never taken as complete.
    ``record`` adds fields to the key file."""
    from serlib.store import atomic_write_text

    paths = [cache / f"{stem}{name}.csv" for name in names]
    key_path = cache / f"{stem}.key.json"
    if key_path.is_file() and json.loads(key_path.read_text()).get("cache_key") == key:
        return [pd.read_csv(path, dtype=dtypes) for path in paths]
    tables = compute()
    key_path.unlink(missing_ok=True)
    for table, path in zip(tables, paths):
        write_csv_atomically(table, path)
    atomic_write_text(key_path, json.dumps({"cache_key": key, **(record or {})}, indent=2))
    return tables


def probe_run(config: StudyConfig, model: ModelSpec, corpus: PreparedCorpus, probe: str,
              **overrides) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Results and layer weights of one probe on one model x corpus, cached in the work dir.

    The cache is keyed by the feature store's key, the split file's content and the probe's
    settings; any change retrains. Files are written atomically.
    """
    from serlib.store import cache_key, model_slug
    from serlib.train import run_probe

    settings = probe_settings(config, probe, overrides)
    index = finished_index(config, model, corpus.corpus_id)
    key = cache_key({"features": index["cache_key"], "probe": probe, **settings,
                     "split_sha256": hashlib.sha256(corpus.split_path.read_bytes()).hexdigest()})
    label = probe_label(config, probe, **overrides)
    stem = f"{label}.{split_name(config)}"
    if settings.get("train_fraction") is not None:
        stem += f".train{settings['train_fraction']:g}"

    def train() -> list[pd.DataFrame]:
        results, weights = run_probe(feature_folder(config, model, corpus.corpus_id),
                                     corpus.split_path, probe=probe, corpus=corpus.corpus_id,
                                     model=model.model_id, language=corpus.language, **settings)
        results["probe"] = label
        weights["probe"] = label
        return [results, weights]

    cache = config.work_dir / "probes" / model_slug(model.model_id) / corpus.corpus_id
    results, weights = cached_tables(cache, stem, key, train, names=("", ".weights"),
                                     record=settings, dtypes={"layer": str})
    results["layer"] = results["layer"].astype(str)
    return results, weights


def probe_applies(config: StudyConfig, model: ModelSpec, corpus_id: str, probe: str) -> bool:
    """Whether ``probe`` can run on the store of ``model`` x ``corpus_id``: frame-level probes
    need kept frames, probes that combine hidden states need more than one (the acoustic
    baselines have no frames and a single "hidden state")."""
    from serlib.probes import get_probe_kind
    from serlib.store import FRAMES_FILE, read_complete_index

    kind = get_probe_kind(probe)
    folder = feature_folder(config, model, corpus_id)
    if kind.input == "frames" and not (folder / FRAMES_FILE).is_file():
        return False
    index = read_complete_index(folder) or {}
    return kind.scope == "per_layer" or index.get("layers", 2) > 1


def probe_all(config: StudyConfig, prepared: list[PreparedCorpus], probe: str,
              **overrides) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One probe over every model x corpus of the profile; tables also written to results.

    Pairs the probe does not apply to are skipped (:func:`probe_applies`), and so are models
    not listed in the profile's ``probes.per_probe.<probe>.models`` where that list is given.
    Jobs run where the profile's ``execution:`` section says.
    """
    only_models = ((config.probes.get("per_probe") or {}).get(probe) or {}).get("models")
    models = [model for model in config.models if not only_models or model.model_id in only_models]
    jobs = [JobSpec(f"probe {probe} {model.model_id} x {corpus.corpus_id}", probe_run,
                    (config, model, corpus, probe), overrides)
            for model in models for corpus in prepared
            if probe_applies(config, model, corpus.corpus_id, probe)]
    pairs = run_jobs(jobs, config.execution, config.work_dir / "jobs")
    results = pd.concat([pair[0] for pair in pairs], ignore_index=True)
    weights = pd.concat([pair[1] for pair in pairs], ignore_index=True)
    label = probe_label(config, probe, **overrides)
    write_csv_atomically(results, table_path(config, f"probe_{label}"))
    if not weights.empty:
        write_csv_atomically(weights, table_path(config, f"layer_weights_{label}"))
    return results, weights


def split_name(config: StudyConfig) -> str:
    """``random-seed0``: the split protocol and seed the profile's runs use."""
    return f"{config.split_protocol}-seed{config.split_seed}"


def table_path(config: StudyConfig, stem: str) -> Path:
    """``tables/<stem>.csv`` for the paper's random split; ``tables/<stem>.<protocol>.csv``
    for another protocol, so both protocols' tables sit side by side."""
    suffix = "" if config.split_protocol == "random" else f".{config.split_protocol}"
    return config.tables_dir / f"{stem}{suffix}.csv"


def read_probe_table(config: StudyConfig, probe: str) -> pd.DataFrame:
    """The results table of ``probe`` written by :func:`probe_all` for this profile and protocol."""
    path = table_path(config, f"probe_{probe}")
    if not path.is_file():
        raise SerlibError(f"{path} does not exist yet; run the notebook that trains the "
                          f"{probe!r} probe first (./run_all.sh {config.profile})")
    return pd.read_csv(path, dtype={"layer": str})


def majority_levels(prepared: list[PreparedCorpus], split: str = "test") -> dict[str, float]:
    """Majority-class accuracy of ``split`` per corpus: the floor drawn beside every curve."""
    from serlib.analysis import reference_levels

    levels = {}
    for corpus in prepared:
        table = reference_levels(corpus.split_path).set_index("split")
        levels[corpus.corpus_id] = float(table.loc[split, "majority_accuracy"])
    return levels


# --- notebook 07: layer selection, data scaling, controls, speaker-independent split -------


def layered_models(config: StudyConfig) -> list[ModelSpec]:
    """The profile's models with more than one hidden state (not the acoustic baselines)."""
    from serlib.acoustic import is_acoustic

    return [model for model in config.models if not is_acoustic(model.source)]


def layer_selection(config: StudyConfig, prepared: list[PreparedCorpus],
                    linear_results: pd.DataFrame) -> pd.DataFrame:
    """Each criterion's chosen layer per model x corpus against the test-best (oracle) layer."""
    from serlib import layer_selection as selection

    models = layered_models(config)
    scores = [selection.cheap_criterion_scores(feature_folder(config, model, corpus.corpus_id),
                                               corpus.split_path, corpus=corpus.corpus_id,
                                               model=model.model_id)
              for model in models for corpus in prepared]
    layered = linear_results[linear_results["model"].isin([model.model_id for model in models])]
    scores.append(selection.dev_probe_scores(layered))
    return selection.evaluate_selection(layered, pd.concat(scores, ignore_index=True))


def learning_curves(config: StudyConfig, prepared: list[PreparedCorpus]) -> pd.DataFrame:
    """Learning curves of the best single layer vs aggregation for the models and corpora of
    the profile's ``analysis.scaling`` section (fractions, seeds, probes; cached like probes)."""
    from serlib.scaling import DEFAULT_FRACTIONS

    settings = config.analysis_settings("scaling")
    fractions = settings.get("fractions", DEFAULT_FRACTIONS)
    probes = settings.get("probes", ("linear", "aggregate-softmax"))
    seeds = settings.get("seeds", 3)
    corpus_ids = (config.analysis.get("scaling") or {}).get("corpora")
    corpora = [corpus for corpus in prepared if not corpus_ids or corpus.corpus_id in corpus_ids]
    tables = []
    for model in config.analysis_models("scaling"):
        for corpus in corpora:
            for probe in probes:
                for fraction in fractions:
                    results, _ = probe_run(config, model, corpus, probe, seeds=seeds,
                                           train_fraction=float(fraction))
                    tables.append(results)
    curves = pd.concat(tables, ignore_index=True)
    write_csv_atomically(curves, table_path(config, "learning_curves"))
    return curves


def with_protocol(config: StudyConfig, protocol: str) -> StudyConfig:
    """The same study under another split protocol (``speaker``: speaker-independent)."""
    return dataclasses.replace(config, split_protocol=protocol)


def protocol_gap(random_best: pd.DataFrame, speaker_best: pd.DataFrame) -> pd.DataFrame:
    """Best-layer test accuracy under the random (paper) and speaker-independent splits."""
    keys = ["corpus", "model", "probe"]
    columns = keys + ["best_layer", "test_mean", "test_ci_low", "test_ci_high"]
    table = random_best[columns].merge(speaker_best[columns], on=keys,
                                       suffixes=("_random", "_speaker"))
    table["gap"] = table["test_mean_random"] - table["test_mean_speaker"]
    return table


# --- notebook 08: cross-lingual transfer -----------------------------------------------------


def transfer_study(config: StudyConfig) -> StudyConfig:
    """The study restricted to the corpora and models of the profile's ``analysis.transfer``."""
    return dataclasses.replace(config, corpora=config.analysis_corpora("transfer"),
                               models=config.analysis_models("transfer"))


def transfer(config: StudyConfig, prepared: list[PreparedCorpus], model: ModelSpec,
             probe: str = "linear") -> pd.DataFrame:
    """Train on every corpus, test on every other over their shared labels, at the best dev
    layer of the training corpus and at the last layer (``serlib.transfer``); cached."""
    from serlib.store import cache_key, model_slug
    from serlib.transfer import transfer_matrix

    settings = probe_settings(config, probe, config.analysis_settings("transfer"))
    folders = {corpus.corpus_id: feature_folder(config, model, corpus.corpus_id) for corpus in prepared}
    splits = {corpus.corpus_id: corpus.split_path for corpus in prepared}
    key = cache_key({"features": [finished_index(config, model, corpus.corpus_id)["cache_key"]
                                  for corpus in prepared],
                     "splits": [path.read_bytes().decode() for path in splits.values()],
                     "probe": probe, **settings})
    cache = config.work_dir / "transfer" / model_slug(model.model_id)
    [table] = cached_tables(cache, f"{probe}.{split_name(config)}", key, lambda: [
        transfer_matrix(folders, splits, probe=probe, model=model.model_id, **settings)])
    return table
