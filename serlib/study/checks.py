"""Checks before a run: everything a profile needs that is missing, listed at once."""

from __future__ import annotations

from pathlib import Path

from serlib.common.errors import SerlibError
from serlib.data.corpora import get_corpus
from serlib.study.config import CorpusSpec, ModelSpec, StudyConfig
from serlib.study.prepare import SYNTHETIC


def _corpus_problem(spec: CorpusSpec) -> str | None:
    if spec.name == SYNTHETIC:
        return None  # generated on demand
    try:
        get_corpus(spec.name)
    except SerlibError as error:
        return f"corpus {spec.corpus_id}: {error}"
    if spec.root is None:
        return f"corpus {spec.corpus_id}: root not set: {spec.describe_root()}"
    if spec.generate:
        return None  # written on demand (serlib.data.layouts)
    if not spec.root.is_dir():
        return f"corpus {spec.corpus_id}: root {spec.root} is not a folder ({spec.describe_root()})"
    return None


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    from serlib.features.registry import hub_reachable

    return hub_reachable(timeout_s)


def model_location(source: str) -> str:
    """Where a model would load from: ``random``, ``local`` folder, HF ``cache``, or ``hub``."""
    from huggingface_hub import try_to_load_from_cache

    from serlib.features.registry import RANDOM_PREFIX, TINY_RANDOM_CONFIGS, resolve_model_id

    from serlib.features.acoustic import is_acoustic
    from serlib.features.bundled_configs import has_bundled_config

    if source.removeprefix(RANDOM_PREFIX) in TINY_RANDOM_CONFIGS:
        return "random"
    if is_acoustic(source):
        return "local"
    bare = source.removeprefix(RANDOM_PREFIX)
    if source.startswith(RANDOM_PREFIX) and has_bundled_config(bare):
        return "random"  # built offline from serlib's bundled architecture when not cached
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
