"""Shared helpers of the figure scripts: stamps, config hashes, caches, atomic outputs and the
command line (paths checked before any work, one-line errors, a quiet end into `| head`).

Every figure script (STYLE.md practice 13) keeps its expensive computation apart from its
plotting: the computation writes JSON results under an output folder, each stamped with

* ``version``: ``fluctinit.__version__`` (from pyproject.toml),
* ``git_commit`` / ``git_dirty``: the commit of the source tree, if it is a git checkout,
* ``seed`` and the full effective ``config`` with its ``config_hash``
  (:func:`config_hash`: sha256 of the canonical JSON, 16 hex digits),
* ``created_utc``, ``argv`` and the numpy/torch versions,
* ``notes``: anything the reader must know (e.g. panels skipped because a data file is missing).

A cached result is reused only when its stored ``key`` (the config hash, plus fingerprints of
any input files) equals the current one (:func:`load_cached`).  Figures are written
atomically (temporary file in the same folder, then ``os.replace``) with the stamp in the
PNG/PDF metadata and a one-line text footer (:func:`save_figure`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterable

from fluctinit._io import atomic_path, atomic_write_json, check_output_path
from fluctinit.errors import ParameterError
from fluctinit.provenance import git_commit

__all__ = [
    "canonical_json",
    "config_hash",
    "file_fingerprint",
    "make_stamp",
    "stamp_footer",
    "load_cached",
    "write_result",
    "cache_dir",
    "save_figure",
    "deep_update",
    "check_paths",
    "run_command",
]


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: equal configs give equal strings."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_hash(obj: Any) -> str:
    """First 16 hex digits of the sha256 of :func:`canonical_json` of ``obj``."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:16]


def file_fingerprint(path: str | os.PathLike | None) -> dict:
    """Identity of an input file for cache keys: ``{"path", "size", "mtime_ns"}``, or
    ``{"path", "missing": True}`` when there is no file (``path=None`` included).

    A cached result computed without the file is thus recomputed once the file appears."""
    if path is None:
        return {"path": None, "missing": True}
    p = os.fspath(path)
    try:
        st = os.stat(p)
    except OSError:
        return {"path": p, "missing": True}
    return {"path": p, "size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


def make_stamp(config: dict, *, seed: int, key: str | None = None, notes: Iterable[str] = (),
               argv: list[str] | None = None) -> dict:
    """The provenance record stored with every result and figure.

    Args:
        config: the effective configuration (JSON-serializable); stored whole.
        seed: the seed of all random draws of the computation.
        key: the cache key (default: :func:`config_hash` of ``config``).
        notes: human-readable remarks (skipped panels, substitutions refused, ...).
        argv: the command line (default ``sys.argv``).

    Returns:
        dict with ``version, git_commit, git_dirty, seed, config, config_hash, key,
        created_utc, argv, python, numpy, torch, notes``.
    """
    import numpy
    import torch

    from fluctinit import __version__

    commit, dirty = git_commit()
    h = config_hash(config)
    return dict(
        version=__version__,
        git_commit=commit,
        git_dirty=dirty,
        seed=int(seed),
        config=config,
        config_hash=h,
        key=key if key is not None else h,
        created_utc=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        argv=list(sys.argv if argv is None else argv),
        python=sys.version.split()[0],
        numpy=numpy.__version__,
        torch=torch.__version__,
        notes=list(notes),
    )


def stamp_footer(stamp: dict, extra: str = "") -> str:
    """One line for a figure footer: version, commit, seed, config hash (and ``extra``)."""
    commit = stamp.get("git_commit")
    c = "no git" if not commit else commit[:10] + ("+dirty" if stamp.get("git_dirty") else "")
    s = f"fluctinit {stamp.get('version')} | commit {c} | seed {stamp.get('seed')} | config {stamp.get('config_hash')}"
    return s + (f" | {extra}" if extra else "")


def load_cached(path: str | os.PathLike, key: str) -> dict | None:
    """The JSON result at ``path`` if it exists, parses and its ``stamp.key`` equals ``key``; else None."""
    try:
        with open(path) as f:
            obj = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("stamp"), dict) or obj["stamp"].get("key") != key:
        return None
    return obj


def write_result(path: str | os.PathLike, obj: dict) -> None:
    """Write a result (a dict holding ``"stamp"``) as JSON, atomically."""
    if "stamp" not in obj:
        raise ValueError(f"result for {os.fspath(path)!r} has no stamp")
    atomic_write_json(path, obj, indent=None)


def cache_dir(out: str | os.PathLike, name: str) -> Path:
    """``<out>/cache/<name>``, created: where a figure keeps intermediate data (e.g. generated data sets)."""
    d = Path(out) / "cache" / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def deep_update(base: dict, overrides: dict) -> dict:
    """A copy of ``base`` with ``overrides`` merged in recursively (dicts merge, other values replace)."""
    out = dict(base)
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_update(out[k], v)
        else:
            out[k] = v
    return out


def save_figure(fig, out: str | os.PathLike, name: str, stamp: dict, *, title: str = "",
                formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Write ``fig`` as ``<out>/<name>.<fmt>`` atomically, with the stamp in the metadata.

    PNG (150 dpi, a 256-colour palette): text chunks ``Title``, ``Software`` (version and
    commit) and ``Description`` (the whole stamp as JSON).  PDF: ``Title``, ``Creator``, ``Subject`` (the stamp as JSON) and
    ``Keywords`` (seed and config hash).  The caller adds the visible footer
    (:func:`stamp_footer`).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stamp_json = canonical_json(stamp)
    software = f"fluctinit {stamp.get('version')} (commit {stamp.get('git_commit')})"
    written = []
    for fmt in formats:
        if fmt == "png":
            meta = {"Title": title or name, "Software": software, "Description": stamp_json}
        elif fmt == "pdf":
            meta = {"Title": title or name, "Creator": software, "Subject": stamp_json,
                    "Keywords": f"seed={stamp.get('seed')} config_hash={stamp.get('config_hash')}"}
        else:
            meta = None
        target = out / f"{name}.{fmt}"
        with atomic_path(target) as tmp:
            if fmt == "png":
                _save_png(fig, tmp, meta)
            else:
                fig.savefig(tmp, format=fmt, metadata=meta)
        written.append(target)
    return written


def _save_png(fig, path, meta: dict) -> None:
    """``fig`` as a PNG at 150 dpi, its colours reduced to an adaptive 256-colour palette (plots
    have few colours; a dense raster otherwise makes the file several times larger), with the
    text chunks ``meta``."""
    import io

    from PIL import Image, PngImagePlugin

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150)
    buf.seek(0)
    info = PngImagePlugin.PngInfo()
    for key, value in meta.items():
        info.add_text(key, value)
    with Image.open(buf) as im:
        im.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(path, format="PNG", pnginfo=info,
                                                                              optimize=True)


# --------------------------------------------------------------------------------------
# the command line of a figure script


def check_paths(config: str, out: str) -> Path:
    """Refuse, before any work, a ``--config`` that is not a readable file and an ``--out``
    that cannot be a folder to write into (:func:`fluctinit._io.check_output_path`, which also
    refuses the file-system root); returns the output folder.

    Raises:
        ParameterError: "`--config` must be a readable JSON file; got ... (why)", or the same
            for ``--out``.
    """
    p, why = Path(config), None
    if str(config).strip() == "":
        why = "empty"
    elif p.is_dir():
        why = "a folder"
    elif not p.is_file():
        why = "no such file"
    elif not os.access(p, os.R_OK):
        why = "not readable"
    if why:
        raise ParameterError(f"`--config` must be a readable JSON file; got {str(config)!r} ({why})",
                             ["--config"], [config])
    return check_output_path("--out", out, kind="dir")


def run_command(run, argv, *, prog: str) -> int:
    """``run(argv)`` as a command (:func:`fluctinit.cli.run_reporting`): 0 when it returns; bad
    input and failed writes one line ``<prog>: error: ...`` on stderr and 2; a closed pipe 0,
    quietly.  The figure scripts name their flags themselves (no renaming)."""
    from fluctinit.cli import run_reporting

    def body() -> None:
        run(argv)  # what the figure made is written to disk, not returned

    return run_reporting(body, prog, flags=False)