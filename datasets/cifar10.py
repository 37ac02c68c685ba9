"""CIFAR-10 from the official python archive (the paper's section 4.1).

Official layout: ``cifar-10-python.tar.gz`` holding ``cifar-10-batches-py/``
with ``data_batch_1`` .. ``data_batch_5`` (training) and ``test_batch``, each a
pickled dict with ``b"data"`` (uint8, ``(N, 3072)``: 1024 red, then green, then
blue values of a 32x32 image in row-major order) and ``b"labels"`` (N ints in
0..9).  The loader reads either the archive itself or its extracted folder.

The pickles are read with a restricted unpickler that only builds plain
containers and numpy arrays, so a tampered file cannot run code.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from fluctinit.errors import Integer, Interval, check, check_all

from ._paths import input_root
from .spikes import DataError

__all__ = [
    "CIFAR_ARCHIVE",
    "CIFAR_DIR",
    "CIFAR_TRAIN_BATCHES",
    "CIFAR_TEST_BATCH",
    "ImageDataset",
    "CifarSplits",
    "load_cifar10",
    "read_cifar_batch",
]

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR_DIR = "cifar-10-batches-py"
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"
CIFAR_N_CLASSES = 10

CIFAR_CONSTRAINTS = {
    "valid_fraction": Interval(0.0, 1.0, closed="left"),
    "seed": Integer(low=0),
    "batch_size": Integer(low=1),
}

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that only resolves the numpy globals an array pickle needs."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        if module.startswith("numpy.core."):
            module = "numpy._core." + module[len("numpy.core."):]
        return super().find_class(module, name)


def read_cifar_batch(raw: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse and check one pickled CIFAR-10 batch.

    Returns:
        ``(images, labels)``: uint8 ``(N, 3, 32, 32)`` and int64 ``(N,)``.

    Raises:
        DataError: naming ``source`` and the problem.
    """
    try:
        obj = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as err:  # noqa: BLE001 - any unpickling failure is a malformed file
        raise DataError(f"{source}: not a CIFAR-10 python batch ({type(err).__name__}: {err})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{source}: expected a pickled dict; got {type(obj).__name__}")
    for key in (b"data", b"labels"):
        if key not in obj:
            raise DataError(f"{source}: missing key {key!r}")
    data, labels = obj[b"data"], obj[b"labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        dtype = getattr(data, "dtype", type(data).__name__)
        raise DataError(f"{source}: b'data' must be uint8 of shape (N, 3072); got {dtype} {shape}")
    try:
        lab = np.asarray(labels)
    except (TypeError, ValueError):
        raise DataError(f"{source}: b'labels' must be a list of integers; got a ragged "
                        f"{type(labels).__name__}") from None
    if lab.ndim != 1:
        raise DataError(f"{source}: b'labels' must be a flat list of integers; got shape {lab.shape}")
    if lab.shape[0] != data.shape[0]:
        raise DataError(
            f"{source}: length mismatch: {data.shape[0]} images but {lab.size} labels"
        )
    if lab.size and not np.issubdtype(lab.dtype, np.integer):
        raise DataError(f"{source}: labels must be integers in [0, {CIFAR_N_CLASSES}); got dtype {lab.dtype}")
    if lab.size and (lab.min() < 0 or lab.max() >= CIFAR_N_CLASSES):
        raise DataError(f"{source}: labels must be integers in [0, {CIFAR_N_CLASSES}); got range "
                        f"[{lab.min()}, {lab.max()}]")
    return data.reshape(-1, 3, 32, 32), lab.astype(np.int64)


@dataclass(frozen=True)
class ImageDataset:
    """Static images with labels.

    Attributes:
        images: uint8 tensor ``(N, 3, 32, 32)`` (channels R, G, B).
        labels: int64 tensor ``(N,)``.
    """

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def normalized(self, indices=None, *, dtype: torch.dtype = torch.float32,
                   device: torch.device | str | None = None) -> torch.Tensor:
        """Images mapped to [-1, 1] (paper section 4.1): ``x / 127.5 - 1``, ``(B, 3, 32, 32)``."""
        x = self.images if indices is None else self.images[torch.as_tensor(indices)]
        return (x.to(device=device, dtype=dtype) / 127.5) - 1.0

    def batches(self, batch_size: int, *, shuffle: bool = True,
                generator: torch.Generator | None = None, drop_last: bool = False,
                dtype: torch.dtype = torch.float32,
                device: torch.device | str | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Mini-batches ``(images in [-1, 1] (B, 3, 32, 32), labels (B,))``, seeded shuffle."""
        batch_size = check("batch_size", batch_size, CIFAR_CONSTRAINTS["batch_size"])
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        stop = n - (n % batch_size) if drop_last else n
        for start in range(0, stop, batch_size):
            idx = order[start : start + batch_size]
            yield self.normalized(idx, dtype=dtype, device=device), self.labels[idx].to(device)


@dataclass(frozen=True)
class CifarSplits:
    """CIFAR-10 splits: ``train``/``valid`` from the five training batches, ``test`` apart."""

    train: ImageDataset
    valid: ImageDataset
    test: ImageDataset


def _missing_message(root: Path) -> str:
    return (
        f"CIFAR-10 not found in {root}{'' if root.exists() else ' (the folder does not exist)'}: put {CIFAR_ARCHIVE} (the python version from {CIFAR_URL}) "
        f"in {root}, or its extracted folder {CIFAR_DIR}/ with "
        f"{', '.join(CIFAR_TRAIN_BATCHES)} and {CIFAR_TEST_BATCH}"
    )


def _read_members(root: Path) -> dict[str, tuple[bytes, str]]:
    names = (*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH)
    folder = root / CIFAR_DIR
    if folder.is_dir():
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{folder}: missing {', '.join(missing)}; " + _missing_message(root)
            )
        return {n: ((folder / n).read_bytes(), str(folder / n)) for n in names}
    archive = root / CIFAR_ARCHIVE
    if not archive.is_file():
        raise FileNotFoundError(_missing_message(root))
    out = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for n in names:
                member = f"{CIFAR_DIR}/{n}"
                try:
                    fh = tar.extractfile(member)
                except KeyError:
                    fh = None
                if fh is None:
                    raise DataError(f"{archive}: missing member {member}")
                out[n] = (fh.read(), f"{archive}:{member}")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise DataError(f"{archive}: not a readable tar.gz archive, truncated or corrupt "
                        f"({type(err).__name__}: {err})") from None
    return out


def load_cifar10(root: str | os.PathLike, *, valid_fraction: float = 0.1,
                 seed: int = 0) -> CifarSplits:
    """Load CIFAR-10 from ``root`` (the archive or its extracted folder), all files checked first.

    A seeded random ``valid_fraction`` of the 50 000 training images forms the
    validation split; ``test_batch`` stays apart.  Images stay uint8 in memory
    (``(N, 3, 32, 32)``); :meth:`ImageDataset.batches` maps them to [-1, 1]
    per mini-batch as the paper does.

    Raises:
        ParameterError: ``root`` empty or a file; ``valid_fraction`` or ``seed`` out of range.
        FileNotFoundError: nothing found -- the message says what to put where.
        DataError: a malformed archive or batch, naming the file.
    """
    v = check_all({k: CIFAR_CONSTRAINTS[k] for k in ("valid_fraction", "seed")},
                  valid_fraction=valid_fraction, seed=seed)
    root = input_root("root", root, f"{CIFAR_ARCHIVE} or {CIFAR_DIR}/")
    raw = _read_members(root)
    parsed = {n: read_cifar_batch(b, src) for n, (b, src) in raw.items()}
    x_train = np.concatenate([parsed[n][0] for n in CIFAR_TRAIN_BATCHES])
    y_train = np.concatenate([parsed[n][1] for n in CIFAR_TRAIN_BATCHES])
    perm = np.random.default_rng(v["seed"]).permutation(x_train.shape[0])
    n_valid = int(round(v["valid_fraction"] * x_train.shape[0]))
    tr, va = np.sort(perm[n_valid:]), np.sort(perm[:n_valid])
    mk = lambda x, y: ImageDataset(torch.from_numpy(np.ascontiguousarray(x)),  # noqa: E731
                                   torch.from_numpy(y))
    x_test, y_test = parsed[CIFAR_TEST_BATCH]
    return CifarSplits(train=mk(x_train[tr], y_train[tr]), valid=mk(x_train[va], y_train[va]),
                       test=mk(x_test, y_test))
