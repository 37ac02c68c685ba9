"""PSP-kernel integrals epsilon_bar and epsilon_hat (paper eqs. 2-3, supplementary S1).

The membrane potential of a current-based LIF neuron without spiking is a sum of
filtered input spike trains, U(t) = sum_j w_j (epsilon * S_j)(t) (eq. 1).  For
Poisson inputs only two numbers of the kernel epsilon matter:

    epsilon_bar = integral of epsilon(s) ds      (seconds)      -> mean, eq. 2
    epsilon_hat = integral of epsilon(s)^2 ds    (seconds)      -> variance, eq. 3

Model (a unit input spike makes the synaptic current jump by 1; paper eqs. 10-11):

    continuous:  tau_syn dI/dt = -I + sum_k delta(t - t_k) * tau_syn,
                 tau_mem dU/dt = -U + I
                 -> epsilon(t) = tau_syn/(tau_syn - tau_mem) (e^{-t/tau_syn} - e^{-t/tau_mem})
    discrete:    I[n+1] = lambda_syn I[n] + x[n],
                 U[n+1] = lambda_mem U[n] + (1 - lambda_mem) I[n]
                 -> K[0] = K[1] = 0, K[n] = (1-a)(a^{n-1} - b^{n-1})/(a - b)   (n >= 1)
                 with a = lambda_mem = exp(-dt/tau_mem), b = lambda_syn = exp(-dt/tau_syn)

Closed forms (derived in :mod:`fluctinit.theory.symbolic`, which the tests hold these to):

    continuous:  epsilon_bar = tau_syn
                 epsilon_hat = tau_syn^2 / (2 (tau_mem + tau_syn))
    discrete:    epsilon_bar = dt * sum_n K[n]   = dt / (1 - b)
                 epsilon_hat = dt * sum_n K[n]^2 = dt (1 - a)(1 + a b) / ((1 + a)(1 - b^2)(1 - a b))

Both are regular at tau_mem == tau_syn (the factor (a - b)^2 cancels).  As dt -> 0 the
discrete values converge to the continuous ones at first order:
epsilon_bar = tau_syn + dt/2 + O(dt^2), epsilon_hat = tau_syn (tau_syn + dt) / (2 (tau_mem + tau_syn)) + O(dt^2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import integrate

from fluctinit.errors import Integer, Interval, OneOf, check, check_all, conflict

from ._finite import finite, finite_results, square

__all__ = [
    "KernelIntegrals",
    "kernel_integrals",
    "epsilon_bar",
    "epsilon_hat",
    "psp_kernel",
    "psp_kernel_continuous",
    "numeric_kernel_integrals",
    "DEFAULT_TAU_MEM",
    "DEFAULT_TAU_SYN",
    "DEFAULT_DT",
]

DEFAULT_TAU_MEM = 20e-3
DEFAULT_TAU_SYN = 10e-3
DEFAULT_DT = 2e-3

_POSITIVE = Interval(0.0, None, "neither")

CONSTRAINTS = {
    "tau_mem": _POSITIVE,
    "tau_syn": _POSITIVE,
    "dt": _POSITIVE,
    "mode": OneOf(("discrete", "continuous")),
    "n_steps": Integer(1, 10**8),  # psp_kernel's array: at most 800 MB
    "t_max": _POSITIVE,
}


@dataclass(frozen=True)
class KernelIntegrals:
    """The two kernel integrals (seconds) that enter the moment equations.

    Attributes:
        epsilon_bar: integral of the PSP kernel (eq. 2), seconds.
        epsilon_hat: integral of the squared PSP kernel (eq. 3), seconds.
    """

    epsilon_bar: float
    epsilon_hat: float

    def __post_init__(self) -> None:
        check("epsilon_bar", self.epsilon_bar, _POSITIVE)
        check("epsilon_hat", self.epsilon_hat, _POSITIVE)

    def as_dict(self) -> dict[str, float]:
        return {"epsilon_bar": self.epsilon_bar, "epsilon_hat": self.epsilon_hat}


def _decays(tau_mem: float, tau_syn: float, dt: float) -> tuple[float, float, float, float]:
    """a = exp(-dt/tau_mem), b = exp(-dt/tau_syn) and 1-a, 1-b computed without cancellation."""
    one_minus_a = -math.expm1(-dt / tau_mem)
    one_minus_b = -math.expm1(-dt / tau_syn)
    return 1.0 - one_minus_a, 1.0 - one_minus_b, one_minus_a, one_minus_b


def _check_taus(tau_mem, tau_syn, dt=None):
    vals = check_all(CONSTRAINTS, tau_mem=tau_mem, tau_syn=tau_syn, dt=dt)
    return vals["tau_mem"], vals["tau_syn"], vals["dt"]


@finite_results
def epsilon_bar(tau_mem: float, tau_syn: float, dt: float | None = None) -> float:
    """Integral of the PSP kernel, epsilon_bar (paper eq. 2), in seconds.

    Args:
        tau_mem: membrane time constant (s), > 0.
        tau_syn: synaptic time constant (s), > 0.
        dt: simulation step (s), > 0; ``None`` for continuous time.

    Returns:
        ``tau_syn`` in continuous time; ``dt / (1 - exp(-dt/tau_syn))`` for the exact
        discrete model of eqs. 10-11 (the membrane factor (1 - lambda_mem) normalizes the
        membrane filter, so epsilon_bar does not depend on tau_mem).

    Raises:
        ParameterError: a time constant or dt is not a finite positive number.
    """
    tau_mem, tau_syn, dt = _check_taus(tau_mem, tau_syn, dt)
    if dt is None:
        return tau_syn
    _, _, _, one_minus_b = _decays(tau_mem, tau_syn, dt)
    return finite("epsilon_bar", dt / finite("1 - exp(-dt/tau_syn)", one_minus_b, positive=True), positive=True)


@finite_results
def epsilon_hat(tau_mem: float, tau_syn: float, dt: float | None = None) -> float:
    """Integral of the squared PSP kernel, epsilon_hat (paper eq. 3), in seconds.

    Continuous: ``tau_syn**2 / (2 (tau_mem + tau_syn))``.
    Discrete (a = exp(-dt/tau_mem), b = exp(-dt/tau_syn)):
    ``dt (1-a)(1+ab) / ((1+a)(1-b^2)(1-ab))`` -- the exact infinite sum dt * sum_n K[n]^2.

    Args and Raises: as :func:`epsilon_bar`.
    """
    tau_mem, tau_syn, dt = _check_taus(tau_mem, tau_syn, dt)
    if dt is None:
        return finite("epsilon_hat", square("tau_syn**2", tau_syn) / (2.0 * (tau_mem + tau_syn)), positive=True)
    a, b, one_minus_a, one_minus_b = _decays(tau_mem, tau_syn, dt)
    one_minus_ab = -math.expm1(-dt / tau_mem - dt / tau_syn)
    one_minus_b2 = one_minus_b * (1.0 + b)
    denominator = finite("(1 + a)(1 - b^2)(1 - ab)", (1.0 + a) * one_minus_b2 * one_minus_ab, positive=True)
    return finite("epsilon_hat", dt * one_minus_a * (1.0 + a * b) / denominator, positive=True)


@finite_results
def kernel_integrals(
    tau_mem: float = DEFAULT_TAU_MEM,
    tau_syn: float = DEFAULT_TAU_SYN,
    dt: float = DEFAULT_DT,
    mode: str = "discrete",
) -> KernelIntegrals:
    """epsilon_bar and epsilon_hat of the current-based LIF kernel.

    Args:
        tau_mem: membrane time constant (s); default 20 ms (paper table 3).
        tau_syn: synaptic time constant (s); default 10 ms.
        dt: simulation step (s); default 2 ms.  Ignored in continuous mode but still checked.
        mode: ``"discrete"`` (exact for the simulated update, eqs. 10-11; what the paper's
            table 7 lists and what its simulations used) or ``"continuous"``.

    Returns:
        :class:`KernelIntegrals`.  For the defaults, discrete: (0.011033, 0.0020356),
        matching table 7's 0.0110 and 0.0020; continuous: (0.0100, 0.0016667).
    """
    check("mode", mode, CONSTRAINTS["mode"])
    tau_mem, tau_syn, dt = _check_taus(tau_mem, tau_syn, dt)
    step = dt if mode == "discrete" else None
    return KernelIntegrals(epsilon_bar(tau_mem, tau_syn, step), epsilon_hat(tau_mem, tau_syn, step))


@finite_results
def psp_kernel(tau_mem: float, tau_syn: float, dt: float, n_steps: int) -> np.ndarray:
    """Discrete PSP kernel K[n], n = 0 .. n_steps-1 (float64 array).

    K is the free membrane's response to one unit-weight input spike at step 0 under the
    update of eqs. 10-11: K[0] = K[1] = 0 and K[n] = (1-a) sum_{k=1}^{n-1} a^{n-1-k} b^{k-1}
    (computed by running the recursion, so it is exact also for tau_mem == tau_syn).
    """
    tau_mem, tau_syn, dt = _check_taus(tau_mem, tau_syn, dt)
    n_steps = check("n_steps", n_steps, CONSTRAINTS["n_steps"])
    a, b, one_minus_a, _ = _decays(tau_mem, tau_syn, dt)
    k = np.zeros(n_steps)
    u = 0.0
    i = 0.0
    for n in range(n_steps):
        k[n] = u
        u = a * u + one_minus_a * i
        i = b * i + (1.0 if n == 0 else 0.0)
    return k


@finite_results
def psp_kernel_continuous(t, tau_mem: float, tau_syn: float) -> np.ndarray:
    """Continuous PSP kernel epsilon(t) for t >= 0 (0 for t < 0), unit current jump.

    epsilon(t) = tau_syn/(tau_syn - tau_mem) (e^{-t/tau_syn} - e^{-t/tau_mem}), and
    (t/tau_mem) e^{-t/tau_mem} in the limit tau_mem == tau_syn.
    """
    tau_mem, tau_syn, _ = _check_taus(tau_mem, tau_syn)
    t = np.asarray(t, dtype=float)
    out = np.zeros_like(t)
    pos = t >= 0
    tp = t[pos]
    if math.isclose(tau_mem, tau_syn, rel_tol=1e-9):
        out[pos] = tp / tau_mem * np.exp(-tp / tau_mem)
    else:
        out[pos] = tau_syn / (tau_syn - tau_mem) * (np.exp(-tp / tau_syn) - np.exp(-tp / tau_mem))
    return out


#: breakpoints of the quadrature of a callable kernel (s): one decade per piece, so a kernel
#: peaked within a millisecond and decaying over tens of them is not missed on [0, inf)
_DECADES = tuple(10.0 ** e for e in range(-6, 2))


def _quad_decades(f, upper: float) -> float:
    """``int_0^upper f(t) dt`` as a sum of adaptive quadratures over the decades of
    :data:`_DECADES` (a single quadrature over [0, inf) maps the interval so that a narrow
    peak near 0 is sampled too coarsely: 4.5 % off for tau_syn = 1 ms, tau_mem = 55 ms)."""
    edges = [0.0] + [t for t in _DECADES if t < upper] + [upper]
    return sum(integrate.quad(f, a, b, limit=500)[0] for a, b in zip(edges[:-1], edges[1:]))


@finite_results
def numeric_kernel_integrals(
    kernel: np.ndarray | Callable[[float], float],
    dt: float | None = None,
    t_max: float | None = None,
) -> KernelIntegrals:
    """Kernel integrals of any PSP kernel, for neuron models other than the paper's.

    Args:
        kernel: either an array of the kernel sampled at steps of ``dt`` (the membrane's
            response to one unit input spike, e.g. recorded from a simulation; it should have
            decayed to ~0 at its end), or a callable epsilon(t) of time in seconds.
        dt: sampling step (s) for an array kernel (required then); must be ``None`` for a callable.
        t_max: upper integration limit (s) for a callable kernel; default infinity.

    Returns:
        :class:`KernelIntegrals`: for an array, the Riemann sums dt*sum K and dt*sum K^2 (exact
        for a discrete-time model); for a callable, adaptive quadrature (scipy.integrate.quad).

    Raises:
        ParameterError: missing or superfluous ``dt``, an empty or non-finite array, or a
            kernel whose integrals are not positive.
    """
    if callable(kernel):
        if dt is not None:
            raise conflict(
                "a callable kernel is integrated in continuous time; pass dt=None "
                "(or sample it into an array and pass that with dt)",
                dt=dt,
            )
        upper = math.inf if t_max is None else check("t_max", t_max, _POSITIVE)
        bar = _quad_decades(lambda s: float(kernel(s)), upper)
        hat = _quad_decades(lambda s: float(kernel(s)) ** 2, upper)
    else:
        if dt is None:
            raise conflict("an array kernel needs its sampling step dt (seconds)", dt=dt)
        dt = check("dt", dt, _POSITIVE)
        arr = np.asarray(kernel, dtype=float)
        if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
            raise conflict(
                "must be a non-empty one-dimensional array of finite numbers",
                kernel=f"array of shape {arr.shape}",
            )
        sums = float(arr.sum()), float(np.dot(arr, arr))
        bar, hat = dt * sums[0], dt * sums[1]
        if sums[0] > 0 and sums[1] > 0:  # a positive kernel: its integrals must not under- or overflow
            bar = finite("epsilon_bar = dt * sum K", bar, positive=True)
            hat = finite("epsilon_hat = dt * sum K^2", hat, positive=True)
    if not (bar > 0 and hat > 0):
        raise conflict(
            "the kernel's integrals must be positive (the theory needs an excitatory PSP shape)",
            epsilon_bar=bar,
            epsilon_hat=hat,
        )
    return KernelIntegrals(bar, hat)
