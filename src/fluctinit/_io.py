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

__all__ = [
    "atomic_path",
    "atomic_write_text",
    "atomic_write_json",
    "check_output_path",
    "remove_stale_temps",
    "FolderLock",
    "TEMP_PREFIX",
    "TEMP_SUFFIX",
]

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


def check_output_path(name: str, path, *, kind: str = "file") -> Path:
    """Check, before any work starts, that ``path`` can receive an output of ``kind``.

    ``kind="file"``: a file to be written (atomically) -- not empty, not an existing folder,
    its folder existing-or-creatable and writable.  ``kind="dir"``: a folder to write into --
    not empty, not an existing file, creatable and writable.  Nothing is created.

    Raises:
        ParameterError: "`name` must be <what>; got <path> (<why>)", naming the option.
    """
    from fluctinit.errors import ParameterError

    what = "a writable file path" if kind == "file" else "a writable folder"

    def bad(why: str) -> ParameterError:
        return ParameterError(f"`{name}` must be {what}; got {str(path)!r} ({why})", [name], [path])

    if path is None or str(path).strip() == "":
        raise bad("empty")
    p = Path(path)
    if p.resolve() == Path(p.resolve().anchor):
        raise bad("the file-system root")
    if kind == "file":
        if p.is_dir() or str(path).endswith(os.sep):
            raise bad("a folder")
        folder = p.parent
    else:
        if p.exists() and not p.is_dir():
            raise bad("an existing file")
        folder = p
    probe = folder
    while not probe.exists():  # the nearest existing ancestor decides whether it can be created
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise bad(f"{str(probe)!r} is a file")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise bad(f"{str(probe)!r} is not writable")
    if kind == "file" and p.exists() and not os.access(p, os.W_OK):
        raise bad("not writable")
    try:  # permission bits do not tell for root, procfs or read-only mounts: a nameless probe does
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as err:
        raise bad(f"{str(probe)!r} is not writable: {err.strerror or err}") from None
    return p


def remove_stale_temps(folder) -> list[Path]:
    """Remove temporary files left in ``folder`` by interrupted atomic writes (``.tmp-*.tmp``);
    returns what was removed.  Call it only while holding the folder's :class:`FolderLock`."""
    removed = []
    folder = Path(folder)
    if folder.is_dir():
        for p in folder.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
            try:
                p.unlink()
                removed.append(p)
            except OSError:
                pass
    return removed


class FolderLock:
    """An exclusive lock on an output folder (``<folder>/.fluctinit.lock``, ``flock``), so two
    runs writing into one folder at once are noticed: the second gets a one-line error naming
    the folder and the process holding it.  The lock is released when the holder exits,
    however it ends (the kernel drops ``flock`` locks with the process)."""

    NAME = ".fluctinit.lock"

    def __init__(self, folder, *, name: str = "out"):
        self.folder = Path(folder)
        self.name = name
        self._fh = None

    def __enter__(self) -> "FolderLock":
        import fcntl

        from fluctinit.errors import ParameterError

        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / self.NAME
        fh = open(path, "a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise ParameterError(
                f"`{self.name}` {str(self.folder)!r} is in use by {holder}; wait for it to finish or use another "
                f"`{self.name}`", [self.name], [str(self.folder)],
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"process {os.getpid()}\n")
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
