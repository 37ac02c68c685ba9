"""Measured membrane statistics of free (non-spiking) LIF neurons (paper figure 2, S2).

In free-membrane mode (no threshold, no reset, no spikes) each neuron's membrane is a linear
filter of its weighted input (paper eq. 1, discrete form of eqs. 10-11)::

    I_c[n+1] = lambda_syn_c * I_c[n] + W_c @ x_c[n]           (one current per synapse type c)
    U[n+1]   = lambda_mem * U[n] + (1 - lambda_mem) * sum_c I_c[n],     U[0] = I_c[0] = 0

so ``U[n] = sum_c sum_m K_c[n - m] (W_c @ x_c[m])`` with ``K_c`` the discrete PSP kernel
(``theory.psp_kernel``).  The simulator computes it: the neurons of a population are one
free-mode layer (mode ``"free"`` of :mod:`fluctinit.sim.neuron`) with one synaptic current per
synapse type, run by the fast core (:func:`fluctinit.sim.run_layer`), which adds the weight
rows of the input events inside its compiled loop where that is cheaper than the dense
product.  No loop over neurons or samples in Python.

Stationary input starting from ``U[0] = 0`` needs a burn-in: :func:`burn_in_steps` is the
number of steps after which the kernel's tail carries less than ``burn_tol`` (default
``1e-6``) of ``sum K`` and of ``sum K**2``.

Per neuron ``i`` the measured moments are pooled over all samples and window steps,
``mu_i = <U_i>``, ``sigma_i**2 = <U_i**2> - mu_i**2`` (chunk sums accumulated in float64).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from fluctinit.errors import ParameterError, check, check_all, conflict
from fluctinit.theory import DEFAULT_TAU_SYN_INH, psp_kernel

from ._constraints import CHUNK_ELEMENTS, CONSTRAINTS
from .population import Channel, NeuronPopulation
from .resources import MAX_KERNEL_STEPS, chunk_samples, kernel_steps
from .sources import SpikeSource, _check_rate, _column_sums

__all__ = ["MembraneMeasurement", "measure_membrane", "free_membrane", "burn_in_steps", "init_burn_in_steps"]


# --------------------------------------------------------------------------------------
# the free membrane, by the simulator


def _free_layer(groups: Sequence[tuple[Sequence[torch.Tensor], Sequence[torch.Tensor], float]], lambda_mem: float):
    """The free-mode layer of a population: per synapse type, its inputs ``x_m`` ``(batch, time, n_m)``,
    their weights ``W_m`` ``(n_post, n_m)`` and ``lambda_syn``."""
    from fluctinit.sim import SuperSpike
    from fluctinit.sim.projections import Component, DenseInput, LayerSpec

    comps = tuple(Component(lam, DenseInput(tuple(xs), tuple(ws))) for xs, ws, lam in groups)
    return LayerSpec((groups[0][1][0].shape[0],), comps, lambda_mem, 1.0, "free", SuperSpike())


def _membrane(groups, lambda_mem: float) -> torch.Tensor:
    """``U`` ``(batch, time, n_post)`` of the free-mode layer :func:`_free_layer` (no gradient)."""
    from fluctinit.sim import run_layer

    with torch.no_grad():
        return run_layer(_free_layer(groups, lambda_mem), "fused")[1]


def free_membrane(
    x: torch.Tensor,
    weights: torch.Tensor,
    *,
    tau_mem: float = 20e-3,
    tau_syn: float = 10e-3,
    dt: float = 2e-3,
) -> torch.Tensor:
    """Free membrane potential of ``n_post`` neurons driven by input spikes (paper eqs. 1, 10-11).

    Exact discrete recursion without threshold or reset, all state zero at ``n = 0``::

        I[n+1] = exp(-dt/tau_syn) I[n] + W @ x[n]
        U[n+1] = exp(-dt/tau_mem) U[n] + (1 - exp(-dt/tau_mem)) I[n]

    i.e. ``U[n] = sum_m K[n-m] W @ x[m]`` with the discrete PSP kernel ``K``
    (``theory.psp_kernel``): the simulator's free mode (:func:`fluctinit.sim.run_layer`).

    Args:
        x: presynaptic spikes (or counts), shape ``(batch, time, n_pre)``.
        weights: ``W``, shape ``(n_post, n_pre)`` (threshold units per spike).
        tau_mem, tau_syn, dt: time constants and step (seconds).

    Returns:
        ``U``, shape ``(batch, time, n_post)``, dtype of ``x``.

    Raises:
        ParameterError: bad time constants or mismatched shapes.
    """
    p = check_all(CONSTRAINTS, tau_mem=tau_mem, tau_syn=tau_syn, dt=dt)
    if x.dim() != 3:
        raise ParameterError(f"`x` must be a tensor of shape (batch, time, n_pre); got shape {tuple(x.shape)!r}",
                             ["x"], [tuple(x.shape)])
    if weights.dim() != 2 or weights.shape[1] != x.shape[2]:
        raise conflict("weights must have shape (n_post, n_pre) with n_pre = x.shape[2]",
                       weights=tuple(weights.shape), x=tuple(x.shape))
    lm, ls = math.exp(-p["dt"] / p["tau_mem"]), math.exp(-p["dt"] / p["tau_syn"])
    return _membrane([([x], [weights.to(x.dtype)], ls)], lm)


def burn_in_steps(tau_mem: float = 20e-3, tau_syn: float = 10e-3, dt: float = 2e-3,
                  *, burn_tol: float = 1e-6) -> int:
    """Number of initial steps to discard for stationary input starting from ``U[0] = 0``.

    The variance at step ``n`` is the stationary one times ``sum_{m<n} K[m]**2 / sum K**2``
    (and the mean likewise with ``K``).  Returns the smallest ``n`` for which the kernel's
    tail ``m >= n`` carries at most ``burn_tol`` of both ``sum K`` and ``sum K**2``.  With
    ``K[m] ~ m * exp(-m dt/tau)`` near ``tau_mem = tau_syn`` this is about
    ``-log(burn_tol) * max(tau_mem, tau_syn)/dt`` steps plus a few (147 steps for the
    defaults 20 ms, 10 ms, 2 ms).

    Units: tau_mem, tau_syn, dt in seconds.  Returns an integer number of steps.
    """
    p = check_all(CONSTRAINTS, tau_mem=tau_mem, tau_syn=tau_syn, dt=dt, burn_tol=burn_tol)
    # the discrete kernel K[0 .. n_max-1] (theory.psp_kernel: the free membrane's response to a unit spike at step 0)
    n_max = kernel_steps(max(p["tau_mem"], p["tau_syn"]), p["dt"])
    if n_max > MAX_KERNEL_STEPS:
        raise conflict(f"the PSP kernel takes {n_max:.3g} steps (60 time constants) to decay, more than "
                       f"{MAX_KERNEL_STEPS:.0e}; raise dt or lower the time constants",
                       tau_mem=tau_mem, tau_syn=tau_syn, dt=dt)
    k = psp_kernel(p["tau_mem"], p["tau_syn"], p["dt"], n_max)
    tail1 = np.cumsum(np.abs(k)[::-1])[::-1]
    tail2 = np.cumsum((k * k)[::-1])[::-1]
    ok = (tail1 <= p["burn_tol"] * tail1[0]) & (tail2 <= p["burn_tol"] * tail2[0])
    return int(np.argmax(ok))


def init_burn_in_steps(init: str = "feedforward", tau_mem: float = 20e-3, tau_syn: float = 10e-3, dt: float = 2e-3,
                       *, tau_syn_inh: float | None = None, burn_tol: float = 1e-6) -> int:
    """:func:`burn_in_steps` for every synapse type of a population drawn by ``init``: the largest.

    The populations of ``dale-exponential`` and ``dale-lognormal`` have a second, inhibitory
    current with time constant ``tau_syn_inh`` (default ``theory.DEFAULT_TAU_SYN_INH``, as in
    :func:`draw_population`); every other initializer has one current with ``tau_syn``.  Each
    current's share of the membrane variance then has a kernel tail of at most ``burn_tol``.

    Units: tau_mem, tau_syn, tau_syn_inh, dt in seconds.  Returns an integer number of steps.
    """
    p = check_all(CONSTRAINTS, init=init, tau_syn_inh=tau_syn_inh)
    taus = {"tau_syn": tau_syn}
    if p["init"].startswith("dale"):
        taus["tau_syn_inh"] = p["tau_syn_inh"] if tau_syn_inh is not None else DEFAULT_TAU_SYN_INH
    steps = []
    for name, tau in taus.items():
        try:
            steps.append(burn_in_steps(tau_mem, tau, dt, burn_tol=burn_tol))
        except ParameterError as err:  # name the time constant the caller gave
            if name == "tau_syn":
                raise
            raise ParameterError(str(err).replace("`tau_syn`", f"`{name}`"),
                                 [name if n == "tau_syn" else n for n in err.names], err.values) from None
    return max(steps)


# --------------------------------------------------------------------------------------
# measurement


@dataclass
class MembraneMeasurement:
    """Per-neuron moments measured over a data set, and histograms of chosen neurons.

    Attributes:
        mu_u, sigma_u: ``(n_post,)`` float64, pooled over samples and window steps.
        n_values: number of ``U`` values per neuron.
        rates: per-input rates of the data's inputs over the window (Hz), ``(n_inputs,)``.
        hist: list of dicts (neuron, edges, counts, underflow, overflow).
    """

    mu_u: np.ndarray
    sigma_u: np.ndarray
    n_values: int
    rates: np.ndarray
    hist: list[dict] = field(default_factory=list)




class _Histograms:
    """Histograms of ``U`` of chosen neurons, accumulated chunk by chunk (float64 counts).

    Bins are half-open ``[e_k, e_{k+1})`` except the last, which is closed (as numpy's);
    values outside the edges are counted as underflow and overflow."""

    def __init__(self, edges: dict[int, np.ndarray]):
        self.edges = edges
        self._edges_t = {h: torch.as_tensor(e, dtype=torch.float64) for h, e in edges.items()}
        self._counts = {h: torch.zeros(len(e) - 1, dtype=torch.float64) for h, e in edges.items()}
        self._under = {h: 0 for h in edges}
        self._over = {h: 0 for h in edges}

    def add(self, u: torch.Tensor) -> None:
        """Count the values of ``u``, ``(time, batch, neurons)``."""
        for h, e in self._edges_t.items():
            v = u[:, :, h].reshape(-1).double()  # time-major; the order does not matter
            nb = len(e) - 1
            idx = torch.bucketize(v, e, right=True) - 1
            idx = torch.where(v == e[-1], torch.full_like(idx, nb - 1), idx)  # last edge closed
            self._under[h] += int((idx < 0).sum())
            self._over[h] += int((idx >= nb).sum())
            inside = (idx >= 0) & (idx < nb)
            self._counts[h] += torch.bincount(idx[inside], minlength=nb).double()

    def result(self) -> list[dict]:
        return [dict(neuron=int(h), edges=self.edges[h].tolist(), counts=self._counts[h].tolist(),
                     underflow=int(self._under[h]), overflow=int(self._over[h])) for h in self.edges]


def _check_channels(source: SpikeSource, pop: NeuronPopulation) -> None:
    for ch in pop.channels:
        if ch.source == "data" and ch.n_pre != source.n_inputs:
            raise conflict("the population's data weights must match the data's number of inputs",
                           n_pre=ch.n_pre, n_inputs=source.n_inputs)
        if ch.source == "poisson":
            _check_rate(f"nu_{ch.name}", ch.nu, source.dt)


def _inputs(x: torch.Tensor, groups: dict[float, list[Channel]], weights: dict[int, torch.Tensor], dt: float,
            gen: torch.Generator) -> list[tuple[list[torch.Tensor], list[torch.Tensor], float]]:
    """Per synapse type: its inputs (the data ``x`` for data channels, fresh Bernoulli spikes
    from ``gen`` for generated ones), their weights and ``lambda_syn`` (see :func:`_free_layer`)."""
    from fluctinit.sim.inputs import poisson_spikes

    B, T = x.shape[0], x.shape[1]
    out = []
    for tau, chans in groups.items():
        xs = [x if ch.source == "data" else poisson_spikes(B, T, ch.n_pre, ch.nu, dt, mode="bernoulli", generator=gen)
              for ch in chans]
        out.append((xs, [weights[id(ch)] for ch in chans], math.exp(-dt / tau)))
    return out


def measure_membrane(
    source: SpikeSource,
    pop: NeuronPopulation,
    *,
    tau_mem: float = 20e-3,
    seed: int = 0,
    hist_edges: dict[int, np.ndarray] | None = None,
    max_elements: int = CHUNK_ELEMENTS,
) -> MembraneMeasurement:
    """Stream ``source`` through the free membranes of ``pop``; per-neuron mean and std of ``U``.

    For each mini-batch: the free membranes of all neurons (the simulator's free-mode layer,
    one current per synapse type), then sums of ``U`` and ``U**2`` over the window (float32
    within a chunk, accumulated across chunks in float64).  Generated
    (Poisson) channels are drawn with a generator seeded by ``seed``.  Mini-batches are split
    so that ``batch * time * neurons <= max_elements``.

    Args:
        hist_edges: ``{neuron: bin edges}`` of the neurons whose ``U`` histogram is kept.

    Returns:
        :class:`MembraneMeasurement`.
    """
    check("tau_mem", tau_mem, CONSTRAINTS["tau_mem"])
    _check_channels(source, pop)
    dt = source.dt
    lm = math.exp(-dt / tau_mem)
    groups: dict[float, list[Channel]] = {}
    for ch in pop.channels:
        groups.setdefault(ch.tau_syn, []).append(ch)
    a, b = source.window
    n_post = pop.n_post
    s1 = torch.zeros(n_post, dtype=torch.float64)
    s2 = torch.zeros(n_post, dtype=torch.float64)
    counts_in = torch.zeros(source.n_inputs, dtype=torch.float64)
    hist = _Histograms(hist_edges or {})
    gen = torch.Generator().manual_seed(int(seed))
    weights = {id(ch): ch.weights.float() for ch in pop.channels}
    chunk = chunk_samples(source.n_steps, n_post, max_elements)
    n_seen = 0
    for xb in source.batches():
        counts_in += _column_sums(xb[:, a:b])
        for s in range(0, xb.shape[0], chunk):
            x = xb[s:s + chunk]
            n_seen += x.shape[0]
            u = _membrane(_inputs(x, groups, weights, dt, gen), lm).transpose(0, 1)[a:b]  # (window, batch, neurons)
            flat = u.reshape(-1, n_post)
            # chunk sums in float32 (torch's cascade summation), accumulated across chunks in float64
            s1 += flat.sum(0).double()
            s2 += (flat * flat).sum(0).double()
            hist.add(u)
    if n_seen != source.n_samples:
        raise ValueError(f"the data source yielded {n_seen} samples, expected {source.n_samples}")
    n_val = source.n_samples * (b - a)
    mean = s1 / n_val
    var = torch.clamp(s2 / n_val - mean * mean, min=0.0)
    rates = (counts_in / (source.n_samples * (b - a) * dt)).numpy()
    return MembraneMeasurement(mean.numpy(), var.sqrt().numpy(), n_val, rates, hist.result())
