"""Downloads with checksums: stream a file into a temporary file beside its target, with its MD5.

Every data set that can be fetched (SHD today) goes through :func:`fetch`: the content is
streamed into ``<dest_dir>/<prefix>*<suffix>`` while its MD5 is computed, so a caller can check
it before anything appears under a final name (``os.replace`` after verification); on any
error the partial file is removed.  SHD names its temporary files as :mod:`fluctinit._io`
does (``.tmp-*.tmp``), so :func:`fluctinit._io.remove_stale_temps` also finds what a killed
download left.  :func:`read_md5sums` parses a server's ``md5sums.txt``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["fetch", "read_md5sums", "md5_of", "network_failure"]


def fetch(url: str, dest_dir: str | os.PathLike, *, timeout: float, prefix: str = ".download-",
          suffix: str = ".part") -> tuple[Path, str]:
    """Stream ``url`` into a temporary file in ``dest_dir``; return ``(temp path, MD5 hex)``.

    The caller owns the temporary file (verify, then ``os.replace`` it or unlink it).

    Raises:
        urllib.error.URLError, TimeoutError, ConnectionError: the server cannot be reached.
    """
    fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=prefix, suffix=suffix)
    md5 = hashlib.md5()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                md5.update(chunk)
                out.write(chunk)
    except BaseException:
        os.unlink(tmp)
        raise
    return Path(tmp), md5.hexdigest()


def read_md5sums(url: str, *, timeout: float) -> dict[str, str]:
    """``{file name: md5}`` from an ``md5sums.txt`` (``md5sum``'s output format) at ``url``."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        text = resp.read().decode("utf-8", errors="replace")
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            out[parts[1].lstrip("*")] = parts[0].lower()
    return out


def network_failure(err: BaseException, url: str) -> tuple[str, str]:
    """``(where, reason)`` of a failed download, for a one-line message: an HTTP error names the
    URL that answered and its status; an unreachable server names ``url`` and the reason."""
    if isinstance(err, urllib.error.HTTPError):  # the server answered, without the file
        return err.url or url, f"HTTP {err.code}: {err.reason}"
    return url, str(getattr(err, "reason", err))


def md5_of(path: str | os.PathLike) -> str:
    """MD5 hex digest of a file on disk (read in 1 MiB chunks)."""
    md5 = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            md5.update(chunk)
    return md5.hexdigest()
