"""Peak resident memory of this process while a piece of work runs (:class:`PeakMemory`)."""

from __future__ import annotations

import os
import resource
import sys
import threading

_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int | None:
    """This process's resident set size now (Linux ``/proc``), or None where it cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return None


def _lifetime_peak_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


class PeakMemory:
    """``with PeakMemory() as memory: ...`` then ``memory.peak_bytes``: the highest resident set
    size seen while the block ran, sampled every ``interval_s`` by a background thread (the block
    itself is not slowed). Where ``/proc`` is missing it falls back to the process's lifetime
    peak, which can only overstate."""

    def __init__(self, interval_s: float = 0.02):
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while True:
            current = resident_bytes()
            if current is not None:
                self.peak_bytes = max(self.peak_bytes, current)
            if self._stop.wait(self.interval_s):
                return

    def __enter__(self) -> PeakMemory:
        if resident_bytes() is None:
            return self
        self._thread = threading.Thread(target=self._sample, name="serlib-peak-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        if self._thread is None:
            self.peak_bytes = _lifetime_peak_bytes()
            return
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, resident_bytes() or 0)
