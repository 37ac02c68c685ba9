"""Spike sources: the data a population's free membranes are driven by (paper figure 2, S2).

A :class:`SpikeSource` streams a data set as dense mini-batches ``(batch, n_steps, n_inputs)``
of spike counts per step and says which steps, its ``window``, enter the membrane moments:

* stationary Poisson input (:func:`poisson_source`) starts from ``U[0] = I[0] = 0``; its first
  ``burn_steps`` steps (the transient, see ``burn_in_steps``) are simulated but discarded, and
  the moments are taken over the following ``round(duration/dt)`` steps;
* data sets (:func:`randman_source`, :func:`shd_source` for SHD and FSDD, :func:`dataset_source`,
  :func:`tensor_source`) use the whole trial, steps ``0 .. T-1``, as the paper does.

Bernoulli inputs: the simulator's input is one 0/1 value per step, drawn with probability
``p = nu*dt``.  Its per-step variance is ``p(1-p)`` instead of the Poisson ``p``, so the exact
membrane variance is eq. 3 times ``1 - nu*dt`` (the mean is unchanged); a Poisson source
carries that factor as ``variance_factor``.

:func:`measure_rates` gives the per-input rates over the window (Hz), which set the weights
when no rate is given and enter the theory's per-neuron prediction (eqs. 2-3).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch

from fluctinit.errors import Integer, ParameterError, check, check_all, conflict

from ._constraints import CONSTRAINTS

__all__ = [
    "SpikeSource",
    "poisson_source",
    "tensor_source",
    "dataset_source",
    "shd_source",
    "randman_source",
    "measure_rates",
    "SHD_HELP",
    "SPIKE_FILES",
    "SpikeFileData",
]


@dataclass(frozen=True)
class SpikeSource:
    """A data set streamed as dense mini-batches.

    Attributes:
        name: "poisson", "randman", "shd", "fsdd", or a caller's name.
        n_inputs: number of input units.
        n_steps: steps per sample (including any burn-in).
        n_samples: number of samples (trials).
        dt: time step (s).
        window: ``(start, stop)`` steps entering the moments.
        batches: callable returning a fresh iterator of float32 tensors
            ``(batch, n_steps, n_inputs)`` (spike counts per step); calling it again
            replays the same data.
        poisson_rate: for generated stationary Poisson input, its rate (Hz); ``None`` for data.
        variance_factor: for generated Poisson input, the exact variance relative to eq. 3
            (``1 - nu*dt`` for Bernoulli spikes, 1 for Poisson counts); ``None`` for data.
        rates: optional callable giving the per-input rates over the window (Hz) without a
            pass over the binned data (event-form data sets count their events directly).
        batch_size: the largest mini-batch ``batches`` yields (for memory estimates), or None.
    """

    name: str
    n_inputs: int
    n_steps: int
    n_samples: int
    dt: float
    window: tuple[int, int]
    batches: Callable[[], Iterator[torch.Tensor]]
    poisson_rate: float | None = None
    variance_factor: float | None = None
    rates: Callable[[], np.ndarray] | None = None
    batch_size: int | None = None


def _check_rate(name, nu, dt):
    if nu * dt > 1.0:
        raise conflict("Bernoulli inputs need nu*dt <= 1; lower the rate or the time step", **{name: nu, "dt": dt})


def poisson_source(fan_in: int, nu: float, *, duration: float = 1.0, trials: int = 16, dt: float = 2e-3,
                   burn_steps: int = 0, batch_size: int = 16, seed: int = 0, poisson_mode: str = "bernoulli") -> SpikeSource:
    """Independent homogeneous Poisson inputs in discrete time (``fluctinit.sim.inputs.poisson_spikes``).

    ``poisson_mode="bernoulli"``: one 0/1 value per step with ``p = nu*dt`` (variance lower by
    ``1 - nu*dt``); ``poisson_mode="count"``: Poisson counts per step (eq. 3 exactly).  Each of
    ``trials`` samples has ``burn_steps + round(duration/dt)`` steps; the window is the last
    ``round(duration/dt)`` steps.  The same ``seed`` replays the same spikes.

    Raises:
        ParameterError: out-of-range arguments, ``nu*dt > 1`` for Bernoulli spikes.
    """
    from fluctinit.sim.inputs import poisson_spikes
    from fluctinit.theory import bernoulli_variance_factor

    p = check_all(CONSTRAINTS, fan_in=fan_in, nu=nu, duration=duration, trials=trials, dt=dt, batch_size=batch_size,
                  poisson_mode=poisson_mode)
    mode = p["poisson_mode"]
    check("burn_steps", burn_steps, Integer(0))
    if mode == "bernoulli":
        _check_rate("nu", p["nu"], p["dt"])
        factor = bernoulli_variance_factor(p["nu"], p["dt"])
    else:
        factor = 1.0
    n_win = max(1, int(round(p["duration"] / p["dt"])))
    n_steps = burn_steps + n_win

    def batches():
        gen = torch.Generator().manual_seed(int(seed))
        for start in range(0, p["trials"], p["batch_size"]):
            b = min(p["batch_size"], p["trials"] - start)
            yield poisson_spikes(b, n_steps, p["fan_in"], p["nu"], p["dt"], mode=mode, generator=gen)

    return SpikeSource("poisson", p["fan_in"], n_steps, p["trials"], p["dt"], (burn_steps, n_steps), batches,
                       p["nu"], factor, batch_size=min(p["batch_size"], p["trials"]))


def tensor_source(x: torch.Tensor | np.ndarray, dt: float, *, batch_size: int = 64, name: str = "tensor") -> SpikeSource:
    """Wrap an in-memory data set ``(samples, time, inputs)`` (whole trial enters the moments)."""
    check("dt", dt, CONSTRAINTS["dt"])
    check("batch_size", batch_size, CONSTRAINTS["batch_size"])
    x = torch.as_tensor(x, dtype=torch.float32)
    if x.dim() != 3 or min(x.shape) < 1:
        raise ParameterError(f"`x` must be a non-empty tensor of shape (samples, time, inputs); got shape {tuple(x.shape)!r}",
                             ["x"], [tuple(x.shape)])
    if not bool(torch.isfinite(x).all()) or bool((x < 0).any()):
        raise ParameterError("`x` must hold finite non-negative spike counts; got other values", ["x"], ["<tensor>"])

    def batches():
        for s in range(0, x.shape[0], batch_size):
            yield x[s:s + batch_size]

    return SpikeSource(name, int(x.shape[2]), int(x.shape[1]), int(x.shape[0]), float(dt), (0, int(x.shape[1])), batches,
                       batch_size=min(batch_size, int(x.shape[0])))


def dataset_source(dataset, *, dt: float = 2e-3, batch_size: int = 128, name: str = "data",
                   max_samples: int | None = None) -> SpikeSource:
    """Stream a :class:`fluctinit.datasets.SpikeDataset` (event form), binned per mini-batch.

    The whole trial, ``dataset.n_steps(dt)`` steps, enters the moments (the paper's choice for
    Randman and SHD); samples in storage order, the first ``max_samples`` if given.
    """
    p = check_all(CONSTRAINTS, dt=dt, batch_size=batch_size, max_samples=max_samples)
    if max_samples is not None and max_samples < len(dataset):
        dataset = dataset.subset(np.arange(p["max_samples"]))
    n_steps = dataset.n_steps(p["dt"])

    def batches():
        for x, _ in dataset.batches(p["batch_size"], p["dt"], shuffle=False):
            yield x

    def rates():
        # events binned into steps 0..n_steps-1 (the same rule as the dense binning)
        n_bins = np.floor(np.asarray(dataset.times, dtype=np.float64) / p["dt"])
        counts = np.bincount(np.asarray(dataset.units)[n_bins < n_steps].astype(np.int64),
                             minlength=dataset.n_units)
        return counts / (len(dataset) * n_steps * p["dt"])

    return SpikeSource(name, int(dataset.n_units), int(n_steps), len(dataset), p["dt"], (0, int(n_steps)), batches,
                       rates=rates, batch_size=min(p["batch_size"], len(dataset)))


SHD_HELP = ("the official SHD training file shd_train.h5: download shd_train.h5.gz from "
            "https://zenkelab.org/datasets/ (Heidelberg spiking data sets), gunzip it and pass its path "
            "with --path (or fetch both files with `fluctinit data shd --root DIR --download`)")


@dataclass(frozen=True)
class SpikeFileData:
    """How a data set read from an SHD-layout file is named (``label``), what its file is
    (``what``) and where it comes from (``help``), in messages."""

    label: str
    what: str
    help: str


#: The data sets :func:`shd_source` reads (fluctinit.validation.SPIKE_FILES), by name.
SPIKE_FILES = {
    "shd": SpikeFileData("SHD", "the official SHD training file", SHD_HELP),
    "fsdd": SpikeFileData(
        "FSDD", "an FSDD file in SHD's layout (FSDD through SHD's cochlear model)",
        "an FSDD file fsdd_train.h5 (FSDD through SHD's cochlear model, in SHD's layout): make it from FSDD's "
        "recordings with `fluctinit data fsdd --audio DIR --out OUTDIR` and pass OUTDIR/fsdd_train.h5 with --path"),
}


def shd_source(path: str | os.PathLike, *, dt: float = 2e-3, duration: float = 0.7, batch_size: int = 128,
               max_samples: int | None = None, strict: bool = False, dataset: str = "shd") -> SpikeSource:
    """The Spiking Heidelberg Digits training file (official HDF5 format) as a source.

    The file is validated and read by ``fluctinit.datasets.validate_shd_file``
    (``spikes/times`` in seconds, ``spikes/units`` in ``0..699``, ``labels``); spikes at
    ``t >= duration`` are dropped (paper: first 700 ms), and bins of width ``dt`` hold spike
    counts (paper: 350 steps of 2 ms).  The whole 700 ms enters the moments.  Events with
    non-finite times are dropped with one warning (``strict``: the file is rejected instead).

    ``dataset="fsdd"``: a converted FSDD file (FSDD through SHD's cochlear model, not SHD; see
    ``fluctinit.datasets.convert_fsdd``), read the same way, with the file's own channel count
    (its ``channels`` attribute, 700 by default) as the inputs and labels among FSDD's ten
    digits; the source is named "fsdd".

    Raises:
        FileNotFoundError: no file at ``path`` (the message says where to get it).
        fluctinit.datasets.DataError (a ValueError): a file without the official layout.
    """
    from fluctinit.datasets import fsdd_file, read_spike_file

    p = check_all(CONSTRAINTS, dt=dt, duration=duration, batch_size=batch_size, max_samples=max_samples)
    name = check("dataset", dataset, CONSTRAINTS["dataset"])
    kind = SPIKE_FILES[name]
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no {kind.label} file at {path!r}; need {kind.help}")
    read = fsdd_file if name == "fsdd" else read_spike_file  # SHD's 700 units, 20 classes
    ds = read(path, duration=p["duration"], strict=bool(strict))
    if len(ds) < 1:
        raise ValueError(f"{path}: the file holds no samples")
    return dataset_source(ds, dt=p["dt"], batch_size=p["batch_size"], name=name, max_samples=max_samples)


def randman_source(*, dt: float = 2e-3, seed: int = 0, batch_size: int = 256, max_samples: int | None = None,
                   cache_dir: str | os.PathLike | None = None, **overrides: Any) -> SpikeSource:
    """The paper's Randman training split (``fluctinit.datasets.make_randman``; 20 units, 10 classes,
    8000 samples of 100 ms spiking window + 100 ms silence; 5 Hz), whole trial in the moments.

    ``overrides`` replace fields of ``RandmanConfig`` (e.g. fewer ``samples_per_class``)."""
    from fluctinit.datasets.randman import make_randman

    check("seed", seed, Integer(0))
    splits = make_randman(seed=int(seed), cache_dir=cache_dir, **overrides)
    return dataset_source(splits.train, dt=dt, batch_size=batch_size, name="randman", max_samples=max_samples)


# --------------------------------------------------------------------------------------
# rates


def _column_sums(x: torch.Tensor) -> torch.Tensor:
    """Spike counts per input of a ``(batch, time, inputs)`` block, float64 ``(inputs,)``.

    A ones-vector product (faster than a reduction over the leading axes); float32 partial
    sums are exact for counts below 2**24 per block, and the caller accumulates in float64."""
    flat = x.reshape(-1, x.shape[-1])
    return (torch.ones(1, flat.shape[0], dtype=flat.dtype, device=flat.device) @ flat)[0].double()


def measure_rates(source: SpikeSource) -> np.ndarray:
    """Per-input rates over the moment window (Hz), ``(n_inputs,)``: spike count / (samples * steps * dt).

    Uses ``source.rates`` when the source can count its events directly, else one pass."""
    if source.rates is not None:
        return np.asarray(source.rates(), dtype=float)
    a, b = source.window
    total = torch.zeros(source.n_inputs, dtype=torch.float64)
    for x in source.batches():
        total += _column_sums(x[:, a:b])
    return (total / (source.n_samples * (b - a) * source.dt)).numpy()

