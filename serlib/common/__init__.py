"""What every layer of serlib shares: the one user-facing error type and safe file writes.

- :mod:`serlib.common.errors`: :class:`SerlibError`, the only exception a user should see;
- :mod:`serlib.common.files`: atomic writes (unique temporary name, flushed and fsynced, then a
  rename), so that no reader ever sees a half-written file;
- :mod:`serlib.common.generated`: generated folders (the synthetic corpus, the rehearsal's
  layout trees) built in a staging folder, recorded last and renamed into place;
- :mod:`serlib.common.locks`: :func:`~serlib.common.locks.folder_lock`, one writer per cache
  folder (the :mod:`filelock` package), saying who holds it;
- :mod:`serlib.common.memory`: :class:`~serlib.common.memory.PeakMemory`, the process's peak
  resident memory while a piece of work runs.

May import: the standard library, NumPy, pandas and filelock only. Every other package may import it.
"""
