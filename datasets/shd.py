"""Spiking Heidelberg Digits (SHD; Cramer et al. 2022, the paper's ref. [23]) from the official files.

Official layout (one HDF5 file per split, ``shd_train.h5`` and ``shd_test.h5``):
``spikes/times`` (variable-length float arrays, seconds), ``spikes/units``
(variable-length uint16 arrays, 700 channels), ``labels`` (one integer per
sample, 20 classes: digits 0-9 in English and German).

The paper (section 4.1) keeps the first 700 ms of each sample, bins at dt, holds
out a random 10% of the training file for validation and keeps the official
test file apart.  Files are validated completely before anything is returned.
"""

from __future__ import annotations

import gzip
import os
import tempfile
import urllib.error
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fluctinit.errors import Integer, Interval, ParameterError, check, check_all

from .download import fetch, read_md5sums
from .spikes import DataError, SpikeDataset

__all__ = [
    "SHD_URL",
    "SHD_FILES",
    "SHD_GZ_MD5",
    "SHD_N_UNITS",
    "SHD_N_CLASSES",
    "SHD_DURATION",
    "ShdSplits",
    "validate_shd_file",
    "load_shd",
    "download_shd",
    "missing_shd_message",
]

SHD_URL = "https://zenkelab.org/datasets/"
SHD_FILES = {"train": "shd_train.h5", "test": "shd_test.h5"}
# MD5 of the official gzipped files.  Source: the norse library, norse/norse,
# norse/dataset/spiking_heidelberg.py (`train_checksum`, `test_checksum`, for
# .../datasets/shd_train.h5.gz and shd_test.h5.gz); the same values appear in other
# public SHD loaders.  (tonic pins MD5s for the .zip variants only.)  If the server's
# files change, pass checksums="server" to verify against its md5sums.txt instead.
SHD_GZ_MD5 = {
    "shd_train.h5.gz": "d47c9825dee33347913e8ce0f2be08b0",
    "shd_test.h5.gz": "3062a80ec0c5719404d5b02e166543b1",
}
SHD_N_UNITS = 700
SHD_N_CLASSES = 20
SHD_DURATION = 0.7  # seconds; the paper's T_SHD (section 4.1)

SHD_CONSTRAINTS = {
    "duration": Interval(0.0, None, closed="neither"),
    "valid_fraction": Interval(0.0, 1.0, closed="left"),
    "seed": Integer(low=0),
    "timeout": Interval(0.0, None, closed="neither"),
}


@dataclass(frozen=True)
class ShdSplits:
    """SHD splits in event form: ``train`` and ``valid`` from the training file, ``test`` apart."""

    train: SpikeDataset
    valid: SpikeDataset
    test: SpikeDataset


def missing_shd_message(root: Path, missing: list[str]) -> str:
    """One line saying which SHD files to put where."""
    return (
        f"SHD files missing in {root}: {', '.join(missing)}; download "
        f"{', '.join(n + '.gz' for n in SHD_FILES.values())} from {SHD_URL}, gunzip them and put "
        f"{' and '.join(SHD_FILES.values())} in {root} "
        f"(or run `fluctinit data shd --root {root} --download`)"
    )


def validate_shd_file(path: str | os.PathLike, *, n_units: int = SHD_N_UNITS,
                      n_classes: int = SHD_N_CLASSES):
    """Read and check one SHD file completely.

    Checks: HDF5 readable; ``spikes/times``, ``spikes/units``, ``labels``
    present; as many unit arrays and labels as time arrays; per sample equal
    lengths; units integers in ``[0, n_units)``; times finite and ``>= 0``;
    labels integers in ``[0, n_classes)``.

    Returns:
        ``(times, units, counts, labels)``: flat float32 times (s), flat uint16
        units, spikes per sample (int64), int64 labels.

    Raises:
        FileNotFoundError: the file does not exist.
        DataError: naming the file and the first problem found.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")

    def fail(problem: str) -> DataError:
        return DataError(f"{path}: {problem}")

    try:
        fh = h5py.File(path, "r")
    except OSError as err:
        raise fail(f"not a readable HDF5 file ({str(err).splitlines()[0]})") from None
    with fh:
        for name in ("spikes", "spikes/times", "spikes/units", "labels"):
            if name not in fh:
                raise fail(f"missing {'group' if name == 'spikes' else 'dataset'} `{name}`")
        if not isinstance(fh["spikes"], h5py.Group):
            raise fail("`spikes` must be a group")
        try:
            times = fh["spikes/times"][()]
            units = fh["spikes/units"][()]
            labels = np.asarray(fh["labels"][()])
        except (OSError, TypeError, ValueError) as err:
            raise fail(f"unreadable dataset ({err})") from None
    times, units = np.asarray(times, dtype=object), np.asarray(units, dtype=object)
    if times.ndim != 1 or units.ndim != 1 or labels.ndim != 1:
        raise fail("`spikes/times`, `spikes/units` and `labels` must be 1-D (one entry per sample)")
    n = times.shape[0]
    if units.shape[0] != n or labels.shape[0] != n:
        raise fail(
            f"length mismatch: {n} time arrays, {units.shape[0]} unit arrays, {labels.shape[0]} labels"
        )
    counts = np.empty(n, dtype=np.int64)
    for i in range(n):
        t, u = np.asarray(times[i]), np.asarray(units[i])
        if t.ndim != 1 or u.ndim != 1 or t.shape[0] != u.shape[0]:
            raise fail(f"sample {i}: {t.size} spike times but {u.size} unit indices")
        counts[i] = t.shape[0]
    flat_t = (np.concatenate([np.asarray(t, dtype=np.float64) for t in times])
              if n else np.zeros(0))
    flat_u_raw = (np.concatenate([np.asarray(u) for u in units]) if n else np.zeros(0, np.int64))
    if flat_t.size:
        bad = ~np.isfinite(flat_t) | (flat_t < 0)
        if bad.any():
            j = int(np.argmax(bad))
            i = int(np.searchsorted(np.cumsum(counts), j, side="right"))
            raise fail(f"sample {i}: spike times must be finite and >= 0 s; got {flat_t[j]!r}")
    if flat_u_raw.size:
        if not np.issubdtype(flat_u_raw.dtype, np.integer):
            raise fail(f"`spikes/units` must hold integers; got dtype {flat_u_raw.dtype}")
        lo, hi = int(flat_u_raw.min()), int(flat_u_raw.max())
        if lo < 0 or hi >= n_units:
            raise fail(f"unit indices must lie in [0, {n_units}); got range [{lo}, {hi}]")
    if labels.size:
        if not np.issubdtype(labels.dtype, np.integer):
            raise fail(f"`labels` must hold integers; got dtype {labels.dtype}")
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= n_classes:
            raise fail(f"labels must lie in [0, {n_classes}); got range [{lo}, {hi}]")
    return (flat_t.astype(np.float32), flat_u_raw.astype(np.uint16), counts,
            labels.astype(np.int64))


def load_shd(root: str | os.PathLike, *, duration: float = SHD_DURATION,
             valid_fraction: float = 0.1, seed: int = 0) -> ShdSplits:
    """Load SHD from ``root/shd_train.h5`` and ``root/shd_test.h5`` (paper section 4.1).

    Both files are validated completely (:func:`validate_shd_file`) before
    anything is built.  Spikes at ``t >= duration`` (default 0.7 s) are cut;
    a seeded random ``valid_fraction`` (default 10%) of the training file
    becomes the validation split; the official test file stays apart.  Bin
    at ``dt`` per mini-batch with ``SpikeDataset.batches`` (0.7 s / 2 ms = 350
    steps x 700 units).

    Returns:
        :class:`ShdSplits` (``SpikeDataset`` each: 700 units, 20 classes).

    Raises:
        ParameterError: ``duration``, ``valid_fraction`` or ``seed`` out of range.
        FileNotFoundError: files missing -- the message says which to put where.
        DataError: a malformed file, naming the file and the problem.
    """
    v = check_all({k: SHD_CONSTRAINTS[k] for k in ("duration", "valid_fraction", "seed")},
                  duration=duration, valid_fraction=valid_fraction, seed=seed)
    root = Path(root)
    missing = [name for name in SHD_FILES.values() if not (root / name).is_file()]
    if missing:
        raise FileNotFoundError(missing_shd_message(root, missing))
    arrays = {split: validate_shd_file(root / name) for split, name in SHD_FILES.items()}
    sets = {}
    for split, (t, u, c, y) in arrays.items():
        keep = t < v["duration"]
        counts = np.bincount(np.repeat(np.arange(c.shape[0]), c)[keep], minlength=c.shape[0])
        sets[split] = SpikeDataset.from_flat(t[keep], u[keep], counts, y, SHD_N_UNITS,
                                             v["duration"], SHD_N_CLASSES,
                                             source=str(root / SHD_FILES[split]))
    train, valid = sets["train"].split(v["valid_fraction"], seed=v["seed"])
    return ShdSplits(train=train, valid=valid, test=sets["test"])


def download_shd(root: str | os.PathLike, *, base_url: str = SHD_URL,
                 checksums: dict[str, str] | str = "pinned", timeout: float = 60.0,
                 force: bool = False) -> dict[str, Path]:
    """Download, verify and gunzip the official SHD files into ``root``.

    For each of ``shd_train.h5.gz`` and ``shd_test.h5.gz``: stream it to a
    temp file in ``root``, check its MD5, gunzip to a second temp file,
    validate that (:func:`validate_shd_file`) and only then ``os.replace`` it
    to ``root/shd_{train,test}.h5``.  Nothing half-written is ever left under
    the final names; temp files are removed on any failure.  Existing ``.h5``
    files are kept unless ``force``.

    Args:
        root: target folder (created if needed).
        base_url: where the ``.gz`` files live (default the official server).
        checksums: ``"pinned"`` (the MD5s in :data:`SHD_GZ_MD5`), ``"server"``
            (read ``base_url/md5sums.txt``) or a dict ``{gz name: md5}``.
        timeout: seconds per network operation.
        force: download even if the ``.h5`` files exist.

    Returns:
        ``{"train": path, "test": path}`` of the ``.h5`` files.

    Raises:
        FileNotFoundError: the server cannot be reached (offline) -- the
            message says which files to put where by hand.
        DataError: checksum mismatch, corrupt gzip or malformed HDF5.
    """
    timeout = check("timeout", timeout, SHD_CONSTRAINTS["timeout"])
    if not (checksums in ("pinned", "server") or isinstance(checksums, dict)):
        raise ParameterError(
            f"`checksums` must be 'pinned', 'server' or a dict; got {checksums!r}",
            ["checksums"], [checksums],
        )
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    base = base_url if base_url.endswith("/") else base_url + "/"
    targets = {split: root / name for split, name in SHD_FILES.items()}
    todo = [s for s, p in targets.items() if force or not p.is_file()]
    if not todo:
        return targets
    try:
        if checksums == "pinned":
            expected = dict(SHD_GZ_MD5)
        elif checksums == "server":
            expected = read_md5sums(base + "md5sums.txt", timeout=timeout)
        else:
            expected = {k: str(v).lower() for k, v in checksums.items()}
        for split in todo:
            gz_name = SHD_FILES[split] + ".gz"
            if gz_name not in expected:
                raise DataError(f"no checksum known for {gz_name} (checksums={checksums!r})")
            url = base + gz_name
            tmp_gz, digest = fetch(url, root, timeout=timeout, prefix=".shd-", suffix=".gz.part")
            fd, tmp_h5 = tempfile.mkstemp(dir=root, prefix=".shd-", suffix=".h5.part")
            try:
                if digest != expected[gz_name]:
                    raise DataError(
                        f"{url}: MD5 checksum mismatch: expected {expected[gz_name]}, got {digest}; "
                        f"nothing was written to {root}"
                    )
                try:
                    with gzip.open(tmp_gz, "rb") as src, os.fdopen(fd, "wb") as dst:
                        fd = -1
                        while True:
                            chunk = src.read(1 << 20)
                            if not chunk:
                                break
                            dst.write(chunk)
                except (OSError, EOFError, zlib.error) as err:
                    raise DataError(f"{url}: not a valid gzip file ({err})") from None
                validate_shd_file(tmp_h5)
                os.replace(tmp_h5, targets[split])
            finally:
                if fd != -1:
                    os.close(fd)
                for p in (tmp_gz, Path(tmp_h5)):
                    if p.exists():
                        p.unlink()
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        reason = getattr(err, "reason", err)
        missing = [SHD_FILES[s] for s in todo if not targets[s].is_file()]
        raise FileNotFoundError(
            f"could not download from {base} ({reason}); " + missing_shd_message(root, missing)
        ) from None
    return targets
