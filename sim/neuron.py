"""The current-based LIF neuron (paper eqs. 10-19): its parameters and the reference step.

Semantics (docs/DEVELOPING.md), per neuron, all states zero at ``n = 0``,
``lambda_mem = exp(-dt/tau_mem)``, ``lambda_syn = exp(-dt/tau_syn)``, for ``n = 0 .. T-1``::

    S[n]   = Theta(U[n] - theta)                    (surrogate derivative in the backward pass)
    U[n+1] = (lambda_mem U[n] + (1 - lambda_mem) sum_k I_k[n]) (1 - S[n].detach())   (eq. 10)
    I_k[n+1] = lambda_syn_k I_k[n] + J_k[n] + R_k(S[n])                              (eq. 11)

with one synaptic current ``I_k`` per synapse type (one for ordinary layers; an excitatory and
an inhibitory one for Dale's law, eqs. 12-19, the inhibitory one carrying negated weights),
``J_k`` its feed-forward input and ``R_k`` its recurrent projection.  Mode ``"free"`` is the
free membrane: no threshold, no reset, no spikes (``S = 0``, so no recurrence acts either).
Outputs are ``S[0..T-1]`` and ``U[0..T-1]``; an input spike at step ``n`` changes ``I`` at
``n+1`` and ``U`` at ``n+2``.

This module holds the one reference implementation of that update: :func:`lif_step` and
:func:`current_step` (pure functions of tensors, differentiated by autograd) and the loop
:func:`scan` over time that every reference layer function runs (sim.lif) and that the tests
hold the fast core to.  The fast core (sim._core) writes the same step once more per backend:
one compiled step and adjoint, one torch-op step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from fluctinit.errors import Interval, OneOf, check

from .surrogate import SuperSpike

__all__ = [
    "MODES",
    "NeuronParams",
    "DaleParams",
    "ReadoutParams",
    "decay",
    "lif_step",
    "current_step",
    "scan",
]

#: "reset": spike and reset (eq. 10); "free": the free membrane (no threshold, reset or spikes)
MODES = ("reset", "free")

_POSITIVE = Interval(0.0, None)
_MODES = OneOf(MODES)


def _check_fields(record, positive: tuple) -> None:
    """A parameter record's fields: those named in ``positive`` > 0, ``mode`` one of :data:`MODES`."""
    for name in positive:
        check(name, getattr(record, name), _POSITIVE)
    if hasattr(record, "mode"):
        check("mode", record.mode, _MODES)


def decay(dt: float, tau: float) -> float:
    """``exp(-dt/tau)``, the per-step decay of a state with time constant ``tau`` (s)."""
    return math.exp(-dt / tau)


@dataclass(frozen=True)
class NeuronParams:
    """Parameters of a population of LIF neurons (eqs. 10-11, table 3).

    Attributes:
        tau_mem: membrane time constant (s), > 0; paper 20 ms.
        tau_syn: synaptic time constant (s), > 0; paper 10 ms.
        dt: time step (s), > 0; paper 2 ms.
        theta: firing threshold (threshold units), > 0; default 1.
        mode: ``"reset"`` (spike and reset, eq. 10) or ``"free"`` (free membrane:
            no threshold, no reset, no spikes).
    """

    tau_mem: float = 20e-3
    tau_syn: float = 10e-3
    dt: float = 2e-3
    theta: float = 1.0
    mode: str = "reset"

    def __post_init__(self) -> None:
        _check_fields(self, ("tau_mem", "tau_syn", "dt", "theta"))

    @property
    def lambda_mem(self) -> float:
        """``exp(-dt/tau_mem)``."""
        return decay(self.dt, self.tau_mem)

    @property
    def lambda_syn(self) -> float:
        """``exp(-dt/tau_syn)``."""
        return decay(self.dt, self.tau_syn)


@dataclass(frozen=True)
class DaleParams:
    """Parameters of a Dale's-law layer (eqs. 12-19, table 3).

    Attributes:
        tau_mem_exc, tau_mem_inh: membrane time constants of the E and I populations (s); paper 20/20 ms.
        tau_syn_exc, tau_syn_inh: time constants of excitatory and inhibitory synaptic currents (s);
            paper 10/20 ms.
        dt: time step (s).  theta: threshold of both populations.  mode: ``"reset"`` or ``"free"``.
    """

    tau_mem_exc: float = 20e-3
    tau_mem_inh: float = 20e-3
    tau_syn_exc: float = 10e-3
    tau_syn_inh: float = 20e-3
    dt: float = 2e-3
    theta: float = 1.0
    mode: str = "reset"

    def __post_init__(self) -> None:
        _check_fields(self, ("tau_mem_exc", "tau_mem_inh", "tau_syn_exc", "tau_syn_inh", "dt", "theta"))


@dataclass(frozen=True)
class ReadoutParams:
    """Parameters of non-spiking leaky readout units (the free membrane of eqs. 10-11).

    Attributes:
        tau_out: membrane time constant of the readout (s), > 0; the paper sets it to
            the stimulus duration ``T_data``.
        tau_syn: synaptic time constant (s), > 0; default 10 ms.
        dt: time step (s), > 0.
    """

    tau_out: float
    tau_syn: float = 10e-3
    dt: float = 2e-3

    def __post_init__(self) -> None:
        _check_fields(self, ("tau_out", "tau_syn", "dt"))


def lif_step(
    u: torch.Tensor,
    current: torch.Tensor,
    *,
    lambda_mem: float | torch.Tensor,
    theta: float,
    mode: str,
    surrogate: SuperSpike,
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """One step of eq. 10 for a population: ``(S[n], U[n+1])`` from ``U[n]`` and ``sum_k I_k[n]``.

    ``S[n] = surrogate(U[n], theta)`` (``None`` in mode ``"free"``: no spikes);
    ``U[n+1] = (lambda_mem U[n] + (1 - lambda_mem) I[n]) (1 - S[n].detach())``.
    ``lambda_mem`` is a float or one value per neuron (broadcast over the batch).
    """
    u_next = lambda_mem * u + (1.0 - lambda_mem) * current
    if mode == "free":
        return None, u_next
    s = surrogate(u, theta)
    return s, u_next * (1.0 - s.detach())


def current_step(i: torch.Tensor, lambda_syn: float, drive: torch.Tensor | None) -> torch.Tensor:
    """One step of eq. 11 for one synaptic current: ``I[n+1] = lambda_syn I[n] + drive[n]``,
    with ``drive`` the feed-forward plus recurrent input of step ``n`` (``None``: none)."""
    decayed = lambda_syn * i
    return decayed if drive is None else decayed + drive


def scan(
    feeds: Sequence[torch.Tensor | None],
    lambdas_syn: Sequence[float],
    recurrences: Sequence[Callable[[torch.Tensor], torch.Tensor] | None],
    *,
    lambda_mem: float | torch.Tensor,
    theta: float,
    mode: str,
    surrogate: SuperSpike,
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """The reference time loop of a layer: :func:`lif_step` and :func:`current_step` over ``T`` steps.

    Args:
        feeds: per synaptic current ``k``, its feed-forward input ``J_k`` of shape
            ``(batch, time, N)`` (neurons flattened), or ``None``; at least one is given.
        lambdas_syn: per current, ``exp(-dt/tau_syn_k)``.
        recurrences: per current, ``R_k``: spikes ``(batch, N)`` -> input ``(batch, N)``, or ``None``
            (they act in mode ``"reset"`` only).
        lambda_mem: ``exp(-dt/tau_mem)``, a float or ``(N,)`` (Dale's law: per population).
        theta, mode, surrogate: threshold, ``"reset"``/``"free"``, spike non-linearity.

    Returns:
        ``(S, U)``, each ``(batch, time, N)``; ``S`` is ``None`` in mode ``"free"``.  Time is
        iterated over ``unbind`` lists and stacked once at the end (indexing ``h[t]`` inside
        the loop makes the backward pass quadratic in ``T``).
    """
    ref = next(f for f in feeds if f is not None)
    steps = [None if f is None else f.unbind(1) for f in feeds]
    u = torch.zeros_like(ref[:, 0])
    currents = [torch.zeros_like(u) for _ in feeds]
    s_out: list[torch.Tensor] = []
    u_out: list[torch.Tensor] = []
    for n in range(ref.shape[1]):
        total = currents[0]
        for c in currents[1:]:
            total = total + c
        s, u_next = lif_step(u, total, lambda_mem=lambda_mem, theta=theta, mode=mode, surrogate=surrogate)
        u_out.append(u)
        if s is not None:
            s_out.append(s)
        for k, (lam, rec) in enumerate(zip(lambdas_syn, recurrences)):
            drive = None if steps[k] is None else steps[k][n]
            if rec is not None and s is not None:
                r = rec(s)
                drive = r if drive is None else drive + r
            currents[k] = current_step(currents[k], lam, drive)
        u = u_next
    return (torch.stack(s_out, 1) if s_out else None), torch.stack(u_out, 1)
