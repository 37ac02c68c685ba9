"""A common representation of spike data sets in event form (re-exported by :mod:`fluctinit.datasets`).

:class:`SpikeDataset` holds samples as events -- per sample, spike times in
seconds and unit indices -- plus labels, the number of units and the sample
duration.  It is what Randman (:func:`fluctinit.datasets.make_randman`), SHD
(:func:`load_shd`) and DVS-Gesture (:func:`load_dvs_gesture`) produce.  Dense
``(batch, time, units)`` tensors are binned per mini-batch only (an SHD-sized
data set, 8156 x 350 x 700 floats, would be 8 GB), and the sparse form
(:class:`EventBatch`: indices of the active ``(sample, step, unit)``) serves an
event-driven core.

Binning at step ``dt`` (seconds): a spike at time ``t`` falls into step
``n = floor(t/dt)``; a sample has ``n_steps = ceil(duration/dt)`` steps
(within 1e-9 relative, so 0.7 s / 2 ms = 350); spikes at ``t >= n_steps*dt``
are dropped.  The dense value is the number of spikes in the bin (``binary=True``
clips it to 1).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from fluctinit.errors import Integer, Interval, OneOf, ParameterError, check, check_all

__all__ = [
    "DataError",
    "DataWarning",
    "check_spike_times",
    "SpikeDataset",
    "EventBatch",
    "DATASET_CONSTRAINTS",
    "n_steps_for",
]


def _indices(source: str, what: str, values: np.ndarray, top: int | None) -> np.ndarray:
    """``values`` as int64 indices in ``[0, top)`` (``top`` None: no upper bound), or a
    :class:`DataError` naming ``source`` and ``what``."""
    if not np.issubdtype(values.dtype, np.integer):
        if values.size and not np.all(np.equal(np.mod(values, 1), 0)):
            raise DataError(f"{source}: {what} must be integers")
    values = values.astype(np.int64)
    if values.size:
        lo, hi = int(values.min()), int(values.max())
        if lo < 0 or (top is not None and hi >= top):
            raise DataError(f"{source}: {what} must lie in [0, {top if top is not None else 'inf'}); "
                            f"got range [{lo}, {hi}]")
    return values


class DataError(ValueError):
    """A data file (or in-memory data) is malformed; the message names the file and the problem."""


class DataWarning(UserWarning):
    """Data were repaired while loading (events with NaN or inf spike times dropped); the
    message names the file, the count and the first sample affected."""


def _caller_level() -> int:
    """``stacklevel`` of the first frame outside fluctinit.datasets, so a warning points at the
    caller's line (``warnings.warn`` counts 1 for the function that calls it)."""
    import sys

    level, frame = 1, sys._getframe(1)
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith("fluctinit.datasets"):
        frame, level = frame.f_back, level + 1
    return level


def check_spike_times(times: np.ndarray, units: np.ndarray, offsets: np.ndarray, *, strict: bool,
                      source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The one policy for spike times, applied wherever they are read.

    Negative finite times are always a :class:`DataError`.  Non-finite times (NaN, +inf,
    -inf; a few occur in real SHD files) are a :class:`DataError` if ``strict``; otherwise
    those events are dropped and one :class:`DataWarning` gives their count and the first
    sample affected.

    Args:
        times: ``(n_events,)`` float spike times (s), grouped by sample.
        units: ``(n_events,)`` unit indices of the same events.
        offsets: ``(n_samples + 1,)`` int64, sample ``i`` is ``offsets[i]:offsets[i+1]``.
        strict: reject non-finite times instead of dropping them.
        source: the file (or data) named in the messages.

    Returns:
        ``(times, units, offsets)`` of the finite events (the inputs themselves if all are).
    """
    if not times.size:
        return times, units, offsets
    finite = np.isfinite(times)
    bad = (times < 0) & finite
    if strict:
        bad |= ~finite
    if bad.any():
        i = int(np.argmax(bad))
        sample = int(np.searchsorted(offsets, i, side="right") - 1)
        raise DataError(f"{source}: sample {sample}: spike times must be finite and >= 0 s; "
                        f"got {float(times[i])!r}")
    if finite.all():
        return times, units, offsets
    n_samples = offsets.shape[0] - 1
    sample_of = np.repeat(np.arange(n_samples, dtype=np.int64), np.diff(offsets))
    first = int(sample_of[int(np.argmin(finite))])
    n_bad = int(finite.size - np.count_nonzero(finite))
    warnings.warn(
        f"{source}: dropped {n_bad} event{'s' if n_bad != 1 else ''} with non-finite spike times "
        f"(NaN or inf), the first in sample {first}; pass strict=True to reject such data instead",
        DataWarning, stacklevel=_caller_level(),
    )
    counts = np.bincount(sample_of[finite], minlength=n_samples)
    new_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return times[finite], units[finite], new_offsets


DATASET_CONSTRAINTS = {
    "dt": Interval(0.0, None, closed="neither"),
    "duration": Interval(0.0, None, closed="neither"),
    "n_units": Integer(low=1),
    "batch_size": Integer(low=1),
    "n_steps": Integer(low=1),
    "form": OneOf(("dense", "events")),
    "max_elements": Integer(low=1),
}


def n_steps_for(duration: float, dt: float) -> int:
    """Number of time steps ``ceil(duration/dt)``, tolerant to float round-off.

    ``duration/dt`` within 1e-9 (relative) of an integer counts as that
    integer: ``n_steps_for(0.7, 2e-3) == 350`` although ``0.7/2e-3`` is
    349.99999999999994 in floating point.
    """
    duration = check("duration", duration, DATASET_CONSTRAINTS["duration"])
    dt = check("dt", dt, DATASET_CONSTRAINTS["dt"])
    ratio = duration / dt
    nearest = round(ratio)
    if abs(ratio - nearest) <= 1e-9 * max(1.0, ratio):
        return max(int(nearest), 1)
    return max(int(math.ceil(ratio)), 1)


def _step_indices(times: np.ndarray, dt: float) -> np.ndarray:
    """Bin index ``floor(t/dt)`` (float64; no tolerance, so t < k*dt never lands in step k)."""
    return np.floor(times.astype(np.float64) / dt).astype(np.int64)


@dataclass(frozen=True)
class EventBatch:
    """Sparse form of a binned mini-batch: the active ``(sample, step, unit)`` entries.

    Attributes:
        sample, step, unit: int64 tensors of shape ``(n_active,)``, sorted
            lexicographically by (sample, step, unit), without duplicates.
        count: spikes in each active bin, shape ``(n_active,)`` (``dtype`` of
            the request; all ones when ``binary=True``).
        shape: ``(batch, n_steps, n_units)`` of the dense equivalent.
    """

    sample: torch.Tensor
    step: torch.Tensor
    unit: torch.Tensor
    count: torch.Tensor
    shape: tuple[int, int, int]

    def to_dense(self) -> torch.Tensor:
        """The dense ``(batch, n_steps, n_units)`` tensor these events describe."""
        out = torch.zeros(self.shape, dtype=self.count.dtype, device=self.count.device)
        out[self.sample, self.step, self.unit] = self.count
        return out


class SpikeDataset:
    """Spike data in event form: per sample, spike times (s) and unit indices.

    Events are stored flat, grouped by sample (CSR layout): the events of
    sample ``i`` are ``times[offsets[i]:offsets[i+1]]`` and
    ``units[offsets[i]:offsets[i+1]]``.

    Attributes:
        times: ``(n_events,)`` float array, seconds, finite, ``>= 0``.
        units: ``(n_events,)`` int array, in ``[0, n_units)``.
        offsets: ``(n_samples + 1,)`` int64, non-decreasing, ``offsets[0] == 0``.
        labels: ``(n_samples,)`` int64 class labels.
        n_units: number of input units.
        duration: sample duration in seconds (events at ``t >= duration`` are
            not binned).
        n_classes: number of classes (labels lie in ``[0, n_classes)``), or
            ``None`` if unknown.

    The constructor validates everything and raises :class:`DataError`.  Spike times follow
    :func:`check_spike_times`: negative times are an error; NaN or inf times are an error with
    ``strict=True`` (the default here, for data built in memory) and are dropped with one
    :class:`DataWarning` (count and first sample) with ``strict=False`` (the file loaders'
    default).  ``n_events == 0`` says the data hold no spikes at all.
    """

    def __init__(
        self,
        times: np.ndarray,
        units: np.ndarray,
        offsets: np.ndarray,
        labels: np.ndarray,
        n_units: int,
        duration: float,
        n_classes: int | None = None,
        *,
        source: str = "spike data",
        strict: bool = True,
    ) -> None:
        n_units = check("n_units", n_units, DATASET_CONSTRAINTS["n_units"])
        duration = check("duration", duration, DATASET_CONSTRAINTS["duration"])
        if n_classes is not None:
            n_classes = check("n_classes", n_classes, Integer(low=1))
        times = np.asarray(times)
        units = np.asarray(units)
        offsets = np.asarray(offsets, dtype=np.int64)
        labels = np.asarray(labels)
        if times.ndim != 1 or units.ndim != 1 or times.shape != units.shape:
            raise DataError(
                f"{source}: times and units must be 1-D of equal length; got shapes "
                f"{times.shape} and {units.shape}"
            )
        if labels.ndim != 1 or offsets.shape != (labels.shape[0] + 1,):
            raise DataError(
                f"{source}: need one label per sample and n_samples+1 offsets; got "
                f"{labels.shape[0] if labels.ndim == 1 else labels.shape} labels and "
                f"{offsets.shape[0]} offsets"
            )
        if offsets[0] != 0 or offsets[-1] != times.shape[0] or np.any(np.diff(offsets) < 0):
            raise DataError(f"{source}: offsets must rise from 0 to n_events={times.shape[0]}")
        if not np.issubdtype(times.dtype, np.floating):
            times = times.astype(np.float64)
        units = _indices(source, "unit indices", units, n_units)
        times, units, offsets = check_spike_times(times, units, offsets, strict=strict, source=source)
        labels = _indices(source, "labels", labels, n_classes)
        self.times = times
        self.units = units
        self.offsets = offsets
        self.labels = labels
        self.n_units = n_units
        self.duration = duration
        self.n_classes = n_classes

    # -- construction ---------------------------------------------------------------

    @classmethod
    def from_flat(cls, times, units, counts, labels, n_units, duration, n_classes=None,
                  *, source: str = "spike data", strict: bool = True) -> "SpikeDataset":
        """Build from flat event arrays and the number of events per sample ``counts``
        (``strict``: the non-finite-times policy, see the class docstring)."""
        counts = np.asarray(counts, dtype=np.int64)
        if counts.ndim != 1 or np.any(counts < 0):
            raise DataError(f"{source}: counts must be a 1-D array of non-negative integers")
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(times, units, offsets, labels, n_units, duration, n_classes, source=source,
                   strict=strict)

    @classmethod
    def from_samples(cls, times: Sequence, units: Sequence, labels, n_units, duration,
                     n_classes=None, *, source: str = "spike data",
                     strict: bool = True) -> "SpikeDataset":
        """Build from per-sample sequences ``times[i]`` (seconds) and ``units[i]``."""
        if len(times) != len(units):
            raise DataError(
                f"{source}: need as many unit arrays as time arrays; got {len(units)} and {len(times)}"
            )
        t_list = [np.asarray(t, dtype=np.float64).reshape(-1) for t in times]
        u_list = [np.asarray(u).reshape(-1) for u in units]
        for i, (t, u) in enumerate(zip(t_list, u_list)):
            if t.shape != u.shape:
                raise DataError(
                    f"{source}: sample {i} has {t.shape[0]} spike times but {u.shape[0]} unit indices"
                )
        counts = np.array([t.shape[0] for t in t_list], dtype=np.int64)
        flat_t = np.concatenate(t_list) if t_list else np.zeros(0)
        flat_u = np.concatenate(u_list).astype(np.int64) if u_list else np.zeros(0, np.int64)
        return cls.from_flat(flat_t, flat_u, counts, labels, n_units, duration, n_classes,
                             source=source, strict=strict)

    @classmethod
    def from_dense(cls, spikes, dt: float, labels, n_classes=None) -> "SpikeDataset":
        """Events from a dense ``(samples, steps, units)`` count tensor/array.

        A count ``c`` in bin ``n`` becomes ``c`` spikes at the bin centre
        ``(n + 1/2)*dt``, so ``from_dense(x, dt, y).dense(dt=dt)`` returns ``x``
        exactly (for non-negative integer counts).  ``duration = steps*dt``.
        """
        dt = check("dt", dt, DATASET_CONSTRAINTS["dt"])
        arr = spikes.detach().cpu().numpy() if isinstance(spikes, torch.Tensor) else np.asarray(spikes)
        if arr.ndim != 3:
            raise DataError(f"dense spikes must have shape (samples, steps, units); got {arr.shape}")
        if arr.size and (np.any(arr < 0) or not np.all(np.equal(np.mod(arr, 1), 0))):
            raise DataError("dense spikes must hold non-negative integer counts")
        n_s, n_t, n_u = arr.shape
        s, n, u = np.nonzero(arr)
        reps = arr[s, n, u].astype(np.int64)
        s, n, u = np.repeat(s, reps), np.repeat(n, reps), np.repeat(u, reps)
        counts = np.bincount(s, minlength=n_s)
        return cls.from_flat((n + 0.5) * dt, u, counts, labels, n_u, n_t * dt, n_classes)

    # -- basic queries --------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __repr__(self) -> str:
        return (
            f"SpikeDataset(n_samples={len(self)}, n_units={self.n_units}, "
            f"duration={self.duration!r}, n_events={self.n_events}, n_classes={self.n_classes})"
        )

    @property
    def n_events(self) -> int:
        """Total number of spikes."""
        return int(self.times.shape[0])

    @property
    def mean_rate(self) -> float:
        """Measured mean input rate in Hz: total spikes / (samples * units * duration).

        Counts every stored spike (all lie in ``[0, duration)`` after
        :meth:`crop`).  ``nan`` for an empty data set.
        """
        if len(self) == 0:
            return float("nan")
        return self.n_events / (len(self) * self.n_units * self.duration)

    def spike_counts(self) -> np.ndarray:
        """Spikes per sample, shape ``(n_samples,)``."""
        return np.diff(self.offsets)

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray, int]:
        """``(times, units, label)`` of sample ``i`` (views, not copies)."""
        i = check("i", i, Integer(low=-len(self), high=len(self) - 1))
        i = i % len(self)
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.times[a:b], self.units[a:b], int(self.labels[i])

    # -- derived data sets ----------------------------------------------------------

    def _gather(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Event positions and their batch-local sample numbers for ``indices``."""
        starts = self.offsets[indices]
        counts = self.offsets[indices + 1] - starts
        total = int(counts.sum())
        batch_pos = np.repeat(np.arange(indices.shape[0], dtype=np.int64), counts)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]]) if counts.size else counts
        pos = np.arange(total, dtype=np.int64) - np.repeat(first - starts, counts)
        return pos, batch_pos

    def _check_indices(self, indices) -> np.ndarray:
        if indices is None:
            return np.arange(len(self), dtype=np.int64)
        if isinstance(indices, torch.Tensor):
            indices = indices.detach().cpu().numpy()
        idx = np.asarray(indices)
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            raise ParameterError(
                f"`indices` must be a 1-D sequence of integers; got {indices!r}", ["indices"], [indices]
            )
        idx = idx.astype(np.int64)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise ParameterError(
                f"`indices` must lie in [{-len(self)}, {len(self)}); got range "
                f"[{idx.min()}, {idx.max()}]",
                ["indices"],
                [indices],
            )
        return idx % max(len(self), 1)

    def subset(self, indices) -> "SpikeDataset":
        """The samples ``indices`` (in that order) as a new data set."""
        idx = self._check_indices(indices)
        pos, _ = self._gather(idx)
        counts = self.offsets[idx + 1] - self.offsets[idx]
        return SpikeDataset.from_flat(self.times[pos], self.units[pos], counts, self.labels[idx],
                                      self.n_units, self.duration, self.n_classes)

    def crop(self, duration: float) -> "SpikeDataset":
        """Keep spikes at ``t < duration`` and set the duration (e.g. SHD's 0.7 s)."""
        duration = check("duration", duration, DATASET_CONSTRAINTS["duration"])
        keep = self.times < duration
        sample_of = np.repeat(np.arange(len(self)), self.spike_counts())
        counts = np.bincount(sample_of[keep], minlength=len(self))
        return SpikeDataset.from_flat(self.times[keep], self.units[keep], counts, self.labels,
                                      self.n_units, duration, self.n_classes)

    def split(self, fraction: float, *, seed: int = 0) -> tuple["SpikeDataset", "SpikeDataset"]:
        """Seeded random split: ``(rest, held_out)`` with ``round(fraction*n)`` held out."""
        fraction = check("fraction", fraction, Interval(0.0, 1.0, closed="both"))
        seed = check("seed", seed, Integer(low=0))
        perm = np.random.default_rng(seed).permutation(len(self))
        n_out = int(round(fraction * len(self)))
        return self.subset(np.sort(perm[n_out:])), self.subset(np.sort(perm[:n_out]))

    # -- binning --------------------------------------------------------------------

    def n_steps(self, dt: float) -> int:
        """Time steps per sample at step ``dt``: :func:`n_steps_for` ``(duration, dt)``."""
        return n_steps_for(self.duration, dt)

    def _binned(self, indices, dt: float, n_steps: int | None):
        dt = check("dt", dt, DATASET_CONSTRAINTS["dt"])
        n_t = self.n_steps(dt) if n_steps is None else check("n_steps", n_steps,
                                                              DATASET_CONSTRAINTS["n_steps"])
        idx = self._check_indices(indices)
        pos, batch_pos = self._gather(idx)
        steps = _step_indices(self.times[pos], dt)
        keep = steps < n_t
        return idx, n_t, batch_pos[keep], steps[keep], self.units[pos][keep].astype(np.int64)

    def dense(self, indices=None, dt: float = 2e-3, *, n_steps: int | None = None,
              binary: bool = False, dtype: torch.dtype = torch.float32,
              device: torch.device | str | None = None,
              max_elements: int = 2**28) -> torch.Tensor:
        """Bin the samples ``indices`` at ``dt`` into a dense ``(batch, n_steps, n_units)`` tensor.

        ``x[b, n, i]`` = number of spikes of unit ``i`` of sample
        ``indices[b]`` with ``floor(t/dt) == n`` (clipped to 1 if ``binary``).

        Args:
            indices: sample indices (default: all samples -- only for small sets).
            dt: bin width in seconds.
            n_steps: number of steps (default ``ceil(duration/dt)``).
            binary: clip counts to 1.
            dtype, device: of the output.
            max_elements: refuse outputs larger than this (default 2**28, 1 GiB
                of float32); bin per mini-batch with :meth:`batches` instead.

        Raises:
            ParameterError: bad ``dt``/``n_steps``/``indices``, or the output
            would exceed ``max_elements``.
        """
        max_elements = check("max_elements", max_elements, DATASET_CONSTRAINTS["max_elements"])
        dt_c = check("dt", dt, DATASET_CONSTRAINTS["dt"])
        if n_steps is not None:
            n_steps = check("n_steps", n_steps, DATASET_CONSTRAINTS["n_steps"])
        n_t = self.n_steps(dt_c) if n_steps is None else n_steps
        n_b = len(self) if indices is None else len(indices)
        if n_b * int(n_t) * self.n_units > max_elements:
            raise ParameterError(
                f"`indices` must select at most max_elements={max_elements} dense entries "
                f"(batch*steps*units); got {n_b}*{n_t}*{self.n_units}: bin per mini-batch "
                f"with .batches() instead",
                ["indices"],
                [n_b],
            )
        idx, n_t, b, n, u = self._binned(indices, dt_c, n_steps)
        shape = (idx.shape[0], n_t, self.n_units)
        flat = torch.from_numpy((b * n_t + n) * self.n_units + u)
        out = torch.zeros(shape[0] * n_t * self.n_units, dtype=dtype, device=device)
        if flat.numel():
            out.index_put_((flat.to(out.device),), torch.ones((), dtype=dtype, device=out.device),
                           accumulate=True)
        out = out.view(shape)
        if binary:
            out.clamp_(max=1)
        return out

    def events(self, indices=None, dt: float = 2e-3, *, n_steps: int | None = None,
               binary: bool = False, dtype: torch.dtype = torch.float32,
               device: torch.device | str | None = None) -> EventBatch:
        """Sparse form of :meth:`dense`: the active ``(sample, step, unit)`` bins and counts.

        ``events(idx, dt).to_dense()`` equals ``dense(idx, dt)``; memory is
        proportional to the number of spikes, not to ``batch*steps*units``.
        """
        idx, n_t, b, n, u = self._binned(indices, dt, n_steps)
        key = (b * n_t + n) * self.n_units + u
        uniq, cnt = np.unique(key, return_counts=True)
        u_out = uniq % self.n_units
        rest = uniq // self.n_units
        n_out, b_out = rest % n_t, rest // n_t
        count = torch.from_numpy(cnt).to(dtype=dtype, device=device)
        if binary:
            count = torch.ones_like(count)
        as_t = lambda a: torch.from_numpy(a.astype(np.int64)).to(device)  # noqa: E731
        return EventBatch(as_t(b_out), as_t(n_out), as_t(u_out), count,
                          (int(idx.shape[0]), int(n_t), self.n_units))

    def batches(self, batch_size: int, dt: float = 2e-3, *, shuffle: bool = True,
                generator: torch.Generator | None = None, drop_last: bool = False,
                form: str = "dense", n_steps: int | None = None, binary: bool = False,
                dtype: torch.dtype = torch.float32,
                device: torch.device | str | None = None) -> Iterator[tuple[object, torch.Tensor]]:
        """Iterate over mini-batches ``(x, labels)``, binned one batch at a time.

        Args:
            batch_size: samples per batch.
            dt: bin width in seconds.
            shuffle: visit samples in the order ``torch.randperm(n, generator=generator)``
                (seeded by ``generator``); otherwise in storage order.
            generator: torch generator for the shuffle (``None``: torch's default).
            drop_last: skip a final incomplete batch.
            form: ``"dense"`` (``x`` is a ``(batch, n_steps, n_units)`` tensor) or
                ``"events"`` (``x`` is an :class:`EventBatch`).
            n_steps, binary, dtype, device: as in :meth:`dense`.

        Yields:
            ``(x, labels)`` with ``labels`` an int64 tensor of shape ``(batch,)``.
        """
        v = check_all({k: DATASET_CONSTRAINTS[k] for k in ("batch_size", "dt", "form")},
                      batch_size=batch_size, dt=dt, form=form)
        n = len(self)
        order = (torch.randperm(n, generator=generator).numpy() if shuffle
                 else np.arange(n, dtype=np.int64))
        stop = n - (n % v["batch_size"]) if drop_last else n
        for start in range(0, stop, v["batch_size"]):
            idx = order[start : start + v["batch_size"]]
            labels = torch.from_numpy(self.labels[idx]).to(device)
            if v["form"] == "dense":
                x = self.dense(idx, v["dt"], n_steps=n_steps, binary=binary, dtype=dtype,
                               device=device, max_elements=2**62)
            else:
                x = self.events(idx, v["dt"], n_steps=n_steps, binary=binary, dtype=dtype,
                                device=device)
            yield x, labels
