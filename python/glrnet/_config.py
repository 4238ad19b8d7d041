"""Build and threading information (cf. sklearn.utils._openmp_helpers)."""
from __future__ import annotations

import os
import platform

from . import _glrcore
from ._validation import check_int
from ._version import __version__

__all__ = ["show_config", "openmp_enabled", "effective_n_threads", "max_threads"]


def openmp_enabled() -> bool:
    """True when the C kernel was compiled with OpenMP."""
    return _glrcore.openmp_enabled()


def max_threads() -> int:
    """The most threads the kernel is given: max(64, 4 x the cores).  More threads than that
    only add overhead, and when the system cannot create them the OpenMP runtime (libgomp)
    aborts the whole process."""
    return max(64, 4 * (os.cpu_count() or 1))


def effective_n_threads(n_threads=None) -> int:
    """Threads the kernel will use.

    ``None`` means OpenMP's default, which honours ``OMP_NUM_THREADS`` and otherwise
    uses every core (capped at :func:`max_threads`); a negative value ``-k`` means all
    cores but ``k - 1``.  Counts beyond :func:`max_threads` are refused.  Without OpenMP
    the answer is always 1.
    """
    if n_threads is not None:
        bound = max_threads()
        try:
            n_threads = check_int(n_threads, "n_threads", minimum=-bound, maximum=bound)
        except ValueError as exc:
            raise ValueError(f"{exc}: at most max(64, 4 x {os.cpu_count() or 1} cores) = {bound} threads, "
                             f"since the OpenMP runtime aborts the process when it cannot create them") from None
        if n_threads == 0:
            raise ValueError("n_threads must not be 0 (use None for the default)")
    if not openmp_enabled():
        return 1
    default = min(_glrcore.default_threads(), max_threads())
    if n_threads is None:
        return default
    if n_threads < 0:
        return max(1, (os.cpu_count() or 1) + 1 + n_threads)
    return n_threads


def show_config(print_out=True) -> dict:
    """Report how the kernel was built and how it will run here."""

    info = {
        "glrnet": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "openmp": openmp_enabled(),
        "threads": effective_n_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "simd": _glrcore.simd_dispatch(),
        "generator": "Philox4x32-10 keyed by seed; counter (replication, sample, level/unit group, step)",
    }
    if print_out:
        width = max(map(len, info))
        for key, value in info.items():
            print(f"{key:<{width}} : {value}")
        if not info["openmp"]:
            print("note: built without OpenMP, the kernel runs single-threaded")
    return info
