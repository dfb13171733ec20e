"""Study profiles: ``params/<profile>.yaml`` -> :class:`StudyConfig`.

A profile says which corpora (and where their roots are), which models, which split protocol
and which probes one run of the study uses. Every stage receives the config object; no stage
reads globals or hard-coded paths.

Values may name environment variables as ``${NAME}`` or ``${NAME:-default}``, so data roots
live outside the repository (``SERLIB_EMODB_ROOT=/data/emodb ./run_all.sh paper``). Relative
paths are resolved against the repository root (the folder that holds ``params/``).

Three environment variables move a run's folders without editing the profile (``serlib
reproduce`` uses them to rerun into a scratch folder; notebook kernels inherit them from the
process that starts them). Each wins over the profile's key of the same name:

- ``SERLIB_WORK_DIR``: the caches (manifests, probe results, jobs; ``work_dir:``, default
  ``work/<profile>``);
- ``SERLIB_RESULTS_DIR``: the results folder (``results_dir:``, default ``results/<profile>``);
- ``SERLIB_FEATURE_DIR``: the feature stores (``feature_dir:``, default ``<work_dir>/features``).
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from serlib.common.errors import SerlibError
from serlib.study.kernels import NATIVE, check_setting
from serlib.data.splits import DEFAULT_REPEATS, PROTOCOLS

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS_DIR = REPO_ROOT / "params"

#: Environment variables that move a run's folders (they win over the profile's keys).
WORK_DIR_VARIABLE = "SERLIB_WORK_DIR"
RESULTS_DIR_VARIABLE = "SERLIB_RESULTS_DIR"
FEATURE_DIR_VARIABLE = "SERLIB_FEATURE_DIR"

RANDOM_PREFIX = "random:"  # same as serlib.features.models.RANDOM_PREFIX, without importing torch
_ENV_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


class _MissingVariable(str):
    """Marker for a ``${NAME}`` without default whose variable is unset."""


def expand_environment(text: str) -> str | None:
    """Replace ``${NAME}`` / ``${NAME:-default}``; None if a variable without default is unset."""
    missing = False

    def substitute(match: re.Match) -> str:
        nonlocal missing
        value = os.environ.get(match["name"])
        if value:
            return value
        if match["default"] is not None:
            return match["default"]
        missing = True
        return ""

    expanded = _ENV_REFERENCE.sub(substitute, text)
    return None if missing else expanded


def _environment_names(text: str) -> list[str]:
    return [match["name"] for match in _ENV_REFERENCE.finditer(text)]


@dataclass(frozen=True)
class CorpusSpec:
    """One corpus of the study as the profile names it.

    ``corpus_id`` is the name used in tables and file names; ``name`` the registry name of the
    parser; ``language`` optionally keeps only that language's rows (the synthetic corpus is
    split into one corpus per language this way).
    """

    corpus_id: str
    name: str
    root: Path | None
    root_setting: str
    language: str | None = None
    #: ``layout``: write a small generated tree in the corpus's published layout at ``root``
    #: when it is missing (:mod:`serlib.data.layouts`, the paper rehearsal); None: real data
    generate: str | None = None

    def describe_root(self) -> str:
        variables = _environment_names(self.root_setting)
        if variables:
            return f"{self.root_setting} (set {' or '.join(variables)})"
        return self.root_setting


@dataclass(frozen=True)
class ModelSpec:
    """One model of the study: ``model_id`` names it in tables, ``source`` is what is loaded.

    ``source`` is a registry short name, a Hugging Face id, a ``random:`` name or a local
    folder; a profile may give just the name (then both are the same) or both.
    """

    model_id: str
    source: str
    source_setting: str


@dataclass(frozen=True)
class StudyConfig:
    """Everything one run of the study needs, read from a profile file."""

    profile: str
    description: str
    figure_label: str
    work_dir: Path
    results_dir: Path
    corpora: tuple[CorpusSpec, ...]
    models: tuple[ModelSpec, ...]
    split_protocol: str = "random"
    split_seed: int = 0
    #: every protocol the profile reports, the main one first (``split: protocols:``)
    split_protocols: tuple[str, ...] = ("random",)
    #: split seeds of the ``random`` protocol (``split: repeats:``)
    split_repeats: int = 5
    #: EmoBox's ``data/`` folder and corpus name, for the ``emobox`` protocol (``split:
    #: emobox_data:``, ``emobox_corpus:``; the corpus defaults to the manifest's)
    emobox_data: Path | None = None
    emobox_corpus: str | None = None
    extraction: dict[str, Any] = field(default_factory=dict)
    probes: dict[str, Any] = field(default_factory=dict)
    analysis: dict[str, Any] = field(default_factory=dict)
    execution: dict[str, Any] = field(default_factory=dict)
    #: ``cpu_kernels:`` (:mod:`serlib.study.kernels`): ``native`` or a pinned instruction set
    cpu_kernels: str = "native"
    source: Path | None = None
    #: the feature stores (``feature_dir:`` or ``SERLIB_FEATURE_DIR``); None: ``work_dir/features``
    feature_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.feature_dir is None:
            object.__setattr__(self, "feature_dir", self.work_dir / "features")

    @property
    def manifest_dir(self) -> Path:
        return self.work_dir / "manifests"

    @property
    def tables_dir(self) -> Path:
        return self.results_dir / "tables"

    @property
    def figures_dir(self) -> Path:
        return self.results_dir / "figures"

    def model(self, model_id: str) -> ModelSpec:
        for spec in self.models:
            if spec.model_id == model_id:
                return spec
        known = ", ".join(spec.model_id for spec in self.models)
        raise SerlibError(f"profile {self.profile!r} has no model {model_id!r}; it has: {known}")

    def analysis_corpora(self, section: str) -> tuple[CorpusSpec, ...]:
        """The corpora listed under ``analysis.<section>.corpora`` (default: the profile's).

        Lets an analysis (cross-lingual transfer, say) use corpora beyond the main ones: a
        profile with a single real corpus can add the synthetic corpora's languages there.
        """
        entries = (self.analysis.get(section) or {}).get("corpora")
        if not entries:
            return self.corpora
        return tuple(_parse_corpus(entry, self.source or PARAMS_DIR) for entry in entries)

    def analysis_settings(self, section: str) -> dict[str, Any]:
        """``analysis.<section>`` of the profile without its ``corpora`` and ``models`` lists."""
        return {key: value for key, value in (self.analysis.get(section) or {}).items()
                if key not in ("corpora", "models")}

    def analysis_models(self, section: str) -> tuple[ModelSpec, ...]:
        """The profile's models named in ``analysis.<section>.models`` (default: all)."""
        names = (self.analysis.get(section) or {}).get("models")
        return tuple(self.model(name) for name in names) if names else self.models

    def corpus(self, corpus_id: str) -> CorpusSpec:
        for spec in self.corpora:
            if spec.corpus_id == corpus_id:
                return spec
        known = ", ".join(spec.corpus_id for spec in self.corpora)
        raise SerlibError(f"profile {self.profile!r} has no corpus {corpus_id!r}; it has: {known}")


def _resolve_path(value: str) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else (REPO_ROOT / path).resolve()


def profile_path(profile: str | os.PathLike) -> Path:
    """``demo`` -> ``params/demo.yaml``; a path to a YAML file is taken as it is."""
    candidate = Path(profile)
    if candidate.suffix in {".yaml", ".yml"}:
        if not candidate.is_file():
            raise SerlibError(f"profile file {candidate} does not exist")
        return candidate
    path = PARAMS_DIR / f"{profile}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PARAMS_DIR.glob("*.yaml")))
        raise SerlibError(f"unknown profile {profile!r}: no {path}. Known profiles: {known}")
    return path


def _parse_corpus(entry: Any, source: Path) -> CorpusSpec:
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict) or "name" not in entry:
        raise SerlibError(f"{source}: each entry of 'corpora' needs at least a 'name', got {entry!r}")
    root_setting = str(entry.get("root", ""))
    expanded = expand_environment(root_setting) if root_setting else None
    root = _resolve_path(expanded) if expanded else None
    return CorpusSpec(
        corpus_id=str(entry.get("id", entry["name"])),
        name=str(entry["name"]),
        root=root,
        root_setting=root_setting,
        language=entry.get("language"),
        generate=_generate_setting(entry, source),
    )


GENERATED_LAYOUT = "layout"


def _generate_setting(entry: dict, source: Path) -> str | None:
    generate = entry.get("generate")
    if generate not in (None, GENERATED_LAYOUT):
        raise SerlibError(f"{source}: corpus {entry['name']!r} has generate: {generate!r}; the only "
                          f"value is {GENERATED_LAYOUT!r} (a generated tree in the corpus's layout)")
    if generate and not entry.get("root"):
        raise SerlibError(f"{source}: corpus {entry['name']!r} has generate: {generate} but no root "
                          "to write the tree to")
    return generate


def _parse_model(entry: Any, source_file: Path) -> ModelSpec:
    if isinstance(entry, str):
        entry = {"id": entry, "source": entry}
    if not isinstance(entry, dict) or "id" not in entry:
        raise SerlibError(f"{source_file}: each entry of 'models' is a name or has an 'id', got {entry!r}")
    setting = str(entry.get("source", entry["id"]))
    expanded = expand_environment(setting)
    if expanded is None:
        source = setting  # left unresolved: the preflight check reports the unset variable
    else:
        prefix = RANDOM_PREFIX if expanded.startswith(RANDOM_PREFIX) else ""
        bare = expanded.removeprefix(prefix)
        source = prefix + (str(_resolve_path(bare)) if bare.startswith((".", "/", "~")) else bare)
    return ModelSpec(model_id=str(entry["id"]), source=source, source_setting=setting)


EMOBOX = "emobox"
#: Protocols of :mod:`serlib.data.splits`, and EmoBox's published folds (:mod:`serlib.data.emobox`).
STUDY_PROTOCOLS = (*PROTOCOLS, EMOBOX)


def _split_protocols(split: dict, source: Path) -> tuple[str, ...]:
    """``split: {protocols: [main, other, ...]}`` (or the older ``protocol: name``), checked."""
    listed = split.get("protocols") or [split.get("protocol", "random")]
    protocols = tuple(str(protocol) for protocol in ([listed] if isinstance(listed, str) else listed))
    unknown = [protocol for protocol in protocols if protocol not in STUDY_PROTOCOLS]
    if unknown or not protocols:
        raise SerlibError(f"{source}: split protocols {unknown or protocols} unknown; choose "
                          f"from {', '.join(STUDY_PROTOCOLS)}")
    if EMOBOX in protocols and not split.get("emobox_data"):
        raise SerlibError(f"{source}: the emobox protocol needs split: emobox_data: PATH/TO/EmoBox/data")
    return protocols


def load_config(profile: str | os.PathLike = "demo", **overrides: Any) -> StudyConfig:
    """Read a profile; keyword overrides (e.g. from papermill parameters) replace top-level keys.

    ``SERLIB_WORK_DIR``, ``SERLIB_RESULTS_DIR`` and ``SERLIB_FEATURE_DIR``, when set, win over
    both the profile and the overrides (see the module docstring).
    """
    source = profile_path(profile)
    with open(source, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle) or {}
    if not isinstance(raw, dict):
        raise SerlibError(f"{source}: a profile must be a YAML mapping")
    raw.update({key: value for key, value in overrides.items() if value is not None})
    name = str(raw.get("profile", source.stem))
    work_dir = _resolve_path(str(os.environ.get(WORK_DIR_VARIABLE) or raw.get("work_dir") or f"work/{name}"))
    results_dir = os.environ.get(RESULTS_DIR_VARIABLE) or raw.get("results_dir") or f"results/{name}"
    feature_dir = os.environ.get(FEATURE_DIR_VARIABLE) or raw.get("feature_dir")
    split = raw.get("split") or {}
    protocols = _split_protocols(split, source)
    return StudyConfig(
        profile=name,
        description=str(raw.get("description", "")),
        figure_label=str(raw.get("figure_label", name)),
        work_dir=work_dir,
        results_dir=_resolve_path(str(results_dir)),
        corpora=tuple(_parse_corpus(entry, source) for entry in raw.get("corpora", [])),
        models=tuple(_parse_model(entry, source) for entry in raw.get("models", [])),
        split_protocol=protocols[0],
        split_protocols=protocols,
        split_seed=int(split.get("seed", 0)),
        split_repeats=int(split.get("repeats", DEFAULT_REPEATS)),
        emobox_data=_resolve_path(str(split["emobox_data"])) if split.get("emobox_data") else None,
        emobox_corpus=split.get("emobox_corpus"),
        extraction=dict(raw.get("extraction") or {}),
        probes=dict(raw.get("probes") or {}),
        analysis=dict(raw.get("analysis") or {}),
        execution=dict(raw.get("execution") or {}),
        cpu_kernels=check_setting(str(raw.get("cpu_kernels", NATIVE)), source),
        source=source,
        feature_dir=_resolve_path(str(feature_dir)) if feature_dir else work_dir / "features",
    )


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
        if split_protocol not in config.split_protocols:
            changes["split_protocols"] = (split_protocol, *config.split_protocols)
    if split_seed is not None:
        changes["split_seed"] = int(split_seed)
    return dataclasses.replace(config, **changes)
