"""A profile's ``cpu_kernels:``: the same floating-point results on any x86 CPU, or the fastest.

float32 results differ between CPUs, and between thread counts, because MKL (torch's BLAS on
x86) picks the code path of its matrix products by instruction set (AVX512 or AVX2) and splits
them between threads, and each way sums in another order. Measured on the project's 2-core
Xeon, training a 512-256-256-7 MLP for 300 Adam steps: the AVX512 and AVX2 paths end with other
weights, and so do 1 and 2 threads; under ``MKL_CBWR=AVX2,STRICT`` (MKL's conditional numerical
reproducibility, strict mode) the AVX512 machine gives the AVX2 path's bits, with 1 thread as
with 2. Over 30 epochs such differences move best epochs and, on small test sets, verdicts.
torch's own vectorised kernels (``ATEN_CPU_CAPABILITY``) did not change that run's bits.

``cpu_kernels: avx2`` sets, for the notebook kernels that ``./run_all.sh`` and ``serlib
reproduce`` start, the variables of :data:`PINNED` (a variable the user has set is left as it
is): MKL's AVX2 path in strict mode, oneDNN and torch capped at AVX2, so every x86 CPU with AVX2
runs the same code paths. The price is MKL's AVX512 speed: a 3200 x 513 x 256 product at 103
instead of 157 GMAC/s on that Xeon. ``cpu_kernels: native`` (the default) leaves every library
to pick its fastest path. The variables in effect are part of ``environment.json``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from serlib.common.environ import environment_variables
from serlib.common.errors import SerlibError

NATIVE = "native"
#: the process environment of each pinned setting
PINNED = {
    "avx2": {"MKL_CBWR": "AVX2,STRICT", "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"},
}
SETTINGS = (NATIVE, *PINNED)
#: every variable a setting can pin, recorded in environment.json whatever the setting
VARIABLES = tuple(sorted({name for variables in PINNED.values() for name in variables}))


def check_setting(value: str, source: object) -> str:
    """``value`` if it is a known ``cpu_kernels`` setting; else a SerlibError naming the file."""
    if value not in SETTINGS:
        raise SerlibError(f"{source}: cpu_kernels {value!r} unknown; use one of {', '.join(SETTINGS)}")
    return value


def kernel_variables(setting: str) -> dict[str, str]:
    """The variables ``setting`` pins (none for ``native``)."""
    return dict(PINNED.get(setting, {}))


def variables_in_effect() -> dict[str, str | None]:
    """The value of every variable of :data:`VARIABLES` in this process (None: unset)."""
    return {name: os.environ.get(name) for name in VARIABLES}


@contextmanager
def pinned_kernels(setting: str) -> Iterator[dict[str, str | None]]:
    """Set the variables of ``setting`` that are not set already, for the block (and the
    processes it starts); restore the previous environment after. Yields the variables in
    effect."""
    added = {name: value for name, value in kernel_variables(setting).items() if name not in os.environ}
    with environment_variables(added):
        yield variables_in_effect()


__all__ = ["NATIVE", "PINNED", "SETTINGS", "VARIABLES", "check_setting", "kernel_variables", "pinned_kernels",
           "variables_in_effect"]
