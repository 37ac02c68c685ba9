"""Keep freed memory for reuse: the CPU allocator setting the simulator runs fastest with.

A training step on the paper's shapes allocates a few dozen buffers of ``batch x time x
neurons`` floats (SHD: 400 x 350 x 128 float32 = 72 MB each: currents, states, spikes and
their gradients).  glibc's ``malloc`` serves every block above 32 MiB with a fresh ``mmap``
and returns it to the system on ``free``, so each such buffer is page-faulted in again on
every step: the kernel zeroes 17,500 pages per buffer.  On the project's 2-core machine that
cost more time than the arithmetic of the fused core (benchmarks/bench_core.py: a fresh
72 MB output buffer costs about 35 ms, the whole fused LIF forward 25 ms).

:func:`keep_freed_memory` switches glibc to serving large blocks from its heap and keeping
freed memory there (``mallopt(M_MMAP_MAX, 0)``, ``mallopt(M_TRIM_THRESHOLD, 2 GiB - 1)``), so
buffers of a repeated training step are reused without page faults.  The price: memory freed
by the process is not returned to the system before it exits (its resident size stays at
its peak), which is what a training run wants anyway.  It is process-wide, so the command line
calls it for ``train``, ``validate`` and ``bench`` (where it applies to every path compared,
peers included); library users opt in.  Without glibc (macOS, Windows, musl) it does nothing.
Opt out with ``FLUCTINIT_KEEP_FREED_MEMORY=0``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["keep_freed_memory"]

# glibc's mallopt parameter numbers (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4

_state: dict = {"applied": None}


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # only glibc has it (and mallopt's numbering)
        return libc
    except (OSError, AttributeError):
        return None


def keep_freed_memory() -> bool:
    """Make glibc keep freed large blocks for reuse instead of unmapping them (see module doc).

    Idempotent; returns whether the setting is in effect (False without glibc or when
    ``FLUCTINIT_KEEP_FREED_MEMORY`` is ``0``/``false``/``no``/``off``).
    """
    if _state["applied"] is not None:
        return _state["applied"]
    if os.environ.get("FLUCTINIT_KEEP_FREED_MEMORY", "1").strip().lower() in ("0", "false", "no", "off"):
        _state["applied"] = False
        return False
    libc = _glibc()
    ok = False
    if libc is not None:
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
        ok = bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    _state["applied"] = ok
    return ok
