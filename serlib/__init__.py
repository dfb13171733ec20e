"""serlib: which layers of pretrained speech models carry emotion, across languages.

The package is laid out by the study's stages, each a subpackage that only imports the ones
before it (``docs/architecture.md``; an import-linter contract in ``pyproject.toml`` checks it):

    common -> data -> features -> probing -> report -> study -> cli

``from serlib import study`` gives the stage functions the notebooks call. The modules of the
earlier flat layout stay reachable as attributes under their old names (``from serlib import
train``, ``serlib.plots``), loaded lazily, for scripts written against them.
"""

from __future__ import annotations

import importlib
import sys

__version__ = "0.1.0"

#: Old flat module names -> their place in the staged layout (loaded on first use).
MOVED_MODULES = {
    "errors": "serlib.common.errors",
    "audio": "serlib.data.audio",
    "corpora": "serlib.data.corpora",
    "splits": "serlib.data.splits",
    "synthetic": "serlib.data.synthetic",
    "models": "serlib.features.models",
    "extract": "serlib.features.extract",
    "store": "serlib.features.store",
    "acoustic": "serlib.features.acoustic",
    "acoustic_features": "serlib.features.acoustic_features",
    "probes": "serlib.probing.probes",
    "train": "serlib.probing.train",
    "metrics": "serlib.probing.metrics",
    "layer_selection": "serlib.probing.layer_selection",
    "scaling": "serlib.probing.scaling",
    "transfer": "serlib.probing.transfer",
    "analysis": "serlib.report.analysis",
    "plots": "serlib.report.plots",
    "multilingual": "serlib.report.multilingual",
    "paper_reference": "serlib.report.paper_reference",
    "layer_geometry": "serlib.report.layer_geometry",
    "config": "serlib.study.config",
    "execution": "serlib.study.execution",
    "runner": "serlib.study.runner",
}


def __getattr__(name: str):
    """``serlib.<old name>`` -> the moved module (also registered as ``serlib.<old name>``)."""
    if name in MOVED_MODULES:
        module = importlib.import_module(MOVED_MODULES[name])
        sys.modules.setdefault(f"{__name__}.{name}", module)
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
