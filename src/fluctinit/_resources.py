"""What the machine can still give: the memory available to this process.

No torch here (the command line checks its flags against it before anything heavy is
imported); :mod:`fluctinit.validation` (membrane-statistics runs) and
:mod:`fluctinit.training` (how many grid cells fit one batched model) size their work by it.
"""

from __future__ import annotations

import os

__all__ = ["available_memory"]


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _read_int(path: str) -> int | None:
    try:
        with open(path) as fh:
            text = fh.read().strip()
        return None if text == "max" else int(text)
    except (OSError, ValueError):
        return None


def available_memory() -> int | None:
    """Bytes this process can still allocate, or None where the system does not say.

    ``MemAvailable`` of /proc/meminfo (free memory plus reclaimable caches; else
    ``os.sysconf`` free pages), capped by the control group's limit minus its usage
    (cgroup v2 ``memory.max``, v1 ``memory.limit_in_bytes``).
    """
    found = [v for v in (_meminfo_available(),) if v is not None]
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError, AttributeError):
            pass
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        lim, used = _read_int(limit), _read_int(usage)
        if lim is not None and used is not None and lim < 2**60:
            found.append(max(0, lim - used))
    return min(found) if found else None
