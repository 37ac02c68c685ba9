"""Checks of the folders the data sets read from and write to, run before any work starts.

* :func:`input_root`: a loader's ``root`` -- not empty (``Path("")`` would silently be the
  current folder), not a file.  A ``root`` that does not exist is left to the loader, whose
  FileNotFoundError says which files to put where.
* a folder that receives files (a download target, a cache) is checked by
  :func:`fluctinit._io.check_output_path` with ``kind="dir"`` (never the file-system root).
* :func:`created_folders` / :func:`remove_created`: the folders a run is about to create, so that
  a run that ends without a complete file leaves none of them behind.

All raise :class:`fluctinit.errors.ParameterError` naming the argument
("`root` must be ...; got '...' (why)"), which the command line rewrites to the flag.
"""

from __future__ import annotations

import os
from pathlib import Path

from fluctinit.errors import ParameterError

__all__ = ["input_root", "created_folders", "remove_created"]


def input_root(name: str, root, holds: str) -> Path:
    """``root`` as a Path, or a ParameterError if it is empty or an existing file."""

    def bad(why: str) -> ParameterError:
        return ParameterError(f"`{name}` must be a folder holding {holds}; got {str(root)!r} ({why})",
                              [name], [root])

    if root is None or str(root).strip() == "":
        raise bad("empty")
    path = Path(root)
    if path.exists() and not path.is_dir():
        raise bad("a file, not a folder")
    return path


def created_folders(path: Path) -> list[Path]:
    """The folders ``path.mkdir(parents=True)`` would create, deepest first."""
    out = []
    p = Path(os.path.abspath(path))
    while not p.exists() and p.parent != p:
        out.append(p)
        p = p.parent
    return out


def remove_created(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first) where they are empty; anything holding a file stays."""
    for p in folders:
        try:
            p.rmdir()
        except OSError:
            break  # not empty (a complete file arrived) or gone: stop climbing
