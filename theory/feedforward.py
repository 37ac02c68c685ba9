"""Inverse maps for feed-forward layers: target (mu_u, sigma_u or xi) -> weight parameters.

Normal weights W ~ N(mu_W, sigma_W^2), n = fan_in Poisson inputs at rate nu (eqs. 4-9):

    mu_W      = mu_U / (n nu epsilon_bar)                              (eq. 6)
    sigma_W^2 = sigma_U^2 / (n nu epsilon_hat) - mu_W^2                 (eq. 7)
    sigma_U   = (theta - mu_U) / xi                                     (eq. 8)
    centered (mu_U = 0): sigma_W^2 = sigma_U^2 / (n nu epsilon_hat)      (eq. 9)

Note: the paper's table 8 prints mu_W = mu_U / (n nu epsilon_hat); eq. 6 (epsilon_bar) is
the correct form (see docs/theory.md).

Kaiming (He) normal (eq. 56): W ~ N(0, 2/n).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fluctinit.errors import Integer, Interval, check_all, conflict
from ._finite import finite, finite_results, root_of_difference
from .kernels import KernelIntegrals
from .moments import _kernel, membrane_moments

__all__ = [
    "FeedforwardParams",
    "KaimingParams",
    "feedforward_params",
    "kaiming_params",
    "resolve_target",
]

CONSTRAINTS = {
    "fan_in": Integer(1),
    "nu": Interval(0.0, None, "neither"),
    "sigma_u": Interval(0.0, None, "neither"),
    "mu_u": Interval(),
    "xi": Interval(0.0, None, "neither"),
    "theta": Interval(),
    "gain": Interval(0.0, None, "neither"),
}


@finite_results
def resolve_target(
    sigma_u: float | None, mu_u: float, xi: float | None, theta: float, *, balanced: bool = False
) -> tuple[float, float, float, float]:
    """Check a membrane target and return (sigma_u, mu_u, xi, theta) with xi = (theta-mu_u)/sigma_u.

    Exactly one of ``sigma_u`` and ``xi`` may be given; with neither, sigma_u = 1 (the paper's
    recommendation).  mu_u must lie below theta, and be 0 when ``balanced`` (Dale's law,
    which balances excitation and inhibition).  Needs no network: callers check a target
    before any data are read.
    """
    v = check_all(CONSTRAINTS, sigma_u=sigma_u, mu_u=mu_u, xi=xi, theta=theta)
    sigma_u, mu_u, xi, theta = v["sigma_u"], v["mu_u"], v["xi"], v["theta"]
    if balanced and mu_u != 0.0:
        raise conflict(
            "Dale's-law initialization balances excitation and inhibition, so the target mean "
            "must be mu_u = 0 (set the distance to threshold with sigma_u or xi instead)",
            mu_u=mu_u,
        )
    if not mu_u < theta:
        raise conflict(
            "the mean membrane potential must lie below the threshold (mu_u < theta) for the "
            "fluctuation-driven regime; lower mu_u or raise theta",
            mu_u=mu_u,
            theta=theta,
        )
    if sigma_u is not None and xi is not None:
        raise conflict(
            "give either sigma_u or xi = (theta - mu_u)/sigma_u, not both",
            sigma_u=sigma_u,
            xi=xi,
        )
    if xi is not None:
        sigma_u = finite("sigma_u = (theta - mu_u)/xi", (theta - mu_u) / xi, positive=True)
    elif sigma_u is None:
        sigma_u = 1.0
    return sigma_u, mu_u, finite("xi = (theta - mu_u)/sigma_u", (theta - mu_u) / sigma_u, positive=True), theta


@dataclass(frozen=True)
class FeedforwardParams:
    """Normal weight parameters W ~ N(mu_w, sigma_w^2) for a feed-forward layer, with the
    target they were computed for."""

    mu_w: float
    sigma_w: float
    mu_u: float
    sigma_u: float
    xi: float
    theta: float
    fan_in: int
    nu: float
    kernel: KernelIntegrals

    @finite_results
    def predicted_moments(self) -> tuple[float, float]:
        """(mu_u, sigma_u) that these weights produce, by the forward map (eqs. 4-5)."""
        return membrane_moments(self.fan_in, self.nu, self.mu_w, self.sigma_w, self.kernel)

    def as_dict(self) -> dict:
        return {
            **self.kernel.as_dict(),
            "mu_w": self.mu_w,
            "sigma_w": self.sigma_w,
            "xi": self.xi,
            "mu_u": self.mu_u,
            "sigma_u": self.sigma_u,
            "theta": self.theta,
            "fan_in": self.fan_in,
            "nu": self.nu,
        }


@finite_results
def feedforward_params(
    fan_in: int,
    nu: float,
    *,
    sigma_u: float | None = None,
    mu_u: float = 0.0,
    xi: float | None = None,
    theta: float = 1.0,
    kernel: KernelIntegrals | None = None,
) -> FeedforwardParams:
    """Normal weight parameters that put a feed-forward LIF layer at a membrane target.

    mu_W = mu_U / (n nu epsilon_bar) (eq. 6); sigma_W^2 = sigma_U^2/(n nu epsilon_hat) - mu_W^2
    (eq. 7), sigma_U = (theta - mu_U)/xi (eq. 8).  With mu_u = 0 this is the centered eq. 9.

    Args:
        fan_in: number of afferents n (>= 1); for convolutions in_channels * prod(kernel_size).
        nu: presynaptic rate (Hz, > 0).
        sigma_u: target membrane standard deviation (threshold units, > 0).  Default 1.
        mu_u: target membrane mean (< theta); default 0 (centered weights).
        xi: alternative to sigma_u: distance of the mean from threshold in standard deviations
            (> 0); the paper's good regime is 1 <= xi <= 3.
        theta: firing threshold (default 1).
        kernel: kernel integrals; default the paper's (20 ms, 10 ms, dt 2 ms, discrete).

    Returns:
        :class:`FeedforwardParams`.

    Raises:
        ParameterError: a parameter out of range, both sigma_u and xi given, mu_u >= theta, or
            a target that implies sigma_W^2 < 0 (the mean alone already produces more variance
            than the target).

    Example:
        >>> p = feedforward_params(700, 15.8, sigma_u=1.0)   # the paper's SHD layer
        >>> round(p.sigma_w, 3)
        0.211
    """
    v = check_all(CONSTRAINTS, fan_in=fan_in, nu=nu)
    n, nu = v["fan_in"], v["nu"]
    k = _kernel(kernel)
    sigma_u, mu_u, xi, theta = resolve_target(sigma_u, mu_u, xi, theta)
    mu_w = finite("mu_w", mu_u / finite("n nu epsilon_bar", n * nu * k.epsilon_bar, positive=True))
    # sigma_w**2 = a**2 - mu_w**2 with a = sigma_u / sqrt(n nu epsilon_hat) (eq. 7), never squared
    a = finite("sigma_u / sqrt(n nu epsilon_hat)",
               sigma_u / math.sqrt(finite("n nu epsilon_hat", n * nu * k.epsilon_hat, positive=True)))
    if a < abs(mu_w):
        var_w = (a - abs(mu_w)) * (a + abs(mu_w))
        max_abs_mu = sigma_u * k.epsilon_bar * math.sqrt(n * nu / k.epsilon_hat)
        raise conflict(
            f"imply sigma_w**2 = {var_w:.6g} < 0: a mean of mu_u alone already produces a "
            f"variance above sigma_u**2; need |mu_u| <= {max_abs_mu:.6g} for this sigma_u "
            "(raise sigma_u / lower xi, or lower |mu_u|)",
            mu_u=mu_u,
            sigma_u=sigma_u,
            fan_in=n,
            nu=nu,
        )
    return FeedforwardParams(mu_w, finite("sigma_w", root_of_difference(a, mu_w)), mu_u, sigma_u, xi, theta, n, nu, k)


@dataclass(frozen=True)
class KaimingParams:
    """Kaiming (He) normal weights W ~ N(0, sigma_w^2), sigma_w = gain / sqrt(fan_in)."""

    sigma_w: float
    fan_in: int
    gain: float

    def as_dict(self) -> dict:
        return {"sigma_w": self.sigma_w, "mu_w": 0.0, "fan_in": self.fan_in, "gain": self.gain}


@finite_results
def kaiming_params(fan_in: int, gain: float = math.sqrt(2.0)) -> KaimingParams:
    """Kaiming (He) normal initialization, the paper's baseline (eq. 56): sigma_W^2 = 2/n.

    Args:
        fan_in: number of afferents n (>= 1).
        gain: the ReLU gain sqrt(2) by default; sigma_W = gain/sqrt(n).
    """
    v = check_all(CONSTRAINTS, fan_in=fan_in, gain=gain)
    return KaimingParams(v["gain"] / math.sqrt(v["fan_in"]), v["fan_in"], v["gain"])
