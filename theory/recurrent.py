"""Inverse map for recurrent layers with normal weights (paper eqs. 34-39).

A neuron receives n_F feed-forward inputs at rate nu_F through W ~ N(mu_WV, sigma_W^2) and
n_R recurrent inputs at rate nu_R through V ~ N(mu_WV, sigma_V^2).  The moment equations
(eqs. 35-36) are

    mu_U      = n_F mu_W nu_F epsilon_bar + n_R mu_V nu_R epsilon_bar
    sigma_U^2 = n_F (sigma_W^2 + mu_W^2) nu_F epsilon_hat + n_R (sigma_V^2 + mu_V^2) nu_R epsilon_hat

With a common mean mu_W = mu_V = mu_WV and the feed-forward share alpha of the variance
(eq. 34) they give

    mu_WV     = mu_U / ((n_F nu_F + n_R nu_R) epsilon_bar)              (eq. 37)
    sigma_W^2 = alpha     sigma_U^2 / (n_F nu_F epsilon_hat) - mu_WV^2   (eq. 38)
    sigma_V^2 = (1-alpha) sigma_U^2 / (n_R nu_R epsilon_hat) - mu_WV^2   (eq. 39)

(the paper sets nu_F = nu_R = nu_dataset).  Beyond the paper, the recurrent inputs may have their
own kernel integrals (``kernel_rec``, e.g. data-calibrated ones of the layer's own spikes,
:func:`fluctinit.training.calibrated_kernels_`): then ``epsilon_bar`` and ``epsilon_hat`` of the
n_R terms above are the recurrent kernel's, and eq. 37's denominator is
``n_F nu_F epsilon_bar_F + n_R nu_R epsilon_bar_R``.  Table 8 misprints these: its denominators read
n_F n_R nu epsilon_hat (a product of both fan-ins) and its mu_WV has epsilon_hat in place of
epsilon_bar; eqs. 37-39 in the text are right (see docs/theory.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fluctinit.errors import Integer, Interval, check_all, conflict
from ._finite import finite, finite_results, root_of_difference
from .feedforward import resolve_target
from .kernels import KernelIntegrals
from .moments import Population, _kernel, population_moments

__all__ = ["RecurrentParams", "recurrent_params"]

CONSTRAINTS = {
    "fan_in": Integer(1),
    "fan_in_rec": Integer(1),
    "nu": Interval(0.0, None, "neither"),
    "nu_rec": Interval(0.0, None, "neither"),
    "alpha": Interval(0.0, 1.0, "neither"),
}


@dataclass(frozen=True)
class RecurrentParams:
    """W ~ N(mu_w, sigma_w^2) (feed-forward) and V ~ N(mu_w, sigma_v^2) (recurrent)."""

    mu_w: float
    sigma_w: float
    sigma_v: float
    alpha: float
    mu_u: float
    sigma_u: float
    xi: float
    theta: float
    fan_in: int
    fan_in_rec: int
    nu: float
    nu_rec: float
    kernel: KernelIntegrals
    kernel_rec: KernelIntegrals | None = None

    @property
    def recurrent_kernel(self) -> KernelIntegrals:
        """The recurrent inputs' kernel integrals (``kernel`` unless ``kernel_rec`` was given)."""
        return self.kernel if self.kernel_rec is None else self.kernel_rec

    @property
    def mu_v(self) -> float:
        """The recurrent mean, equal to the feed-forward mean (eq. 37)."""
        return self.mu_w

    @finite_results
    def predicted_moments(self) -> tuple[float, float, float]:
        """(mu_u, sigma_u, alpha) these weights produce, by the forward map (eqs. 34-36)."""
        ff = Population(self.fan_in, self.nu, self.mu_w, self.sigma_w**2 + self.mu_w**2, self.kernel)
        rec = Population(self.fan_in_rec, self.nu_rec, self.mu_w, self.sigma_v**2 + self.mu_w**2, self.recurrent_kernel)
        mu, sigma = population_moments([ff, rec])
        _, sigma_ff = population_moments([ff])
        return mu, sigma, sigma_ff**2 / sigma**2

    def as_dict(self) -> dict:
        return {
            **self.kernel.as_dict(),
            "mu_w": self.mu_w,
            "sigma_w": self.sigma_w,
            "mu_v": self.mu_v,
            "sigma_v": self.sigma_v,
            "xi": self.xi,
            "alpha": self.alpha,
            "mu_u": self.mu_u,
            "sigma_u": self.sigma_u,
            "theta": self.theta,
            "fan_in": self.fan_in,
            "fan_in_rec": self.fan_in_rec,
            "nu": self.nu,
            "nu_rec": self.nu_rec,
            **({} if self.kernel_rec is None else {f"{k}_rec": v for k, v in self.kernel_rec.as_dict().items()}),
        }


@finite_results
def recurrent_params(
    fan_in: int,
    fan_in_rec: int,
    nu: float,
    *,
    alpha: float = 0.9,
    sigma_u: float | None = None,
    mu_u: float = 0.0,
    xi: float | None = None,
    theta: float = 1.0,
    nu_rec: float | None = None,
    kernel: KernelIntegrals | None = None,
    kernel_rec: KernelIntegrals | None = None,
) -> RecurrentParams:
    """Normal weights for a recurrent LIF layer at a membrane target (eqs. 34-39).

    Args:
        fan_in: feed-forward afferents n_F (>= 1).
        fan_in_rec: recurrent afferents n_R (>= 1), e.g. the layer width.
        nu: feed-forward input rate nu_F (Hz, > 0).
        alpha: feed-forward share of sigma_U^2 (0 < alpha < 1); the paper uses 0.9.
        sigma_u, mu_u, xi, theta: the membrane target, as in :func:`feedforward_params`.
        nu_rec: rate of the recurrent afferents nu_R (Hz); default ``nu`` (the paper's
            assumption that the hidden layer fires at the input rate).
        kernel: kernel integrals; default the paper's.
        kernel_rec: the recurrent inputs' own kernel integrals; default ``kernel``'s (the
            paper: one kernel for every input).

    Returns:
        :class:`RecurrentParams` with the shared mean mu_w and sigma_w, sigma_v.

    Raises:
        ParameterError: a parameter out of range, or a target that implies sigma_W^2 < 0 or
            sigma_V^2 < 0 (the common mean alone exceeds that share of the variance).
    """
    v = check_all(CONSTRAINTS, fan_in=fan_in, fan_in_rec=fan_in_rec, nu=nu, nu_rec=nu_rec, alpha=alpha)
    n_f, n_r, nu_f, alpha = v["fan_in"], v["fan_in_rec"], v["nu"], v["alpha"]
    nu_r = nu_f if v["nu_rec"] is None else v["nu_rec"]
    k = _kernel(kernel)
    k_r = k if kernel_rec is None else _kernel(kernel_rec)
    sigma_u, mu_u, xi, theta = resolve_target(sigma_u, mu_u, xi, theta)
    mu_wv = finite("mu_w", mu_u / finite("n_F nu_F epsilon_bar + n_R nu_R epsilon_bar_rec",
                                         n_f * nu_f * k.epsilon_bar + n_r * nu_r * k_r.epsilon_bar, positive=True))
    b_f = finite("n_F nu_F epsilon_hat", n_f * nu_f * k.epsilon_hat, positive=True)
    b_r = finite("n_R nu_R epsilon_hat", n_r * nu_r * k_r.epsilon_hat, positive=True)
    # sigma_w**2 = a_w**2 - mu_wv**2, sigma_v**2 = a_v**2 - mu_wv**2 (eqs. 38-39), never squared
    a_w = finite("sigma_u sqrt(alpha / (n_F nu_F epsilon_hat))", sigma_u * math.sqrt(alpha / b_f))
    a_v = finite("sigma_u sqrt((1 - alpha) / (n_R nu_R epsilon_hat))", sigma_u * math.sqrt((1.0 - alpha) / b_r))
    m = abs(mu_wv)
    for which, a in (("sigma_w**2", a_w), ("sigma_v**2", a_v)):
        if a < m:
            var = (a - m) * (a + m)
            raise conflict(
                f"imply {which} = {var:.6g} < 0: the common mean mu_wv = {mu_wv:.6g} alone "
                "produces more than that share of the target variance; lower |mu_u|, raise "
                "sigma_u (lower xi), or move alpha away from the bound",
                mu_u=mu_u,
                sigma_u=sigma_u,
                alpha=alpha,
                fan_in=n_f,
                fan_in_rec=n_r,
            )
    return RecurrentParams(
        mu_wv, finite("sigma_w", root_of_difference(a_w, mu_wv)), finite("sigma_v", root_of_difference(a_v, mu_wv)),
        alpha, mu_u, sigma_u, xi, theta,
        n_f, n_r, nu_f, nu_r, k, None if kernel_rec is None else k_r,
    )
