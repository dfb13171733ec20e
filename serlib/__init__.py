"""serlib: which layers of pretrained speech models carry emotion, across languages.

The package is laid out by the study's stages, each a subpackage that only imports the ones
before it (``docs/architecture.md``; an import-linter contract in ``pyproject.toml`` checks it):

    common -> data -> features -> probing -> report -> study -> cli

``from serlib import study`` gives the stage functions the notebooks call.
"""

__version__ = "0.1.0"
