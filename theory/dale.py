"""Inverse maps for layers obeying Dale's law (paper eqs. 40-55; log-normal: our derivation).

A neuron receives non-negative weights from up to three populations: feed-forward excitatory
F (n_F = ``n_exc`` afferents, rate nu_F, excitatory kernel), recurrent excitatory R
(``n_exc_rec``, optional) and recurrent inhibitory I (``n_inh``, rate nu_I, inhibitory kernel,
entering with a minus sign).  Weights of population X are drawn i.i.d. with mean m_X and
second moment kappa * m_X^2, where kappa depends only on the distribution's shape:

    exponential with rate lambda (mean 1/lambda, E[w^2] = 2/lambda^2):   kappa = 2
    log-normal, ln w ~ N(mu_log, sigma_log^2) (mean e^{mu_log + sigma_log^2/2}):
                                                                          kappa = e^{sigma_log^2}

With A_X = n_X nu_X epsilon_bar_X and B_X = n_X nu_X epsilon_hat_X the moment equations
(eqs. 40-41, 48-49) read

    mu_U      = A_F m_F + A_R m_R - A_I m_I
    sigma_U^2 = kappa (B_F m_F^2 + B_R m_R^2 + B_I m_I^2)

and alpha = B_F m_F^2 / (B_F m_F^2 + B_R m_R^2) is the feed-forward share of the
excitatory variance (eq. 50).  Balance (mu_U = 0) and the target sigma_U give

    m_R = m_F sqrt((1 - alpha) B_F / (alpha B_R))                        (eq. 51)
    m_I = (A_F m_F + A_R m_R) / A_I                                      (eqs. 44, 53)
    m_F = sigma_U / sqrt(kappa (B_F + B_R (m_R/m_F)^2 + B_I (m_I/m_F)^2))  (eqs. 47, 55)

For exponential weights (lambda_X = 1/m_X) and equal rates this is the paper's
lambda_I = Delta_EI lambda_E, lambda_E = sqrt(2 (Delta_EI^2 n_E nu epsilon_hat_E + n_I nu
epsilon_hat_I)) / (sigma_U Delta_EI) (eqs. 44-47), and with excitatory recurrence eqs.
51, 53 and 55 -- except that eq. 55 (and table 9) print Delta_EI^R N_F where the derivation
gives (Delta_EI^R)^2 N_F (see docs/theory.md).

The paper's supplementary S3 (log-normal weights) is not available; the parameterization
here is ours: a shape sigma_log shared by all populations (default 1), and one location
mu_log per population chosen so that the mean weights are the m_X above.  Dale's-law layers
are balanced by construction: a target mu_U != 0 is rejected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fluctinit.errors import Integer, Interval, OneOf, check_all, conflict
from ._finite import exp, finite, finite_results, square
from .feedforward import resolve_target
from .kernels import KernelIntegrals, kernel_integrals
from .moments import Population, _kernel, population_moments

__all__ = [
    "DaleExponentialParams",
    "DaleLognormalParams",
    "dale_params",
    "DEFAULT_TAU_SYN_EXC",
    "DEFAULT_TAU_SYN_INH",
]

DEFAULT_TAU_SYN_EXC = 10e-3  # paper table 3
DEFAULT_TAU_SYN_INH = 20e-3  # paper table 3 (table 7's inhibitory values imply otherwise; see docs)

CONSTRAINTS = {
    "n_exc": Integer(1),
    "n_inh": Integer(1),
    "n_exc_rec": Integer(1),
    "nu_exc": Interval(0.0, None, "neither"),
    "nu_inh": Interval(0.0, None, "neither"),
    "nu_exc_rec": Interval(0.0, None, "neither"),
    "alpha": Interval(0.0, 1.0, "neither"),
    "sigma_log": Interval(0.0, None, "neither"),
    "dist": OneOf(("exponential", "lognormal")),
}


@dataclass(frozen=True)
class _DaleBase:
    """Fields shared by both distributions: the network, the target and the mean weights."""

    mean_exc: float
    mean_inh: float
    mean_exc_rec: float | None
    n_exc: int
    n_inh: int
    n_exc_rec: int | None
    nu_exc: float
    nu_inh: float
    nu_exc_rec: float | None
    alpha: float | None
    sigma_u: float
    theta: float
    kernel_exc: KernelIntegrals
    kernel_inh: KernelIntegrals

    @property
    def mu_u(self) -> float:
        return 0.0

    @property
    def xi(self) -> float:
        return self.theta / self.sigma_u

    def _second_moments(self) -> tuple[float, float, float | None]:  # pragma: no cover - abstract
        raise NotImplementedError

    @finite_results
    def predicted_moments(self) -> tuple[float, float]:
        """(mu_u, sigma_u) these weight distributions produce, by the forward map (eqs. 40-43, 48-49).

        The second moments come from the distribution's own parameters (2/lambda^2 for the
        exponential, exp(2 mu_log + 2 sigma_log^2) for the log-normal), independently of the
        inverse map's algebra.
        """
        s_exc, s_inh, s_rec = self._second_moments()
        pops = [
            Population(self.n_exc, self.nu_exc, self.mean_exc, s_exc, self.kernel_exc, +1),
            Population(self.n_inh, self.nu_inh, self.mean_inh, s_inh, self.kernel_inh, -1),
        ]
        if self.n_exc_rec is not None:
            pops.append(Population(self.n_exc_rec, self.nu_exc_rec, self.mean_exc_rec, s_rec, self.kernel_exc, +1))
        return population_moments(pops)

    def _common_dict(self) -> dict:
        d = {
            "epsilon_bar_exc": self.kernel_exc.epsilon_bar,
            "epsilon_hat_exc": self.kernel_exc.epsilon_hat,
            "epsilon_bar_inh": self.kernel_inh.epsilon_bar,
            "epsilon_hat_inh": self.kernel_inh.epsilon_hat,
            "mean_exc": self.mean_exc,
            "mean_inh": self.mean_inh,
            "mu_u": 0.0,
            "sigma_u": self.sigma_u,
            "xi": self.xi,
            "theta": self.theta,
            "n_exc": self.n_exc,
            "n_inh": self.n_inh,
            "nu_exc": self.nu_exc,
            "nu_inh": self.nu_inh,
        }
        if self.n_exc_rec is not None:
            d.update(
                mean_exc_rec=self.mean_exc_rec,
                n_exc_rec=self.n_exc_rec,
                nu_exc_rec=self.nu_exc_rec,
                alpha=self.alpha,
            )
        return d


@dataclass(frozen=True)
class DaleExponentialParams(_DaleBase):
    """Exponential weights w ~ Exp(rate): mean 1/rate, variance 1/rate^2 (eqs. 42-55)."""

    @property
    def rate_exc(self) -> float:
        """lambda_E (feed-forward excitatory; lambda_F with recurrence), 1/threshold units."""
        return 1.0 / self.mean_exc

    @property
    def rate_inh(self) -> float:
        """lambda_I (recurrent inhibitory)."""
        return 1.0 / self.mean_inh

    @property
    def rate_exc_rec(self) -> float | None:
        """lambda_R (recurrent excitatory) or None without excitatory recurrence."""
        return None if self.mean_exc_rec is None else 1.0 / self.mean_exc_rec

    def _second_moments(self):
        def second(rate):  # E[w^2] = 2/rate^2, as (sqrt(2)/rate)^2: no overflow for huge rates
            return None if rate is None else (math.sqrt(2.0) / rate) ** 2

        return second(self.rate_exc), second(self.rate_inh), second(self.rate_exc_rec)

    def as_dict(self) -> dict:
        d = {"dist": "exponential", "rate_exc": self.rate_exc, "rate_inh": self.rate_inh}
        if self.rate_exc_rec is not None:
            d["rate_exc_rec"] = self.rate_exc_rec
        return {**d, **self._common_dict()}


@dataclass(frozen=True)
class DaleLognormalParams(_DaleBase):
    """Log-normal weights: ln w ~ N(mu_log, sigma_log^2), sigma_log shared by all populations."""

    sigma_log: float = 1.0

    def _mu_log(self, mean: float | None) -> float | None:
        return None if mean is None else math.log(mean) - 0.5 * self.sigma_log**2

    @property
    def mu_log_exc(self) -> float:
        return self._mu_log(self.mean_exc)

    @property
    def mu_log_inh(self) -> float:
        return self._mu_log(self.mean_inh)

    @property
    def mu_log_exc_rec(self) -> float | None:
        return self._mu_log(self.mean_exc_rec)

    def _second_moments(self):
        def second(mu_log):
            return None if mu_log is None else math.exp(2.0 * mu_log + 2.0 * self.sigma_log**2)

        return second(self.mu_log_exc), second(self.mu_log_inh), second(self.mu_log_exc_rec)

    def as_dict(self) -> dict:
        d = {
            "dist": "lognormal",
            "mu_log_exc": self.mu_log_exc,
            "mu_log_inh": self.mu_log_inh,
            "sigma_log": self.sigma_log,
        }
        if self.mu_log_exc_rec is not None:
            d["mu_log_exc_rec"] = self.mu_log_exc_rec
        return {**d, **self._common_dict()}


@finite_results
def dale_params(
    n_exc: int,
    n_inh: int,
    nu_exc: float,
    nu_inh: float | None = None,
    *,
    sigma_u: float | None = None,
    mu_u: float = 0.0,
    xi: float | None = None,
    theta: float = 1.0,
    n_exc_rec: int | None = None,
    alpha: float | None = None,
    nu_exc_rec: float | None = None,
    kernel_exc: KernelIntegrals | None = None,
    kernel_inh: KernelIntegrals | None = None,
    dist: str = "exponential",
    sigma_log: float = 1.0,
) -> DaleExponentialParams | DaleLognormalParams:
    """Weight distributions for a Dale's-law layer balanced at mu_u = 0 with target sigma_u.

    Without ``n_exc_rec``: eqs. 42-47 (feed-forward excitation, recurrent inhibition).  With it:
    eqs. 48-55 (plus recurrent excitation, alpha = feed-forward share of the excitatory variance).

    Args:
        n_exc: excitatory (feed-forward) afferents n_E / N_F (>= 1).
        n_inh: inhibitory afferents n_I (>= 1), e.g. the layer's inhibitory population size.
        nu_exc: rate of the excitatory afferents (Hz, > 0).
        nu_inh: rate of the inhibitory afferents (Hz); default ``nu_exc`` (the paper's choice).
        sigma_u, xi, theta: the target (one of sigma_u, xi; default sigma_u = 1).
        mu_u: must be 0: Dale's-law initialization balances excitation and inhibition.
        n_exc_rec: recurrent excitatory afferents N_R (>= 1), or None for no excitatory recurrence.
        alpha: feed-forward share of the excitatory variance (0 < alpha < 1; default 0.9); only
            with ``n_exc_rec``.
        nu_exc_rec: rate of the recurrent excitatory afferents; default ``nu_exc``.
        kernel_exc, kernel_inh: kernel integrals of excitatory and inhibitory synapses (they
            differ through tau_syn); default tau_mem 20 ms with tau_syn 10 ms / 20 ms (table 3),
            dt 2 ms, discrete.
        dist: ``"exponential"`` (the paper's default) or ``"lognormal"``.
        sigma_log: log-normal shape (std of ln w), shared by all populations; only for lognormal.

    Returns:
        :class:`DaleExponentialParams` (``rate_exc``, ``rate_inh``, ``rate_exc_rec``) or
        :class:`DaleLognormalParams` (``mu_log_exc``, ``mu_log_inh``, ``mu_log_exc_rec``,
        ``sigma_log``); both also carry the mean weights ``mean_*``.

    Raises:
        ParameterError: a parameter out of range, mu_u != 0, alpha or nu_exc_rec without
            n_exc_rec, or sigma_log with the exponential distribution.
    """
    v = check_all(
        CONSTRAINTS,
        n_exc=n_exc, n_inh=n_inh, n_exc_rec=n_exc_rec, nu_exc=nu_exc, nu_inh=nu_inh,
        nu_exc_rec=nu_exc_rec, alpha=alpha, sigma_log=sigma_log, dist=dist,
    )
    sigma_u, mu_u, xi, theta = resolve_target(sigma_u, mu_u, xi, theta, balanced=True)
    if v["n_exc_rec"] is None and (v["alpha"] is not None or v["nu_exc_rec"] is not None):
        given = {k: v[k] for k in ("alpha", "nu_exc_rec") if v[k] is not None}
        raise conflict("only apply with excitatory recurrence: also give n_exc_rec", n_exc_rec=None, **given)
    if dist == "exponential" and sigma_log != 1.0:
        raise conflict("sigma_log only applies to dist='lognormal'", dist=dist, sigma_log=sigma_log)

    k_exc = _kernel(kernel_exc) if kernel_exc is not None else kernel_integrals(tau_syn=DEFAULT_TAU_SYN_EXC)
    k_inh = _kernel(kernel_inh) if kernel_inh is not None else kernel_integrals(tau_syn=DEFAULT_TAU_SYN_INH)
    n_f, n_i, n_r = v["n_exc"], v["n_inh"], v["n_exc_rec"]
    nu_f = v["nu_exc"]
    nu_i = nu_f if v["nu_inh"] is None else v["nu_inh"]
    nu_r = None if n_r is None else (nu_f if v["nu_exc_rec"] is None else v["nu_exc_rec"])
    alpha = None if n_r is None else (0.9 if v["alpha"] is None else v["alpha"])
    # sqrt(kappa): kappa = 2 (exponential) or exp(sigma_log**2) (log-normal)
    root_kappa = math.sqrt(2.0) if dist == "exponential" else exp("sqrt(kappa)", 0.5 * square("sigma_log**2", v["sigma_log"]))

    def products(label, n, nu, kernel):  # A_X = n_X nu_X epsilon_bar_X, B_X = n_X nu_X epsilon_hat_X
        return (finite(f"A_{label}", n * nu * kernel.epsilon_bar, positive=True),
                finite(f"B_{label}", n * nu * kernel.epsilon_hat, positive=True))

    a_f, b_f = products("F", n_f, nu_f, k_exc)
    a_i, b_i = products("I", n_i, nu_i, k_inh)
    if n_r is None:
        r_rec, a_r, b_r = 0.0, 0.0, 0.0
    else:
        a_r, b_r = products("R", n_r, nu_r, k_exc)
        r_rec = finite("m_R/m_F", math.sqrt((1.0 - alpha) * b_f / (alpha * b_r)))  # m_R / m_F, eq. 51
    r_inh = finite("m_I/m_F", (a_f + a_r * r_rec) / a_i)  # m_I / m_F, eqs. 44 / 53
    # eqs. 47 / 55: m_F = sigma_U / sqrt(kappa (B_F + B_R (m_R/m_F)^2 + B_I (m_I/m_F)^2)), the
    # root of the sum of squares by hypot (no square overflows where the result is in range)
    norm = math.hypot(math.sqrt(b_f), math.sqrt(b_r) * r_rec, math.sqrt(b_i) * r_inh)
    m_f = finite("mean_exc", sigma_u / finite("sqrt(kappa) * norm", root_kappa * norm, positive=True), positive=True)
    finite("mean_inh", m_f * r_inh, positive=True)
    m_r = None if n_r is None else finite("mean_exc_rec", m_f * r_rec, positive=True)
    common = dict(
        mean_exc=m_f, mean_inh=m_f * r_inh, mean_exc_rec=m_r, n_exc=n_f, n_inh=n_i, n_exc_rec=n_r,
        nu_exc=nu_f, nu_inh=nu_i, nu_exc_rec=nu_r, alpha=alpha, sigma_u=sigma_u, theta=theta,
        kernel_exc=k_exc, kernel_inh=k_inh,
    )
    if dist == "exponential":
        return DaleExponentialParams(**common)
    return DaleLognormalParams(**common, sigma_log=v["sigma_log"])
