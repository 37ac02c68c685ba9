"""The forward map: weights and input rates -> membrane mean and standard deviation.

For independent Poisson inputs j with rates nu_j, weights w_j and kernel integrals
(epsilon_bar_j, epsilon_hat_j) (Campbell's theorem; paper eqs. 2-3 and 40-41):

    mu_U      = sum_j w_j   nu_j epsilon_bar_j
    sigma_U^2 = sum_j w_j^2 nu_j epsilon_hat_j

Averaged over weights drawn independently per population p (n_p afferents, rate nu_p,
weight mean E[w_p], second moment E[w_p^2], sign s_p = +1 excitatory / -1 inhibitory):

    mu_U      = sum_p s_p n_p nu_p epsilon_bar_p E[w_p]          (eqs. 4, 35, 42, 48)
    sigma_U^2 = sum_p     n_p nu_p epsilon_hat_p E[w_p^2]        (eqs. 5, 36, 43, 49)

Bernoulli inputs (at most one spike per step, probability nu*dt) have a per-step variance
lower by the factor (1 - nu*dt): see :func:`bernoulli_variance_factor`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from fluctinit.errors import Integer, Interval, check, check_all, conflict
from ._finite import finite_results
from .kernels import KernelIntegrals, kernel_integrals

__all__ = [
    "Population",
    "population_moments",
    "membrane_moments",
    "membrane_moments_from_weights",
    "bernoulli_variance_factor",
]

CONSTRAINTS = {
    "fan_in": Integer(1),
    "nu": Interval(0.0, None, "neither"),
    "mu_w": Interval(),
    "sigma_w": Interval(0.0, None, "left"),
    "mean_w": Interval(),
    "second_moment_w": Interval(0.0, None, "left"),
    "dt": Interval(0.0, None, "neither"),
    "sign": Interval(-1.0, 1.0, "both"),
}


def _kernel(kernel: KernelIntegrals | None) -> KernelIntegrals:
    if kernel is None:
        return kernel_integrals()
    if not isinstance(kernel, KernelIntegrals):
        raise conflict(
            "must be a KernelIntegrals (see fluctinit.theory.kernel_integrals) or None "
            "for the paper's default kernel",
            kernel=kernel,
        )
    return kernel


@dataclass(frozen=True)
class Population:
    """One homogeneous population of independent Poisson afferents.

    Attributes:
        n: number of afferents (>= 1).
        nu: their rate (Hz, > 0).
        mean_w: mean weight E[w] (magnitude for a signed population; see ``sign``).
        second_moment_w: E[w^2] (>= mean_w^2).
        kernel: the kernel integrals of these synapses.
        sign: +1 for excitatory (or signed normal weights), -1 for inhibitory magnitudes.
    """

    n: int
    nu: float
    mean_w: float
    second_moment_w: float
    kernel: KernelIntegrals
    sign: float = 1.0

    def __post_init__(self) -> None:
        check("fan_in", self.n, CONSTRAINTS["fan_in"])
        check("nu", self.nu, CONSTRAINTS["nu"])
        check("mean_w", self.mean_w, CONSTRAINTS["mean_w"])
        check("second_moment_w", self.second_moment_w, CONSTRAINTS["second_moment_w"])
        if self.sign not in (1, -1, 1.0, -1.0):
            raise conflict("must be +1 or -1", sign=self.sign)
        if self.second_moment_w < self.mean_w * self.mean_w * (1 - 1e-12):  # no OverflowError for huge means
            raise conflict(
                "a second moment below the squared mean is impossible (E[w^2] >= E[w]^2)",
                mean_w=self.mean_w,
                second_moment_w=self.second_moment_w,
            )


@finite_results
def population_moments(populations: Sequence[Population]) -> tuple[float, float]:
    """(mu_u, sigma_u) for independent Poisson populations (eqs. 2-5, 35-36, 40-43, 48-49).

    Returns:
        mu_U = sum_p s_p n_p nu_p epsilon_bar_p E[w_p] and
        sigma_U = sqrt(sum_p n_p nu_p epsilon_hat_p E[w_p^2]), in threshold units.
    """
    if len(populations) == 0:
        raise conflict("need at least one population", populations=list(populations))
    mu = 0.0
    var = 0.0
    for p in populations:
        mu += p.sign * p.n * p.nu * p.kernel.epsilon_bar * p.mean_w
        var += p.n * p.nu * p.kernel.epsilon_hat * p.second_moment_w
    return mu, float(np.sqrt(var))


@finite_results
def membrane_moments(
    fan_in: int,
    nu: float,
    mu_w: float,
    sigma_w: float,
    kernel: KernelIntegrals | None = None,
) -> tuple[float, float]:
    """Predicted (mu_u, sigma_u) for n = fan_in inputs with W ~ N(mu_w, sigma_w^2) (eqs. 4-5).

    mu_U = n mu_W nu epsilon_bar,  sigma_U^2 = n (sigma_W^2 + mu_W^2) nu epsilon_hat.

    Args:
        fan_in: number of afferents n (>= 1).
        nu: their common rate (Hz, > 0).
        mu_w, sigma_w: weight mean and standard deviation (sigma_w >= 0).
        kernel: kernel integrals; default the paper's (20 ms, 10 ms, dt 2 ms, discrete).
    """
    v = check_all(CONSTRAINTS, fan_in=fan_in, nu=nu, mu_w=mu_w, sigma_w=sigma_w)
    k = _kernel(kernel)
    pop = Population(v["fan_in"], v["nu"], v["mu_w"], v["sigma_w"] ** 2 + v["mu_w"] ** 2, k)
    return population_moments([pop])


@finite_results
def membrane_moments_from_weights(
    weights,
    rates,
    kernel: KernelIntegrals | Sequence[KernelIntegrals] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron predicted (mu_u, sigma_u) for a concrete weight matrix (eqs. 2-3 with nu_j).

    This is the forward map used to predict the neuron-to-neuron spread of sigma_u that comes
    from drawing a finite number of weights (the paper's supplementary S2).

    Args:
        weights: array (n_post, n_pre) of signed weights (inhibitory inputs negative).
        rates: the presynaptic rates in Hz, a scalar or an array (n_pre,), all > 0.
        kernel: one :class:`KernelIntegrals` for all inputs, or a sequence of n_pre of them
            (e.g. excitatory and inhibitory synapses with different tau_syn); default the paper's.

    Returns:
        (mu_u, sigma_u), float64 arrays of shape (n_post,).
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim != 2 or w.size == 0 or not np.all(np.isfinite(w)):
        raise conflict(
            "must be a non-empty finite 2-D array of shape (n_post, n_pre)",
            weights=f"array of shape {w.shape}",
        )
    n_pre = w.shape[1]
    r = np.broadcast_to(np.asarray(rates, dtype=float), (n_pre,)) if np.ndim(rates) == 0 else np.asarray(rates, dtype=float)
    if r.shape != (n_pre,):
        raise conflict(
            f"must be a scalar or have shape (n_pre,) = ({n_pre},)",
            rates=f"array of shape {r.shape}",
        )
    if not np.all(np.isfinite(r)) or np.any(r <= 0):
        bad = r[~(np.isfinite(r) & (r > 0))][0]
        raise conflict("all rates must be finite numbers > 0 (Hz)", rates=float(bad))
    if kernel is None or isinstance(kernel, KernelIntegrals):
        k = _kernel(kernel)
        eb = np.full(n_pre, k.epsilon_bar)
        eh = np.full(n_pre, k.epsilon_hat)
    else:
        ks = list(kernel)
        if len(ks) != n_pre or not all(isinstance(x, KernelIntegrals) for x in ks):
            raise conflict(
                f"must be a KernelIntegrals or a sequence of n_pre = {n_pre} of them",
                kernel=f"sequence of length {len(ks)}",
            )
        eb = np.array([x.epsilon_bar for x in ks])
        eh = np.array([x.epsilon_hat for x in ks])
    mu = w @ (r * eb)
    sigma = np.sqrt((w * w) @ (r * eh))
    return mu, sigma


@finite_results
def bernoulli_variance_factor(nu: float, dt: float) -> float:
    """Variance factor 1 - nu*dt of Bernoulli-per-step inputs relative to Poisson.

    A binary spike train with P(spike in a step) = nu*dt has per-step variance
    nu*dt*(1 - nu*dt) instead of the Poisson nu*dt, so every sigma_U^2 of eqs. 3, 5, ...
    is multiplied by (1 - nu*dt) (and sigma_U by its square root).  Requires nu*dt <= 1.
    """
    v = check_all(CONSTRAINTS, nu=nu, dt=dt)
    p = v["nu"] * v["dt"]
    if p > 1.0:
        raise conflict("a Bernoulli input needs nu*dt <= 1 (at most one spike per step)", nu=nu, dt=dt)
    return 1.0 - p
