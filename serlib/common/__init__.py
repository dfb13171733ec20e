"""What every layer of serlib shares: the one user-facing error type and safe file writes.

- :mod:`serlib.common.errors`: :class:`SerlibError`, the only exception a user should see;
- :mod:`serlib.common.files`: atomic writes (unique temporary name, flushed and fsynced, then a
  rename), so that no reader ever sees a half-written file.

May import: the standard library, NumPy and pandas only. Every other package may import it.
"""
