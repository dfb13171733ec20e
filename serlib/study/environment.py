"""``results/<profile>/environment.json``: the machine, libraries and code a run used.

A rerun on another machine (``serlib reproduce``) is read beside this record: when two runs
differ, it says whether the CPU's numerics (AVX-512, bfloat16, AMX), the thread count, a
library or serlib's own code versions changed, and which dtype and cache key each feature store
was computed under.

Fields (``write_environment`` sorts the keys):

- ``cpu``: ``model``, the full ``flags`` list of ``/proc/cpuinfo``, ``numerics_flags`` (the
  flags that decide numerics: :data:`NUMERICS_FLAGS`, each true or false), ``cores``;
- ``torch``: ``native_bf16`` (``torch.cpu._is_avx512_bf16_supported()``), ``amx_tile``,
  ``cpu_capability`` (``torch.backends.cpu.get_cpu_capability()``), ``num_threads``,
  ``cuda_available``, ``gpus`` (names), ``cuda_version``;
- ``python``, ``platform``, ``versions`` (:data:`LIBRARIES`: each imported module's
  ``__version__``, null when not installed);
- ``code_versions``: the extraction engine's, the feature store format's and the probe
  trainer's version numbers (each is part of a cache key);
- ``feature_stores``: per model x corpus of the profile ``dtype``, ``device`` and the first 12
  hex digits of ``cache_key`` from the store's ``index.json``, or ``missing: true``;
- ``git``: ``commit`` (``git rev-parse HEAD``) and ``dirty`` (``git status --porcelain`` not
  empty outside ``results/``), both null when git or the repository is unavailable;
- ``cpu_kernels``: the profile's ``cpu_kernels:`` setting and the value of every variable it can
  pin (:mod:`serlib.study.kernels`; null where unset) in the process that ran the notebooks;
- ``profile`` and ``written_utc``.

No absolute path of the machine is recorded (the committed results name no local folder).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from serlib.common.errors import SerlibError
from serlib.common.files import atomic_write_text
from serlib.study.config import REPO_ROOT, StudyConfig
from serlib.study.kernels import variables_in_effect

ENVIRONMENT_FILE = "environment.json"
#: CPU flags that change which kernels (and so which rounding) torch uses on a CPU.
NUMERICS_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "fma")
#: Distribution name -> module whose ``__version__`` is recorded.
LIBRARIES = {
    "torch": "torch",
    "transformers": "transformers",
    "numpy": "numpy",
    "scipy": "scipy",
    "pandas": "pandas",
    "scikit-learn": "sklearn",
    "soundfile": "soundfile",
    "soxr": "soxr",
    "serlib": "serlib",
}
CACHE_KEY_DIGITS = 12
CPUINFO = Path("/proc/cpuinfo")


def cpu_record(cpuinfo: Path = CPUINFO) -> dict[str, Any]:
    """The CPU's model name and flags from ``cpuinfo`` (Linux; ARM's ``Features`` line counts
    as flags); the flags are empty where the file is unreadable."""
    model, flags = None, []
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "model name" and model is None:
            model = value.strip()
        elif name in ("flags", "features") and not flags:
            flags = sorted(value.split())
    present = set(flags)
    return {
        "model": model or platform.processor() or None,
        "flags": flags,
        "numerics_flags": {flag: flag in present for flag in NUMERICS_FLAGS},
        "cores": os.cpu_count(),
    }


def torch_record() -> dict[str, Any]:
    """What torch sees: native bfloat16 and AMX, its CPU capability, threads, GPUs."""
    import torch

    cuda = torch.cuda.is_available()
    return {
        "native_bf16": bool(torch.cpu._is_avx512_bf16_supported()),
        "amx_tile": bool(torch.cpu._is_amx_tile_supported()),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "num_threads": torch.get_num_threads(),
        "cuda_available": cuda,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        "cuda_version": torch.version.cuda,
    }


def library_versions() -> dict[str, str | None]:
    """``__version__`` of each module of :data:`LIBRARIES` (null when it does not import)."""
    versions = {}
    for distribution, module_name in LIBRARIES.items():
        try:
            versions[distribution] = str(importlib.import_module(module_name).__version__)
        except ImportError:
            versions[distribution] = None
    return versions


def code_versions() -> dict[str, int]:
    """serlib's own version numbers that are part of the cache keys."""
    from serlib.features.extract import EXTRACTION_CODE_VERSION
    from serlib.features.store import STORE_FORMAT_VERSION
    from serlib.probing.train import TRAINING_CODE_VERSION

    return {
        "extraction_code_version": EXTRACTION_CODE_VERSION,
        "store_format_version": STORE_FORMAT_VERSION,
        "training_code_version": TRAINING_CODE_VERSION,
    }


def feature_store_record(config: StudyConfig) -> dict[str, dict[str, Any]]:
    """``"<model> x <corpus>"`` -> dtype, device and short cache key of its finished store."""
    from serlib.features.store import read_complete_index
    from serlib.study.stores import feature_folder

    stores = {}
    for model in config.models:
        for corpus in config.corpora:
            index = read_complete_index(feature_folder(config, model, corpus.corpus_id))
            name = f"{model.model_id} x {corpus.corpus_id}"
            if index is None:
                stores[name] = {"missing": True}
            else:
                stores[name] = {"dtype": index.get("dtype"), "device": index.get("device"),
                                "cache_key": str(index.get("cache_key", ""))[:CACHE_KEY_DIGITS] or None}
    return stores


def _git(*arguments: str, root: Path) -> str | None:
    try:
        result = subprocess.run(["git", *arguments], cwd=root, capture_output=True, text=True,
                                timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def git_record(root: Path = REPO_ROOT) -> dict[str, Any]:
    """The checkout's commit and whether it has uncommitted changes outside ``results/`` (the
    code, profiles and notebooks that ran; a rerun's own outputs always differ from the
    committed ones until they are committed); nulls without git."""
    commit = _git("rev-parse", "HEAD", root=root)
    status = (_git("status", "--porcelain", "--", ".", ":(exclude)results", root=root)
              if commit is not None else None)
    return {"commit": commit.strip() if commit else None,
            "dirty": bool(status.strip()) if status is not None else None}


def environment_record(config: StudyConfig) -> dict[str, Any]:
    """Everything :func:`write_environment` writes (see the module docstring)."""
    return {
        "profile": config.profile,
        "written_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpu": cpu_record(),
        "torch": torch_record(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "versions": library_versions(),
        "code_versions": code_versions(),
        "feature_stores": feature_store_record(config),
        "git": git_record(),
        "cpu_kernels": {"setting": config.cpu_kernels, "variables": variables_in_effect()},
    }


def write_environment(config: StudyConfig) -> Path:
    """Write ``<results>/environment.json`` atomically (sorted keys, indent 2); return its path."""
    path = config.results_dir / ENVIRONMENT_FILE
    text = json.dumps(environment_record(config), sort_keys=True, indent=2) + "\n"
    return atomic_write_text(path, text)


def read_environment(results_dir: Path) -> dict[str, Any] | None:
    """A results folder's environment record, or None when it has none (older runs)."""
    path = Path(results_dir) / ENVIRONMENT_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except ValueError as error:
        raise SerlibError(f"{path} is not valid JSON ({error}); delete it or rerun the study "
                          "to write it again") from None
    if not isinstance(record, dict):
        raise SerlibError(f"{path} holds no JSON object; delete it or rerun the study to write it again")
    return record


