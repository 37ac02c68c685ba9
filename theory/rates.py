"""Firing rate and membrane statistics of the LIF neuron with threshold and reset, from its free
membrane statistics (beyond the paper, which assumes no reset: its discussion, "Finally"); and
the rate of the free membrane's upward threshold crossings without reset (:func:`upcrossing_rate`,
:func:`rice_rate`, figure 1(c)).

Diffusion approximation.  A neuron whose free membrane (no threshold, no reset) has mean
``mu_u`` and standard deviation ``sigma_u`` is driven by a synaptic current that is an
Ornstein-Uhlenbeck process with time constant ``tau_syn``.  For white-noise current
(``tau_syn -> 0``) with ``tau_mem dU/dt = -U + mu + sigma sqrt(tau_mem) xi(t)``, the free variance
is ``sigma^2 / 2``, and the rate with threshold ``theta`` and reset ``V_r`` is Siegert's
first-passage result (Brunel 2000, eq. 21)::

    1 / nu = t_ref + tau_mem sqrt(pi) int_{(V_r - mu)/sigma}^{(theta - mu)/sigma} e^{x^2} (1 + erf x) dx

Synaptic filtering lowers the free variance to ``sigma^2 / 2 * tau_mem / (tau_mem + tau_syn)``
for the same current noise.  So ``sigma = sigma_u sqrt(2 (tau_mem + tau_syn) / tau_mem)``.  To
first order in ``sqrt(tau_syn / tau_mem)`` the filtering then shifts both integration bounds by
``alpha / 2 sqrt(tau_syn / tau_mem)``, with ``alpha = sqrt(2) |zeta(1/2)|`` (Fourcaud & Brunel
2002, eq. 4.31; Brunel et al. 2001).  Three approximations are made:

* the shot noise of the inputs is taken as Gaussian (diffusion);
* the synaptic filtering correction is the first-order one, while the paper's
  ``tau_syn / tau_mem = 0.5`` is not small;
* time is continuous, while the simulation steps at 2 ms.

tests/test_theory_rates.py measures all three against the simulator (threshold and reset to
0, no refractory period).  The integrand is ``erfcx(-x) = e^{x^2} erfc(-x)``, which stays
finite where ``e^{x^2}`` alone overflows.

The stationary membrane density with reset is Brunel's (2000, eq. 17), with the same shifted
bounds::

    P(V) = 2 nu tau_mem / sigma exp(-(V - mu)^2 / sigma^2) int_{(V - mu)/sigma}^{(theta - mu)/sigma} Theta(u - (V_r - mu)/sigma) e^{u^2} du

for ``V < theta_eff``.  :func:`lif_membrane_moments` integrates it for the mean and standard
deviation with reset.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from fluctinit.errors import Interval, OneOf, ParameterError, check

__all__ = ["ALPHA_COLORED", "SILENT_RATE", "lif_rate", "lif_stationary", "LIFStationary", "adiabatic_rate", "lif_rates",
           "stationary_rates", "local_rate", "lif_membrane_moments", "lif_reset_mean", "white_noise_sigma", "colored_shift",
           "lag_correlation", "upcrossing_rate", "rice_rate"]

#: the smallest rate (Hz) a silent layer's successor is initialized for, so that its weights stay
#: finite (the layer-sequential rules of fluctinit.training and fluctinit.interop)
SILENT_RATE = 0.01

#: sqrt(2) |zeta(1/2)|, the colored-noise boundary shift's coefficient (Fourcaud & Brunel 2002)
ALPHA_COLORED = math.sqrt(2.0) * 1.4603545088095868

_POS = Interval(0.0, None, "neither")
_NONNEG = Interval(0.0, None, "left")


def white_noise_sigma(sigma_u: float, tau_mem: float, tau_syn: float) -> float:
    """The current-noise amplitude ``sigma`` whose synaptically filtered free membrane has std ``sigma_u``."""
    return sigma_u * math.sqrt(2.0 * (tau_mem + tau_syn) / tau_mem)


def colored_shift(tau_mem: float, tau_syn: float) -> float:
    """The boundary shift ``alpha / 2 sqrt(tau_syn / tau_mem)`` (in units of ``sigma``)."""
    return 0.5 * ALPHA_COLORED * math.sqrt(tau_syn / tau_mem)


def _check_neuron(mu_u, sigma_u, tau_mem, tau_syn, theta, reset, tau_syn_range=_NONNEG, **more):
    """The checks every rate here starts with (``more``: further positive arguments, e.g. ``dt``)."""
    for name, v, c in (("sigma_u", sigma_u, _POS), ("tau_mem", tau_mem, _POS), ("tau_syn", tau_syn, tau_syn_range),
                       *((k, v, _POS) for k, v in more.items()), ("theta", theta, _POS)):
        check(name, v, c)
    if not reset < theta:
        raise ParameterError(f"`reset` must be < theta ({theta!r}); got {reset!r}", ["reset"], [reset])
    if not math.isfinite(mu_u):
        raise ParameterError(f"`mu_u` must be a finite number; got {mu_u!r}", ["mu_u"], [mu_u])


def _bounds(mu_u, sigma_u, tau_mem, tau_syn, theta, reset, colored):
    _check_neuron(mu_u, sigma_u, tau_mem, tau_syn, theta, reset)
    sigma = white_noise_sigma(sigma_u, tau_mem, tau_syn)
    k = colored_shift(tau_mem, tau_syn) if colored else 0.0
    return sigma, (reset - mu_u) / sigma + k, (theta - mu_u) / sigma + k


def lif_rate(mu_u: float, sigma_u: float, *, tau_mem: float = 20e-3, tau_syn: float = 10e-3, theta: float = 1.0,
             reset: float = 0.0, t_ref: float = 0.0, colored: bool = True) -> float:
    """Stationary firing rate (Hz) of the LIF neuron with threshold and reset (module docstring).

    Args:
        mu_u, sigma_u: the free membrane's mean and standard deviation (threshold units), e.g.
            the targets of the initialization.
        tau_mem, tau_syn: membrane and synaptic time constants (s).
        theta, reset: threshold and reset potential (reset < theta).
        t_ref: refractory period (s).
        colored: the synaptic-filtering correction of the bounds (False: white noise).

    Returns:
        the rate in Hz (0.0 where it underflows).
    """
    from scipy.integrate import quad
    from scipy.special import erfcx

    check("t_ref", t_ref, _NONNEG)
    _, lo, hi = _bounds(mu_u, sigma_u, tau_mem, tau_syn, theta, reset, colored)
    if hi > 26.0:  # the integral overflows float: the rate is below 1e-290 Hz
        return 0.0
    integral = quad(lambda x: erfcx(-x), lo, hi, limit=200)[0]
    return 1.0 / (t_ref + tau_mem * math.sqrt(math.pi) * integral)


def lif_membrane_moments(mu_u: float, sigma_u: float, *, tau_mem: float = 20e-3, tau_syn: float = 10e-3,
                         theta: float = 1.0, reset: float = 0.0, colored: bool = True,
                         points: int = 8001) -> tuple[float, float]:
    """Mean and standard deviation of the membrane with threshold and reset (Brunel's density).

    In ``y = (V - mu) / (sqrt(2) sigma_u)`` the density is ``p(y) ~ e^{-y^2} int_{max(y, lo)}^{hi} e^{u^2} du``
    on ``y < hi``: far below threshold the free Gaussian of std ``sigma_u``, with the absorbing
    threshold and the reset at the rate's shifted bounds (:func:`colored_shift`, converted from
    units of the current noise).  It is evaluated on a grid from ``min(lo, -8)`` to ``hi`` in
    logarithms (no overflow) and normalized numerically (no refractory mass), so it needs no rate.

    Returns:
        ``(mean, std)`` in threshold units.
    """
    sigma, lo, hi = _bounds(mu_u, sigma_u, tau_mem, tau_syn, theta, reset, colored)
    # the density's own scale: free std sigma_u (sigma_d = sqrt(2) sigma_u); the bounds, shifted
    # in units of the current noise sigma, converted to it
    sd = math.sqrt(2.0) * sigma_u
    lo, hi = (mu_u + sigma * lo - mu_u) / sd, (mu_u + sigma * hi - mu_u) / sd
    y = np.linspace(min(lo, -8.0), hi, points)
    u = np.linspace(lo, hi, points)  # the inner integral's range
    top = max(hi * hi, lo * lo)  # the largest u^2 on it
    g = np.exp(u ** 2 - top)  # e^{u^2} scaled: no overflow
    # from the top down, so that no large sum cancels a small one
    tail = np.concatenate([np.cumsum((0.5 * (g[1:] + g[:-1]) * np.diff(u))[::-1])[::-1], [0.0]])
    inner = np.interp(np.maximum(y, lo), u, tail)  # int_{max(y, lo)}^{hi} e^{u^2 - top} du
    with np.errstate(divide="ignore"):
        logp = top - y ** 2 + np.log(inner)
    p = np.exp(logp - logp[np.isfinite(logp)].max())
    v = mu_u + sd * y
    w = np.concatenate([[0.0], 0.5 * (p[1:] + p[:-1]) * np.diff(v)])
    mids = np.concatenate([[v[0]], 0.5 * (v[1:] + v[:-1])])
    mean = float((w * mids).sum() / w.sum())
    var = float((w * (mids - mean) ** 2).sum() / w.sum())
    return mean, math.sqrt(max(var, 0.0))


def lif_reset_mean(mu_u: float, rate: float, *, tau_mem: float = 20e-3, dt: float = 2e-3, theta: float = 1.0) -> float:
    """The membrane mean with reset from the free mean and the rate: ``mu_u - rate theta dt / (1 - lambda_mem)``.

    Reset to 0 subtracts the membrane's value at the spike, ``U_s >= theta``, from ``U`` and
    leaves the current alone. Since the update is linear in ``U``, each reset lowers the
    membrane by ``U_s lambda_mem^k`` ``k`` steps later. The pooled mean is therefore exactly
    ``mu_u - rate E[U_s] dt / (1 - lambda_mem)``. With ``E[U_s]`` replaced by ``theta``, the
    shift is a lower bound on its size: the overshoot above threshold is left out.
    """
    for name, v, c in (("rate", rate, _NONNEG), ("tau_mem", tau_mem, _POS), ("dt", dt, _POS), ("theta", theta, _POS)):
        check(name, v, c)
    return mu_u - rate * theta * dt / (1.0 - math.exp(-dt / tau_mem))


# ----------------------------------------------------------------------------- no reset
def lag_correlation(tau_mem: float, tau_syn: float, dt: float, lag: int = 1) -> float:
    """Correlation coefficient rho(k) = C(k)/C(0) of the free membrane at a lag of ``lag`` steps.

    For stationary independent Poisson inputs the free membrane's autocovariance is
    C(k) = sum_j w_j**2 nu_j dt sum_m K[m] K[m+k] (eq. 1 with the discrete PSP kernel K of
    ``theory.psp_kernel``), so rho(k) = sum_m K[m] K[m+k] / sum_m K[m]**2, whatever the
    weights.  0.9901 for 20 ms, 10 ms, dt 2 ms, k = 1.

    Units: tau_mem, tau_syn, dt in seconds; ``lag`` in steps.  Returns a float in [-1, 1].
    """
    from .kernels import psp_kernel

    n = int(math.ceil(60.0 * max(tau_mem, tau_syn) / dt)) + lag + 2  # the kernel's tail below e^-60
    k = psp_kernel(tau_mem, tau_syn, dt, n)
    return float(np.dot(k[:-lag], k[lag:]) / np.dot(k, k)) if lag > 0 else 1.0


def upcrossing_rate(xi, rho: float, dt: float):
    """Rate (Hz) of upward threshold crossings of a stationary Gaussian sequence, no reset.

    With U[n] ~ N(mu, sigma**2) sampled every ``dt`` and rho the correlation of neighbouring
    samples, a crossing between steps n and n+1 has probability
    P(U[n] < theta <= U[n+1]) = Phi(xi) - Phi2(xi, xi; rho) = 2 T(xi, sqrt((1-rho)/(1+rho)))
    (Owen's T function, Owen 1956), xi = (theta - mu)/sigma (eq. 8); the rate is that over dt.
    As dt -> 0 it tends to Rice's formula (:func:`rice_rate`).

    Args:
        xi: distance of the threshold from the mean in standard deviations (array or float).
        rho: lag-one correlation (:func:`lag_correlation`), in (-1, 1).
        dt: sampling step (s).

    Returns:
        the rate in Hz, shaped like ``xi``.
    """
    from scipy.special import owens_t

    a = math.sqrt((1.0 - rho) / (1.0 + rho))
    return 2.0 * owens_t(np.asarray(xi, dtype=float), a) / dt


def rice_rate(xi, tau_mem: float, tau_syn: float):
    """Rice's rate (Hz) of upward crossings of the free membrane in continuous time.

    nu_up = (1/2pi) sqrt(-C''(0)/C(0)) exp(-xi**2/2) (Rice 1944).  For the current-based PSP
    kernel epsilon(t) = tau_syn/(tau_syn - tau_mem) (e^{-t/tau_syn} - e^{-t/tau_mem}) (supp. S1),
    -C''(0)/C(0) = int eps'**2 / int eps**2 = 1/(tau_mem tau_syn), so
    nu_up = exp(-xi**2/2) / (2 pi sqrt(tau_mem tau_syn)): 11.25 Hz at xi = 0 for 20 ms, 10 ms.

    Units: tau_mem, tau_syn in s; ``xi`` dimensionless.  Returns Hz, shaped like ``xi``.
    """
    xi = np.asarray(xi, dtype=float)
    return np.exp(-0.5 * xi * xi) / (2.0 * math.pi * math.sqrt(tau_mem * tau_syn))


@dataclass(frozen=True)
class LIFStationary:
    """The stationary state of the discrete-time LIF neuron with threshold and reset
    (:func:`lif_stationary`).

    Attributes:
        rate: firing rate (Hz): the probability of ``U[n] > theta`` per step over ``dt``.
        mean, std: the membrane's mean and standard deviation with reset (threshold units), over
            every step (the suprathreshold values at the spike steps included, as the simulator
            records them).
        u: the membrane grid (threshold units); density: the probability of each grid point
            (sums to 1).
        steps: the chain steps it took to converge.
    """

    rate: float
    mean: float
    std: float
    u: np.ndarray
    density: np.ndarray
    steps: int


def lif_stationary(mu_u: float, sigma_u: float, *, tau_mem: float = 20e-3, tau_syn: float = 10e-3, dt: float = 2e-3,
                   theta: float = 1.0, reset: float = 0.0, n_u: int = 481, n_i: int = 121, tol: float = 1e-10,
                   max_steps: int = 100_000) -> LIFStationary:
    """Rate and membrane distribution with threshold and reset, from the free membrane's
    ``(mu_u, sigma_u)``: the stationary state of the simulator's own discrete update (eqs.
    10-11) with Gaussian input, no continuous-time or small-``tau_syn`` approximation.

    The neuron's state is ``(U[n], I[n])``::

        S[n] = H(U[n] - theta);  U[n+1] = (lam_m U[n] + (1 - lam_m) I[n]) (1 - S[n]) + reset S[n]
        I[n+1] = lam_s I[n] + J[n],   J[n] ~ N(m_J, s_J^2) independent over steps

    with ``m_J`` and ``s_J`` the input mean and noise that give the free membrane (no threshold)
    its ``mu_u`` and ``sigma_u``: ``mu_u = m_J sum K``, ``sigma_u^2 = s_J^2 sum K^2`` (the
    Gaussian diffusion limit of many Poisson inputs).  Its probability on a ``n_u x n_i`` grid
    of ``(U, I)`` is iterated to the fixed point: ``U`` moved by the deterministic update
    (linear interpolation between grid points, the reset included), ``I`` by its Gaussian
    transition (bin masses from the normal CDF).  This keeps what the diffusion formulas
    (:func:`lif_rate`, :func:`lif_membrane_moments`) lose: a current that stays high after a
    reset fires the neuron again at once.

    Returns:
        :class:`LIFStationary`.
    """
    from scipy.special import ndtr

    from .kernels import kernel_integrals

    _check_neuron(mu_u, sigma_u, tau_mem, tau_syn, theta, reset, tau_syn_range=_POS, dt=dt)
    lam_m, lam_s = math.exp(-dt / tau_mem), math.exp(-dt / tau_syn)
    # sum K and sum K^2 of the free membrane's response to one unit input: the discrete kernel
    # integrals over dt (eqs. 2-3: a Poisson input's mean nu dt per step gives nu epsilon_bar)
    k = kernel_integrals(tau_mem, tau_syn, dt, "discrete")
    m_j, s_j = mu_u / (k.epsilon_bar / dt), sigma_u / math.sqrt(k.epsilon_hat / dt)
    i_mean, i_std = m_j / (1.0 - lam_s), s_j / math.sqrt(1.0 - lam_s * lam_s)
    i = np.linspace(i_mean - 6.5 * i_std, i_mean + 6.5 * i_std, n_i)
    u_lo = min(reset, mu_u - 7.0 * sigma_u)
    top = min(theta, mu_u + 8.0 * sigma_u)  # a threshold far above the free membrane is never reached
    u_hi = max(top, lam_m * top + (1.0 - lam_m) * i[-1]) + 1e-9  # the largest value before a reset
    u = np.linspace(u_lo, u_hi, n_u)
    du = u[1] - u[0]
    spike = u > theta
    nxt = np.where(spike[:, None], reset, lam_m * u[:, None] + (1.0 - lam_m) * i[None, :])
    f = np.clip((nxt - u_lo) / du, 0.0, n_u - 1 - 1e-12)
    lo = np.floor(f).astype(np.int64)
    w = f - lo
    cols = np.arange(n_i)[None, :]
    idx_lo, idx_hi = (lo * n_i + cols).ravel(), ((lo + 1) * n_i + cols).ravel()
    w = w.ravel()
    # I's transition: bin masses of N(lam_s i_k + m_J, s_J^2) between the grid's midpoints
    edges = np.concatenate([[-np.inf], 0.5 * (i[1:] + i[:-1]), [np.inf]])
    trans = np.diff(ndtr((edges[None, :] - (lam_s * i[:, None] + m_j)) / s_j), axis=1)  # (n_i, n_i)
    # start from the free state: U and I jointly Gaussian would do; independent is enough
    p = np.exp(-0.5 * ((u[:, None] - mu_u) / sigma_u) ** 2 - 0.5 * ((i[None, :] - i_mean) / i_std) ** 2)
    p /= p.sum()
    steps = 0
    while steps < max_steps:
        old = p
        for _ in range(25):
            flat = p.ravel()
            q = (np.bincount(idx_lo, flat * (1.0 - w), minlength=n_u * n_i)
                 + np.bincount(idx_hi, flat * w, minlength=n_u * n_i)).reshape(n_u, n_i)
            p = q @ trans
            p /= p.sum()
        steps += 25
        if float(np.abs(p - old).sum()) < tol:
            break
    marginal = p.sum(1)
    mean = float((marginal * u).sum())
    std = math.sqrt(max(float((marginal * (u - mean) ** 2).sum()), 0.0))
    return LIFStationary(float(marginal[spike].sum()) / dt, mean, std, u, marginal, steps)


def adiabatic_rate(mu_u: float, sigma_fast: float, sigma_slow: float, *, points: int = 24, **lif) -> float:
    """The rate (Hz) of a neuron whose free membrane fluctuates on two time scales: fast
    fluctuations of std ``sigma_fast`` (the PSP kernel's, as with Poisson inputs) about a mean
    that drifts slowly, ``N(mu_u, sigma_slow^2)``, slower than the membrane relaxes (onsets and
    silence, differences between samples).  Then the neuron follows the drift: its rate is
    :func:`lif_rate` at each slow mean, averaged over the drift (Gauss-Hermite, ``points``
    nodes)::

        rate = E_z[ lif_rate(mu_u + sigma_slow z, sigma_fast) ],   z ~ N(0, 1)

    With ``sigma_slow = 0`` it is :func:`lif_rate`.  ``lif`` goes to :func:`lif_rate`.  Where
    ``sigma_fast`` is 0 (no fast fluctuations) a tiny one (1e-4) stands in: the deterministic
    neuron's rate above threshold, none below.
    """
    check("sigma_slow", sigma_slow, _NONNEG)
    check("sigma_fast", sigma_fast, _NONNEG)
    fast = max(float(sigma_fast), 1e-4)
    if sigma_slow == 0.0:
        return lif_rate(mu_u, fast, **lif)
    x, w = np.polynomial.hermite_e.hermegauss(points)
    rates = [lif_rate(mu_u + sigma_slow * z, fast, **lif) for z in x]
    return float(np.dot(w, rates) / w.sum())


@functools.lru_cache(maxsize=1)
def _siegert_table():
    """``x`` and ``F(x) = int_{-40}^{x} erfcx(-t) dt`` on a fine grid up to 26 (where the
    integral overflows float64's range of rates), for :func:`lif_rates`."""
    from scipy.special import erfcx

    x = np.linspace(-40.0, 26.0, 132_001)
    f = erfcx(-x)
    return x, np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(x))])


def _siegert_primitive(z: np.ndarray) -> np.ndarray:
    """``F(z)``, below -40 by the tail ``erfcx(-t) ~ 1 / (sqrt(pi) |t|)``."""
    x, F = _siegert_table()
    zc = np.clip(z, x[0], x[-1])
    out = np.interp(zc, x, F)
    low = z < x[0]
    out[low] = -np.log(z[low] / x[0]) / math.sqrt(math.pi)
    return out


def lif_rates(mu_u, sigma_u, *, tau_mem: float = 20e-3, tau_syn: float = 10e-3, theta: float = 1.0,
              reset: float = 0.0) -> np.ndarray:
    """:func:`lif_rate` for arrays of ``(mu_u, sigma_u)`` at once (Hz), from a tabulated
    primitive of its integrand instead of one quadrature per point (agrees to 1e-3, tested).
    ``sigma_u`` may be 0: the deterministic neuron (rate above threshold, 0 below)."""
    mu, sig = np.broadcast_arrays(np.asarray(mu_u, dtype=float), np.asarray(sigma_u, dtype=float))
    mu, sig = mu.ravel(), np.maximum(sig.ravel(), 1e-9)
    sigma = white_noise_sigma(sig, tau_mem, tau_syn)
    k = colored_shift(tau_mem, tau_syn)
    lo, hi = (reset - mu) / sigma + k, (theta - mu) / sigma + k
    integral = _siegert_primitive(hi) - _siegert_primitive(lo)
    with np.errstate(divide="ignore"):
        rate = np.where((hi < 26.0) & (integral > 0), 1.0 / (tau_mem * math.sqrt(math.pi) * integral), 0.0)
    return rate.reshape(np.broadcast(np.asarray(mu_u), np.asarray(sigma_u)).shape)


#: stationary_rates' table: z = (theta - mu_u) / sigma_u and sigma_u (log-spaced) at its nodes
STATIONARY_TABLE_Z = np.linspace(-3.0, 6.0, 19)
STATIONARY_TABLE_SIGMA = np.geomspace(0.03, 10.0, 16)
#: below this rate (Hz) the table's ratio tends to 1: stationary_rates is lif_rates where both are
#: negligible and the grid of lif_stationary cannot resolve the rate
_TABLE_FLOOR = 1e-3


@functools.lru_cache(maxsize=8)
def _stationary_table(tau_mem: float, tau_syn: float, dt: float, theta: float, reset: float, n_u: int, n_i: int):
    """``log((lif_stationary + floor) / (lif_rates + floor))`` at the table's nodes, and its
    interpolator over ``(z, log sigma_u)``."""
    from scipy.interpolate import RegularGridInterpolator

    z, sig = STATIONARY_TABLE_Z, STATIONARY_TABLE_SIGMA
    mu = theta - z[:, None] * sig[None, :]
    exact = np.array([[lif_stationary(m, s, tau_mem=tau_mem, tau_syn=tau_syn, dt=dt, theta=theta, reset=reset,
                                      n_u=n_u, n_i=n_i).rate for m, s in zip(row, sig)] for row in mu])
    approx = lif_rates(mu, np.broadcast_to(sig, mu.shape), tau_mem=tau_mem, tau_syn=tau_syn, theta=theta, reset=reset)
    log_ratio = np.log((exact + _TABLE_FLOOR) / (approx + _TABLE_FLOOR))
    return RegularGridInterpolator((z, np.log(sig)), log_ratio, method="linear")


def stationary_rates(mu_u, sigma_u, *, tau_mem: float = 20e-3, tau_syn: float = 10e-3, dt: float = 2e-3,
                     theta: float = 1.0, reset: float = 0.0, n_u: int = 241, n_i: int = 61) -> np.ndarray:
    """:func:`lif_stationary`'s rate for arrays of ``(mu_u, sigma_u)`` at once (Hz): the
    diffusion result :func:`lif_rates` times the ratio of the two, tabulated once per neuron
    (``19 x 16`` solves of :func:`lif_stationary`, on its ``n_u x n_i`` grid, cached) over
    ``z = (theta - mu_u) / sigma_u`` in [-3, 6] and ``sigma_u`` in [0.03, 10], and interpolated
    linearly in ``(z, log sigma_u)``.  Outside the table the ratio at its edge is taken.

    The ratio is where the diffusion formula fails: it is 1.12 at ``sigma_u = 1``, 0.80 at 3 and
    0.56 at 6 (``mu_u = 0``, the paper's neuron), so per-block rates at large ``sigma_u``
    (:func:`local_rate` with ``rates="stationary"``) need it.  The table's default grid is
    30x faster than lif_stationary's; with it, the result is 0.97-1.07 of lif_stationary's rate
    above 0.1 Hz (tests/test_theory_rates.py).  The table takes a few seconds to build."""
    _check_neuron(0.0, 1.0, tau_mem, tau_syn, theta, reset, tau_syn_range=_POS, dt=dt)
    mu, sig = np.broadcast_arrays(np.asarray(mu_u, dtype=float), np.asarray(sigma_u, dtype=float))
    shape = mu.shape
    mu, sig = mu.ravel(), sig.ravel()
    table = _stationary_table(float(tau_mem), float(tau_syn), float(dt), float(theta), float(reset), int(n_u), int(n_i))
    s = np.clip(sig, STATIONARY_TABLE_SIGMA[0], STATIONARY_TABLE_SIGMA[-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.clip((theta - mu) / np.maximum(sig, 1e-300), STATIONARY_TABLE_Z[0], STATIONARY_TABLE_Z[-1])
    ratio = np.exp(table(np.stack([z, np.log(s)], axis=-1)))
    base = lif_rates(mu, sig, tau_mem=tau_mem, tau_syn=tau_syn, theta=theta, reset=reset)
    # the ratio was taken with the floor in both rates: undo it so that a silent base stays silent
    out = np.maximum((base + _TABLE_FLOOR) * ratio - _TABLE_FLOOR, 0.0)
    return out.reshape(shape)


def local_rate(u_free, *, block: int, dt: float, tau_mem: float = 20e-3, tau_syn: float = 10e-3,
               theta: float = 1.0, axis: int = 1, rates: str = "siegert") -> np.ndarray:
    """The rate (Hz) a LIF neuron with reset fires at, predicted from its free membrane's local
    statistics: the free membrane ``u_free`` (time along ``axis``) cut into blocks of ``block``
    steps, each block's mean and std taken as stationary, the rates averaged over blocks and
    every other axis but the last (one rate per neuron).  Each block's rate is the diffusion
    result (``rates="siegert"``, :func:`lif_rates`) or the discrete update's stationary rate
    (``"stationary"``, :func:`stationary_rates`, right at large ``sigma_u`` too).  For data whose drive
    changes slower than a block (onsets, silence, differences between samples) this follows the
    changes that a single pooled ``(mu, sigma)`` averages away."""
    check("rates", rates, OneOf(("siegert", "stationary")))
    u = np.moveaxis(np.asarray(u_free, dtype=float), axis, 0)
    nb = u.shape[0] // block
    if nb < 1:
        raise ParameterError(f"`block` ({block} steps) must fit in the trace ({u.shape[0]} steps)", ["block"], [block])
    b = u[:nb * block].reshape(nb, block, *u.shape[1:])
    m, s = b.mean(1), b.std(1)
    if rates == "stationary":
        r = stationary_rates(m, s, tau_mem=tau_mem, tau_syn=tau_syn, dt=dt, theta=theta)
    else:
        r = lif_rates(m, s, tau_mem=tau_mem, tau_syn=tau_syn, theta=theta)
    return r.reshape(-1, r.shape[-1]).mean(0)
