"""Generated stand-in files in the official formats of SHD, CIFAR-10 and DVS-Gesture.

For smoke tests and ``fluctinit figures --quick`` where the real data cannot be had: the files
are read by the same loaders as the real ones (:func:`~fluctinit.datasets.load_shd`,
:func:`~fluctinit.datasets.load_cifar10`, :func:`~fluctinit.datasets.load_dvs_gesture`), and
their classes are learnable by construction (the class decides where in the input the activity
appears).  Nothing measured on them is a result on the data set they imitate.

* :func:`write_spike_files` -- SHD's HDF5 layout (``spikes/times``, ``spikes/units``,
  ``labels``; :func:`~fluctinit.datasets.write_spike_file`): class ``c`` drives the 700 units
  ``[c 700/k, (c+1) 700/k)`` at ``high`` Hz, the others at ``low`` Hz (Poisson).
* :func:`write_shd_standin` -- ``shd_train.h5`` and ``shd_test.h5`` of :func:`write_spike_files`.
* :func:`write_cifar10_standin` -- ``cifar-10-python.tar.gz`` (pickled batches as the python
  version ships them): class ``c < 3`` has a bright colour channel ``c``, the others are dark.
* :func:`write_dvs_gesture_standin` -- the ``DvsGesture/`` layout: AEDAT 3.1 recordings (one
  polarity packet), ``_labels.csv`` files and the trial lists; class ``c`` puts its events in
  quadrant ``c % 4`` of the 128 x 128 sensor.
* :func:`write_standin` -- the one of a data set by name.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import struct
import tarfile
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["write_spike_files", "write_shd_standin", "write_cifar10_standin", "write_dvs_gesture_standin",
           "write_standin", "STANDIN_DATASETS"]

#: data sets that have a stand-in writer
STANDIN_DATASETS = ("shd", "cifar10", "dvs_gesture")


def write_spike_files(root: str | os.PathLike, names: Sequence[str], n_train: int, n_test: int = 32, *,
                      duration: float = 0.04, n_classes: int = 4, high: float = 150.0, low: float = 5.0,
                      seed: int = 0, attrs: dict | None = None) -> list[Path]:
    """Train and test files ``names`` (two names) in SHD's HDF5 layout under ``root``.

    Returns:
        the two paths.
    """
    from .shd import SHD_N_UNITS, write_spike_file

    rng = np.random.default_rng(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    width = SHD_N_UNITS // n_classes
    paths = []
    for name, n in zip(names, (n_train, n_test)):
        labels = np.arange(n) % n_classes
        times, units = [], []
        for c in labels:
            rate = np.full(SHD_N_UNITS, low)
            rate[width * c: width * (c + 1)] = high
            u = np.repeat(np.arange(SHD_N_UNITS), rng.poisson(rate * duration))
            t = rng.uniform(0, duration, size=u.size)
            order = np.argsort(t)
            times.append(t[order])
            units.append(u[order])
        write_spike_file(root / name, times, units, labels, attrs=attrs)
        paths.append(root / name)
    return paths


def write_shd_standin(root: str | os.PathLike, n_train: int = 96, n_test: int = 32, **kwargs) -> list[Path]:
    """``shd_train.h5`` and ``shd_test.h5`` (:func:`write_spike_files`; ``kwargs`` go there)."""
    from .shd import SHD_FILES

    return write_spike_files(root, (SHD_FILES["train"], SHD_FILES["test"]), n_train, n_test, **kwargs)


def write_cifar10_standin(root: str | os.PathLike, n_per_batch: int = 20, n_test: int = 20, *, n_classes: int = 4,
                          seed: int = 0) -> Path:
    """``cifar-10-python.tar.gz`` with five training batches of ``n_per_batch`` images and a
    test batch of ``n_test``; returns its path."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)

    def batch(n):
        labels = np.arange(n) % n_classes
        img = rng.integers(0, 60, size=(n, 3, 32, 32))
        for i, c in enumerate(labels):
            if c < 3:
                img[i, c] += 190
        return {b"data": img.astype(np.uint8).reshape(n, 3072), b"labels": labels.tolist()}

    path = root / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, n in [(f"data_batch_{i}", n_per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
            raw = pickle.dumps(batch(n), protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


def _aedat(events_t, x, y, p) -> bytes:
    """An AEDAT 3.1 file with one polarity packet (layout as in datasets/dvs_gesture.py's docstring)."""
    head = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#!END-HEADER\r\n"
    n = len(events_t)
    data = (x.astype(np.uint32) << 17) | (y.astype(np.uint32) << 2) | (p.astype(np.uint32) << 1) | 1
    ev = np.empty(n, dtype=[("data", "<u4"), ("ts", "<i4")])
    ev["data"], ev["ts"] = data, events_t
    return head + struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, n, n, n) + ev.tobytes()


def write_dvs_gesture_standin(root: str | os.PathLike, n_train: int = 64, n_test: int = 16, *,
                              length_us: int = 60_000, events: int = 1500, n_classes: int = 4,
                              seed: int = 0) -> Path:
    """``root/DvsGesture/`` with 8 gestures per recording; returns that folder."""
    rng = np.random.default_rng(seed)
    base = Path(root) / "DvsGesture"
    base.mkdir(parents=True, exist_ok=True)
    per_file = 8
    for split, n in (("train", n_train), ("test", n_test)):
        names = []
        for f in range(math.ceil(n / per_file)):
            name = f"user{len(names) + (0 if split == 'train' else 50):02d}_{split}{f}.aedat"
            names.append(name)
            ts, xs, ys, ps, rows = [], [], [], [], []
            for k in range(per_file):
                c = (f * per_file + k) % n_classes
                start = k * (length_us + 10_000) + 1_000
                ts.append(np.sort(rng.integers(start, start + length_us, size=events)))
                xs.append(rng.integers(0, 64, size=events) + 64 * (c % 2))
                ys.append(rng.integers(0, 64, size=events) + 64 * ((c // 2) % 2))
                ps.append(rng.integers(0, 2, size=events))
                rows.append(f"{c + 1},{start},{start + length_us}")
            (base / name).write_bytes(
                _aedat(np.concatenate(ts), np.concatenate(xs), np.concatenate(ys), np.concatenate(ps)))
            (base / name.replace(".aedat", "_labels.csv")).write_text(
                "class,startTime_usec,endTime_usec\n" + "\n".join(rows) + "\n")
        (base / f"trials_to_{split}.txt").write_text("\n".join(names) + "\n")
    return base


def write_standin(dataset: str, root: str | os.PathLike, *, seed: int = 0, **sizes) -> None:
    """The stand-in files of ``dataset`` (one of :data:`STANDIN_DATASETS`) under ``root``;
    ``sizes`` go to its writer (default: the writer's)."""
    from fluctinit.errors import OneOf, check

    check("dataset", dataset, OneOf(STANDIN_DATASETS))
    {"shd": write_shd_standin, "cifar10": write_cifar10_standin,
     "dvs_gesture": write_dvs_gesture_standin}[dataset](root, seed=seed, **sizes)
