"""serlib: which layers of pretrained speech models carry emotion, across languages.

The package is thin on purpose: each module does one stage of the study and leaves a plain
file (CSV, NumPy, JSON) that the next stage reads. See ``docs/architecture.md``.
"""

__version__ = "0.1.0"
