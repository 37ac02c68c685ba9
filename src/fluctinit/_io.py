"""Atomic file writes: a result is either the old file or the complete new one, never half.

Every writer in fluctinit (results JSON, checkpoints, sweep tables, figures, caches) goes
through :func:`atomic_path` (JSON through :func:`atomic_write_json`, the one JSON writer): the content is written to a temporary file in the target's
folder (named ``.tmp-<name>.<random>.tmp``), flushed to disk, and moved onto the target
with ``os.replace``; on any error the temporary file is removed and the target untouched.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

__all__ = ["atomic_path", "atomic_write_text", "atomic_write_json", "TEMP_PREFIX", "TEMP_SUFFIX"]

TEMP_PREFIX = ".tmp-"
TEMP_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically.

    The folder of ``path`` is created if needed.  The file gets the usual permissions
    (0666 minus the umask) rather than mkstemp's 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}.", suffix=TEMP_SUFFIX)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:  # make the content durable before it becomes visible
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _json_default(o: Any) -> Any:
    """Tensors and numpy arrays as lists, numpy/torch scalars as Python numbers."""
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def atomic_write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 1) -> None:
    """Write ``obj`` as JSON (tensors and arrays as lists) to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=indent, default=_json_default) + "\n")
