"""Where a result came from: the package version and the git commit of the source tree.

One record for every output (training results, membrane tables, figure stamps):
:func:`code_version` gives ``{"fluctinit": version, "git": commit or None, "dirty": bool or
None}``; :func:`git_commit` the ``(commit, dirty)`` pair of the checkout holding the source.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["SOURCE_ROOT", "git_commit", "code_version"]

#: the repository root (the folder above src/), where the git commit is looked up
SOURCE_ROOT = Path(__file__).resolve().parents[2]


def git_commit(root: str | os.PathLike | None = None) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the git checkout holding the source, or ``(None, None)``.

    ``dirty`` is True when tracked files differ from the commit (``git status --porcelain
    --untracked-files=no`` is non-empty)."""
    root = os.fspath(root or SOURCE_ROOT)
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None, None
        st = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                            capture_output=True, text=True, timeout=10)
        dirty = bool(st.stdout.strip()) if st.returncode == 0 else None
        return head.stdout.strip(), dirty
    except (OSError, subprocess.SubprocessError):
        return None, None


def code_version() -> dict[str, Any]:
    """``{"fluctinit": version, "git": commit or None, "dirty": bool or None}``."""
    from fluctinit import __version__

    commit, dirty = git_commit()
    return {"fluctinit": __version__, "git": commit, "dirty": dirty}
