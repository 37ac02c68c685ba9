"""Spiking Heidelberg Digits (SHD; Cramer et al. 2022, the paper's ref. [23]) from the official files.

Official layout (one HDF5 file per split, ``shd_train.h5`` and ``shd_test.h5``):
``spikes/times`` (variable-length float arrays, seconds), ``spikes/units``
(variable-length uint16 arrays, 700 channels), ``labels`` (one integer per
sample, 20 classes: digits 0-9 in English and German).

The paper (section 4.1) keeps the first 700 ms of each sample, bins at dt, holds
out a random 10% of the training file for validation and keeps the official
test file apart.  Files are validated completely before anything is returned;
a malformed file is one :class:`DataError` naming the file and the problem (the
dataset, the dtype found and the one expected, the sample).  Events with NaN or inf
spike times (some loaders report a few in the real files) are dropped with one
:class:`DataWarning` per file giving their count and the first sample affected;
``strict=True`` rejects such a file instead.
"""

from __future__ import annotations

import gzip
import os
import shutil
import urllib.error
import urllib.parse
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fluctinit._io import TEMP_PREFIX, TEMP_SUFFIX, atomic_path, check_output_path
from fluctinit.errors import Integer, Interval, ParameterError, check, check_all

from .download import fetch, network_failure, read_md5sums
from ._paths import created_folders, input_root, remove_created
from .spikes import DataError, DataWarning, SpikeDataset, check_spike_times  # noqa: F401

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
    "write_spike_file",
    "read_spike_file",
    "load_file_splits",
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
    "timeout": Interval(0.0, 3600.0, closed="right"),
}


@dataclass(frozen=True)
class ShdSplits:
    """SHD splits in event form: ``train`` and ``valid`` from the training file, ``test`` apart."""

    train: SpikeDataset
    valid: SpikeDataset
    test: SpikeDataset


def missing_shd_message(root: Path, missing: list[str]) -> str:
    """One line saying which SHD files to put where."""
    where = f"{root} (the folder does not exist)" if not Path(root).exists() else f"{root}"
    return (
        f"SHD files missing in {where}: {', '.join(missing)}; download "
        f"{', '.join(n + '.gz' for n in SHD_FILES.values())} from {SHD_URL}, gunzip them and put "
        f"{' and '.join(SHD_FILES.values())} in {root} "
        f"(or run `fluctinit data shd --root {root} --download`)"
    )


def _h5_dtype(dt) -> str:
    """An HDF5 dataset's element type in words: ``float32``, ``variable-length str``, ..."""
    import h5py

    base = h5py.check_vlen_dtype(dt)
    if base is not None:
        name = base.__name__ if isinstance(base, type) else np.dtype(base).name
        return f"variable-length {name}"
    string = h5py.check_string_dtype(dt)
    if string is not None:
        return f"fixed-length {string.encoding} string"
    return str(dt)


def _vlen_kind(dt) -> str:
    """numpy kind ('f', 'i', 'u', 'U', ...) of a variable-length element type; '' if not vlen."""
    import h5py

    base = h5py.check_vlen_dtype(dt)
    return "" if base is None else np.dtype(base).kind


# dataset -> (numpy kinds allowed, variable-length?, what the official files hold)
_SHD_LAYOUT = {
    "spikes/times": ("f", True, "variable-length float arrays (seconds; float32 in the official files)"),
    "spikes/units": ("iu", True, "variable-length integer arrays (uint16 in the official files)"),
    "labels": ("iu", False, "integers (uint16 in the official files)"),
}


def _shd_datasets(fh, fail) -> dict:
    """The three datasets of the official layout, each checked for kind, shape and dtype."""
    import h5py

    spikes = fh.get("spikes")
    if spikes is None:
        raise fail("missing group `spikes`")
    if not isinstance(spikes, h5py.Group):
        raise fail("`spikes` must be a group (holding `times` and `units`); got a dataset")
    out = {}
    for name, (kinds, vlen, holds) in _SHD_LAYOUT.items():
        obj = fh.get(name)
        if obj is None:
            raise fail(f"missing dataset `{name}`")
        if not isinstance(obj, h5py.Dataset):
            raise fail(f"`{name}` must be a dataset; got a group")
        kind = _vlen_kind(obj.dtype) if vlen else ("" if _vlen_kind(obj.dtype) else obj.dtype.kind)
        if kind not in tuple(kinds):
            raise fail(f"`{name}` must hold {holds}; got dtype {_h5_dtype(obj.dtype)}")
        if obj.ndim != 1:
            raise fail(f"`{name}` must be 1-D (one entry per sample); got shape {obj.shape}")
        out[name] = obj
    return out


def _read_shd(path: Path, label: str, n_units: int, n_classes: int):
    """Structural checks of one SHD file; returns flat float64 times (non-finite ones kept),
    units, spikes per sample and labels.  Errors name ``label`` (the file, or a download's URL)."""
    import h5py

    def fail(problem: str) -> DataError:
        return DataError(f"{label}: {problem}")

    try:
        fh = h5py.File(path, "r")
    except OSError as err:
        raise fail(f"not a readable HDF5 file ({str(err).splitlines()[0]})") from None
    try:
        with fh:
            ds = _shd_datasets(fh, fail)
            lengths = [ds[k].shape[0] for k in _SHD_LAYOUT]
            if len(set(lengths)) != 1:
                raise fail(f"length mismatch: {lengths[0]} time arrays, {lengths[1]} unit arrays, "
                           f"{lengths[2]} labels")
            times, units, labels = (ds[k][()] for k in _SHD_LAYOUT)
    except DataError:
        raise
    except (OSError, KeyError, TypeError, ValueError, RuntimeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise fail(f"unreadable HDF5 content, the file may be truncated or corrupt ({first})") from None
    n = lengths[0]
    counts = np.empty(n, dtype=np.int64)
    for i in range(n):
        t, u = times[i], units[i]
        if t.shape[0] != u.shape[0]:
            raise fail(f"sample {i}: {t.size} spike times but {u.size} unit indices")
        counts[i] = t.shape[0]
    flat_t = np.concatenate([np.asarray(t, dtype=np.float64) for t in times]) if n else np.zeros(0)
    flat_u = np.concatenate(list(units)) if n else np.zeros(0, np.uint16)
    if flat_u.size:
        lo, hi = int(flat_u.min()), int(flat_u.max())
        if lo < 0 or hi >= n_units:
            raise fail(f"unit indices must lie in [0, {n_units}); got range [{lo}, {hi}]")
    labels = np.asarray(labels)
    if labels.size:
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= n_classes:
            raise fail(f"labels must lie in [0, {n_classes}); got range [{lo}, {hi}]")
    return flat_t, flat_u, counts, labels


def validate_shd_file(path: str | os.PathLike, *, n_units: int = SHD_N_UNITS,
                      n_classes: int = SHD_N_CLASSES, strict: bool = False):
    """Read and check one SHD file completely.

    Checks: HDF5 readable (not truncated); group ``spikes`` with the 1-D datasets
    ``spikes/times`` (variable-length floats), ``spikes/units`` (variable-length
    integers) and ``labels`` (integers); as many unit arrays and labels as time arrays;
    per sample equal lengths; units in ``[0, n_units)``; times ``>= 0``; labels in
    ``[0, n_classes)``.

    Non-finite spike times (NaN or inf; some loaders report a few in the real files) follow
    :func:`fluctinit.datasets.check_spike_times`: by default those events are dropped and
    one :class:`~fluctinit.datasets.DataWarning` gives their count and the first sample
    affected; ``strict=True`` rejects the file instead.

    Returns:
        ``(times, units, counts, labels)``: flat float32 times (s), flat uint16
        units, spikes per sample (int64), int64 labels.

    Raises:
        FileNotFoundError: the file does not exist.
        DataError: naming the file and the first problem found.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    t, u, counts, labels = _read_shd(path, str(path), n_units, n_classes)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    t, u, offsets = check_spike_times(t, u, offsets, strict=strict, source=str(path))
    return (t.astype(np.float32), u.astype(np.uint16), np.diff(offsets),
            labels.astype(np.int64))


def read_spike_file(path: str | os.PathLike, *, duration: float, n_units: int = SHD_N_UNITS,
                    n_classes: int = SHD_N_CLASSES, strict: bool = False) -> SpikeDataset:
    """One file in SHD's layout (SHD's own, or a converted FSDD file) as a :class:`SpikeDataset`:
    validated completely (:func:`validate_shd_file`), spikes at ``t >= duration`` cut."""
    t, u, c, y = validate_shd_file(path, n_units=n_units, n_classes=n_classes, strict=strict)
    keep = t < duration
    counts = np.bincount(np.repeat(np.arange(c.shape[0]), c)[keep], minlength=c.shape[0])
    return SpikeDataset.from_flat(t[keep], u[keep], counts, y, n_units, duration, n_classes,
                                  source=str(path))


def load_shd(root: str | os.PathLike, *, duration: float = SHD_DURATION,
             valid_fraction: float = 0.1, seed: int = 0, strict: bool = False) -> ShdSplits:
    """Load SHD from ``root/shd_train.h5`` and ``root/shd_test.h5`` (paper section 4.1).

    Both files are validated completely (:func:`validate_shd_file`) before
    anything is built.  Spikes at ``t >= duration`` (default 0.7 s) are cut;
    a seeded random ``valid_fraction`` (default 10%) of the training file
    becomes the validation split; the official test file stays apart.  Bin
    at ``dt`` per mini-batch with ``SpikeDataset.batches`` (0.7 s / 2 ms = 350
    steps x 700 units).

    Events with NaN or inf spike times are dropped with one
    :class:`~fluctinit.datasets.DataWarning` per file (count and first sample), before
    the cut at ``duration``; ``strict=True`` rejects such a file instead.

    Returns:
        :class:`ShdSplits` (``SpikeDataset`` each: 700 units, 20 classes).

    Raises:
        ParameterError: ``root`` empty or a file; ``duration``, ``valid_fraction`` or
            ``seed`` out of range.
        FileNotFoundError: files missing -- the message says which to put where.
        DataError: a malformed file, naming the file and the problem.
    """
    return load_file_splits(root, SHD_FILES, missing_message=missing_shd_message,
                            read=lambda path, cut: read_spike_file(path, duration=cut, strict=strict),
                            duration=duration, valid_fraction=valid_fraction, seed=seed)


def load_file_splits(root, files: dict[str, str], *, read, missing_message, duration: float,
                     valid_fraction: float, seed: int) -> ShdSplits:
    """The loading every SHD-layout data set shares: check ``duration``, ``valid_fraction`` and
    ``seed``; ``root`` must hold ``files`` (``{"train": name, "test": name}``; the FileNotFoundError
    says ``missing_message(root, missing)``); ``read(path, duration)`` each file; a seeded
    ``valid_fraction`` of the training file is the validation split, the test file stays apart."""
    v = check_all({k: SHD_CONSTRAINTS[k] for k in ("duration", "valid_fraction", "seed")},
                  duration=duration, valid_fraction=valid_fraction, seed=seed)
    root = input_root("root", root, " and ".join(files.values()))
    missing = [name for name in files.values() if not (root / name).is_file()]
    if missing:
        raise FileNotFoundError(missing_message(root, missing))
    sets = {split: read(root / name, v["duration"]) for split, name in files.items()}
    train, valid = sets["train"].split(v["valid_fraction"], seed=v["seed"])
    return ShdSplits(train=train, valid=valid, test=sets["test"])


def _check_base_url(base_url) -> str:
    scheme = urllib.parse.urlsplit(base_url).scheme if isinstance(base_url, str) else ""
    if scheme not in ("http", "https", "file"):
        raise ParameterError(f"`base_url` must be an http://, https:// or file:// URL; got {base_url!r}",
                             ["base_url"], [base_url])
    return base_url if base_url.endswith("/") else base_url + "/"


def _fetch_one(url: str, target: Path, md5: str, timeout: float) -> None:
    """Download ``url``, check its MD5, gunzip and validate it, then move it onto ``target``."""
    tmp_gz, digest = fetch(url, target.parent, timeout=timeout,
                           prefix=f"{TEMP_PREFIX}{target.name}.gz.", suffix=TEMP_SUFFIX)
    try:
        if digest != md5:
            raise DataError(f"{url}: MD5 checksum mismatch: expected {md5}, got {digest}; "
                            f"nothing was written to {target.parent}")
        with atomic_path(target) as tmp_h5:
            try:
                with gzip.open(tmp_gz, "rb") as src, open(tmp_h5, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except (OSError, EOFError, zlib.error) as err:
                raise DataError(f"{url}: not a valid gzip file ({err})") from None
            _read_shd(tmp_h5, url, SHD_N_UNITS, SHD_N_CLASSES)  # NaN/inf times: load_shd's policy
    finally:
        tmp_gz.unlink(missing_ok=True)


def download_shd(root: str | os.PathLike, *, base_url: str = SHD_URL,
                 checksums: dict[str, str] | str = "pinned", timeout: float = 60.0,
                 force: bool = False) -> dict[str, Path]:
    """Download, verify and gunzip the official SHD files into ``root``.

    For each of ``shd_train.h5.gz`` and ``shd_test.h5.gz``: stream it to a
    temp file in ``root``, check its MD5, gunzip to a second temp file,
    check its layout (as :func:`validate_shd_file`; NaN or inf times are left to
    :func:`load_shd`'s policy) and only then move it onto ``root/shd_{train,test}.h5``
    (:func:`fluctinit._io.atomic_path`).  Nothing half-written is ever left under
    the final names; temp files are removed on any failure, and so is every folder
    this call created while no file was complete (an offline attempt leaves nothing).
    Existing ``.h5`` files are kept unless ``force``.

    Args:
        root: target folder (created if needed; checked writable before anything starts).
        base_url: where the ``.gz`` files live (default the official server); http://,
            https:// or file://.
        checksums: ``"pinned"`` (the MD5s in :data:`SHD_GZ_MD5`), ``"server"``
            (read ``base_url/md5sums.txt``) or a dict ``{gz name: md5}``.
        timeout: seconds per network operation, in (0, 3600].
        force: download even if the ``.h5`` files exist.

    Returns:
        ``{"train": path, "test": path}`` of the ``.h5`` files.

    Raises:
        ParameterError: ``root`` not a writable folder, or ``base_url``, ``checksums``,
            ``timeout`` out of range.
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
    base = _check_base_url(base_url)
    root = check_output_path("root", root, kind="dir")
    targets = {split: root / name for split, name in SHD_FILES.items()}
    todo = [s for s, p in targets.items() if force or not p.is_file()]
    if not todo:
        return targets
    created = created_folders(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        if checksums == "pinned":
            expected = dict(SHD_GZ_MD5)
        elif checksums == "server":
            expected = read_md5sums(base + "md5sums.txt", timeout=timeout)
        else:
            expected = {k: str(v).lower() for k, v in checksums.items()}
        for split in todo:
            gz_name = SHD_FILES[split] + ".gz"
            if gz_name not in expected:
                raise DataError(f"{base}{gz_name}: no checksum known (checksums={checksums!r})")
            _fetch_one(base + gz_name, targets[split], expected[gz_name], timeout)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        remove_created(created)
        where, reason = network_failure(err, base)
        missing = [SHD_FILES[s] for s in todo if not targets[s].is_file()]
        raise FileNotFoundError(
            f"could not download from {where} ({reason}); " + missing_shd_message(root, missing)
        ) from None
    except BaseException:
        remove_created(created)
        raise
    return targets


def write_spike_file(path: str | os.PathLike, times: list, units: list, labels, *,
                     extra: dict | None = None, attrs: dict | None = None) -> Path:
    """Write samples in SHD's HDF5 layout, atomically (:func:`fluctinit._io.atomic_path`).

    ``spikes/times`` (variable-length float32, seconds), ``spikes/units`` (variable-length
    uint16), ``labels`` (uint16), one entry per sample; ``extra`` adds datasets under ``extra/``
    (arrays as they are, lists of strings as variable-length UTF-8); ``attrs`` become the file's
    attributes.  Returns ``path``.
    """
    import h5py

    path = Path(path)
    if not (len(times) == len(units) == len(labels)):
        raise ValueError(f"times, units and labels must have one entry per sample; got "
                         f"{len(times)}, {len(units)}, {len(labels)}")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as fh:
            grp = fh.create_group("spikes")
            for name, arrays, dt in (("times", times, np.float32), ("units", units, np.uint16)):
                ds = grp.create_dataset(name, (len(arrays),), dtype=h5py.vlen_dtype(np.dtype(dt)))
                for i, a in enumerate(arrays):
                    ds[i] = np.asarray(a, dtype=dt)
            fh.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
            if extra:
                ex = fh.create_group("extra")
                for name, value in extra.items():
                    if isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
                        ex.create_dataset(name, data=np.array(value, dtype=object),
                                          dtype=h5py.string_dtype("utf-8"))
                    else:
                        ex.create_dataset(name, data=np.asarray(value))
            for k, v in (attrs or {}).items():
                fh.attrs[k] = v
    return path
