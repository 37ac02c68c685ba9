"""Feeding an experiment's data set to training: train/validation/test splits that yield batches.

:func:`load_data` loads (or, for Randman, generates) the data set named in an experiment
config and returns :class:`Splits`, each split an object with
``batches(batch_size, shuffle, generator) -> iterator of (x, labels)`` bound to the
experiment's time step, ``dtype`` and device.  :class:`TensorSplit` is such a split held in
memory (tests, custom data).  The DVS-Gesture training set has no official validation
split; a seeded one is drawn from it.

:func:`has_spikes` says whether a split holds any input spike; :func:`warn_if_silent` issues
one :class:`SilentDataWarning` for a split without any (a network fed nothing cannot learn;
`fluctinit validate` refuses such data, training warns and goes on).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

import torch

from fluctinit.errors import ParameterError

from .experiments import SPIKE_TIME_DATA, check_data_files, n_steps

__all__ = ["Splits", "TensorSplit", "load_data", "has_spikes", "warn_if_silent", "SilentDataWarning"]


class SilentDataWarning(UserWarning):
    """A training split holds no input spike: the network gets no input and cannot learn."""


@dataclass
class Splits:
    """Train/validation/test data of an experiment.

    Each split is an object with ``batches(batch_size, shuffle, generator) -> iterator of
    (x, labels)`` bound to the experiment's time step, device and dtype (see :func:`load_data`).
    """

    train: Any
    valid: Any
    test: Any
    nu: float | None = None  # measured mean input rate (Hz), where the loader gives one


class TensorSplit:
    """A split held in memory: ``x`` of shape ``(samples, ...)`` and integer ``labels``.

    ``batches(batch_size, shuffle, generator)`` yields ``(x[idx], labels[idx])`` in the order
    ``torch.randperm(n, generator=generator)`` (or storage order without shuffling).
    """

    def __init__(self, x: torch.Tensor, labels: torch.Tensor):
        if len(x) != len(labels):
            raise ParameterError(
                f"`labels` must have one entry per sample ({len(x)}); got {len(labels)}",
                ["labels"], [len(labels)],
            )
        self.x, self.labels = x, labels.long()

    def __len__(self):
        return len(self.x)

    def batches(self, batch_size: int, shuffle: bool, generator: torch.Generator | None):
        n = len(self.x)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            yield self.x[idx], self.labels[idx]


class _SpikeSplit:
    """Adapter: a sim ``SpikeDataset`` (event form) binned at dt, ``n_steps`` fixed.

    ``events=True``: batches are :class:`~fluctinit.sim.events.SpikeEvents` (binned
    events, never a dense tensor), which a network with a dense first layer feeds straight to
    the fast core's event-input scan (SHD: a dense batch would be 400 x 350 x 700 floats).
    """

    def __init__(self, ds, dt: float, n_steps: int, dtype, device, events: bool = False):
        self.ds, self.dt, self.n_steps, self.dtype, self.device = ds, dt, n_steps, dtype, device
        self.events = events

    def __len__(self):
        return len(self.ds)

    def batches(self, batch_size: int, shuffle: bool, generator: torch.Generator | None):
        if self.events:
            from fluctinit.sim.events import SpikeEvents

            for eb, y in self.ds.batches(
                batch_size, self.dt, shuffle=shuffle, generator=generator, n_steps=self.n_steps,
                dtype=self.dtype, device=self.device, form="events",
            ):
                yield SpikeEvents.from_event_batch(eb), y
            return
        yield from self.ds.batches(
            batch_size, self.dt, shuffle=shuffle, generator=generator, n_steps=self.n_steps,
            dtype=self.dtype, device=self.device,
        )


class _GenericSplit:
    """Adapter for loaders whose ``batches`` takes ``(batch_size, shuffle=, generator=, **kwargs)``.

    Evaluation passes (``generator=None``) get a fixed generator, so any preprocessing
    randomness (DVS-Gesture event dropping) is the same at every evaluation.
    """

    def __init__(self, ds, kwargs: dict):
        self.ds, self.kwargs = ds, kwargs

    def __len__(self):
        return len(self.ds)

    def batches(self, batch_size: int, shuffle: bool, generator: torch.Generator | None):
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        return self.ds.batches(batch_size, shuffle=shuffle, generator=generator, **self.kwargs)


def has_spikes(split) -> bool | None:
    """Whether ``split`` holds at least one input spike inside the trained time window.

    Knows the splits of :func:`load_data` and :class:`TensorSplit` (any non-zero entry);
    ``None`` for inputs that are not spikes (CIFAR-10 images, which the model's encoder turns
    into spikes) or splits it does not know.  Reads the stored data; builds no batch.
    """
    if isinstance(split, TensorSplit):
        return bool(split.x.count_nonzero())
    if isinstance(split, _SpikeSplit):
        return bool((split.ds.times < split.n_steps * split.dt).any())
    events = getattr(getattr(split, "ds", None), "events", None)  # DVS-Gesture: a SpikeDataset
    if events is not None and hasattr(events, "n_events"):
        return events.n_events > 0
    return None


def warn_if_silent(split, what: str = "the data") -> bool:
    """Issue a :class:`SilentDataWarning` if the training ``split`` holds no spike; return whether it did."""
    if has_spikes(split) is False:
        warnings.warn(
            f"the training split of {what} holds no spike: the network gets no input and cannot learn "
            "(check the data set)", SilentDataWarning, stacklevel=3,
        )
        return True
    return False


def load_data(
    config: dict[str, Any],
    root: str | os.PathLike = ".",
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    strict: bool = False,
) -> Splits:
    """Load an experiment's data set (files under ``root``; Randman is generated).

    Spike events with non-finite times in an SHD or FSDD file are dropped with one warning;
    with ``strict`` the file is rejected instead (fluctinit.datasets.check_spike_times).

    Dense networks on the CPU get their spikes as binned events (the fused core's
    event-input scan); convolutional networks and CUDA get dense tensors.

    Raises:
        FileNotFoundError: one line naming the missing files and where to put them.
        fluctinit.datasets.DataError: a malformed file; an FSDD file whose channels are not
            ``network.n_in`` (naming both).
    """
    check_data_files(config, root)
    events = config["network"]["kind"] == "dense" and torch.device(device or "cpu").type == "cpu"
    ds = config["data"]["dataset"]
    options = {"strict": strict} if ds in SPIKE_TIME_DATA else {}
    return _LOADERS[ds](config, root, dtype, device, events, **options)


def _spike_splits(config: dict[str, Any], sets, nu: float, dtype, device, events: bool) -> Splits:
    """:class:`Splits` of spike data sets (train, valid, test) binned at the experiment's dt."""
    dt, T = config["data"]["dt"], n_steps(config)
    train, valid, test = (_SpikeSplit(s, dt, T, dtype, device, events=events) for s in sets)
    return Splits(train, valid, test, nu=nu)


def _load_randman(config: dict[str, Any], root, dtype, device, events: bool) -> Splits:
    from fluctinit.datasets.randman import RandmanConfig, make_randman

    d = config["data"]
    n_tr, n_va, n_te = d.get("split", [800, 100, 100])
    rc = RandmanConfig(
        n_units=d.get("n_units", 20), n_classes=d.get("n_classes", 10),
        samples_per_class=d.get("samples_per_class", 1000), n_train=n_tr, n_valid=n_va, n_test=n_te,
        spike_window=d.get("spike_window", 0.1), silence=d["duration"] - d.get("spike_window", 0.1),
        seed=d.get("seed", 0),
        **{k: d[k] for k in ("frequencies", "spectrum", "zero_constant") if k in d},
        **({"split": d["split_mode"]} if "split_mode" in d else {}),
    )
    sp = make_randman(rc)
    return _spike_splits(config, (sp.train, sp.valid, sp.test), rc.mean_rate, dtype, device, events)


def _load_spike_files(config: dict[str, Any], root, dtype, device, events: bool, strict: bool = False) -> Splits:
    """SHD (``load_shd``) or FSDD through SHD's cochlear model (``load_fsdd``): the same layout,
    options and splits; an FSDD file must have ``network.n_in`` channels."""
    from fluctinit import datasets

    d = config["data"]
    if d["dataset"] == "fsdd":
        _check_channels(config, root)
    load = datasets.load_fsdd if d["dataset"] == "fsdd" else datasets.load_shd
    sp = load(root, duration=d["duration"], valid_fraction=d.get("validation_fraction", 0.1),
              seed=d.get("split_seed", 0), strict=strict)
    return _spike_splits(config, (sp.train, sp.valid, sp.test), float(sp.train.mean_rate), dtype, device, events)


def _check_channels(config: dict[str, Any], root) -> None:
    """Each FSDD file's channel count (its ``channels`` attribute) is the network's input size."""
    from fluctinit import datasets

    n_in = config["network"]["n_in"]
    for name in datasets.FSDD_FILES.values():
        path = os.path.join(root, name)
        units = datasets.spike_file_units(path)
        if units != n_in:
            raise datasets.DataError(
                f"{path}: {units} channels (its `channels` attribute), but experiment {config['name']!r} has "
                f"`network.n_in` = {n_in}: data set 'fsdd' takes {n_in}-channel files; convert the recordings "
                f"again with `fluctinit data fsdd --channels {n_in}`")


def _load_cifar10(config: dict[str, Any], root, dtype, device, events: bool) -> Splits:
    from fluctinit import datasets

    d = config["data"]
    sp = datasets.load_cifar10(root, valid_fraction=d.get("validation_fraction", 0.1), seed=d.get("split_seed", 0))
    kwargs = {"dtype": dtype, "device": device}
    return Splits(_GenericSplit(sp.train, kwargs), _GenericSplit(sp.valid, kwargs), _GenericSplit(sp.test, kwargs),
                  nu=None)


def _load_dvs_gesture(config: dict[str, Any], root, dtype, device, events: bool) -> Splits:
    from fluctinit import datasets

    d = config["data"]
    sp = datasets.load_dvs_gesture(root, factor=128 // d.get("size", 32))
    train, valid = _split_dvs(sp.train, d.get("validation_fraction", 0.1), d.get("split_seed", 0))
    opts = {"dt": d["dt"], "crop": d["duration"], "drop_prob": d.get("drop_probability", 0.5),
            "dtype": dtype, "device": device}
    return Splits(
        _GenericSplit(train, dict(opts, random_crop=True)),
        _GenericSplit(valid, dict(opts, random_crop=False)),
        _GenericSplit(sp.test, dict(opts, random_crop=False)),
        nu=None,
    )


#: data set name (``config["data"]["dataset"]``) -> loader
_LOADERS = {
    "randman": _load_randman,
    "shd": _load_spike_files,
    "fsdd": _load_spike_files,
    "cifar10": _load_cifar10,
    "dvs_gesture": _load_dvs_gesture,
}


def _split_dvs(ds, fraction: float, seed: int):
    """Seeded validation split of a DVS-Gesture training set (the official split has none)."""
    import numpy as np

    from fluctinit.datasets import DvsGestureDataset

    n = len(ds)
    perm = np.random.default_rng(seed).permutation(n)
    n_valid = max(1, int(round(fraction * n))) if n > 1 else 0
    va, tr = np.sort(perm[:n_valid]), np.sort(perm[n_valid:])
    mk = lambda idx: DvsGestureDataset(ds.events.subset(idx), ds.lengths[idx], ds.side)  # noqa: E731
    return mk(tr), mk(va)
