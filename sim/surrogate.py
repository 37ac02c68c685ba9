"""Spike non-linearity with a surrogate derivative (paper eqs. 26-29).

The forward pass is the Heaviside step ``S = Theta(U - theta)`` (with
``Theta(0) = 0``: a neuron spikes when ``U > theta``); the backward pass
replaces the Dirac delta ``Theta'`` by the SuperSpike surrogate (eq. 28)

    h(x) = 1 / (beta * |x| + 1)**2,        x = U - theta,  beta = 20,

or by its rescaled variant (eq. 29)

    h~(x) = h(x) / h(-theta),

whose value at rest (``U = 0``, i.e. ``x = -theta``) is exactly 1, so that
gradients do not shrink while passing silent layers.  ``U`` and ``theta`` are
in threshold units (dimensionless).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fluctinit.errors import Interval, check

__all__ = ["superspike", "SuperSpikeFunction", "SuperSpike", "spike", "SUPERSPIKE_CONSTRAINTS"]

SUPERSPIKE_CONSTRAINTS = {"beta": Interval(0.0, None), "theta": Interval(0.0, None)}


def superspike(x: torch.Tensor, beta: float = 20.0) -> torch.Tensor:
    """SuperSpike surrogate derivative, eq. 28: ``h(x) = 1 / (beta*|x| + 1)**2``.

    Args:
        x: distance to threshold ``U - theta`` (threshold units), any shape.
        beta: steepness (per threshold unit), > 0; the paper uses 20.

    Returns:
        ``h(x)``, same shape, dtype and device as ``x``; ``h(0) = 1``.

    Raises:
        ParameterError: ``beta`` not a finite number > 0.
    """
    beta = check("beta", beta, SUPERSPIKE_CONSTRAINTS["beta"])
    return 1.0 / (beta * x.abs() + 1.0) ** 2


class SuperSpikeFunction(torch.autograd.Function):
    """Heaviside forward, (scaled) SuperSpike backward.

    ``SuperSpikeFunction.apply(x, beta, scale)`` returns ``(x > 0)`` in the
    dtype of ``x``; its derivative with respect to ``x`` is
    ``h(x) / scale`` with ``h`` from eq. 28.  ``scale = 1`` gives eq. 28,
    ``scale = h(-theta)`` gives the rescaled eq. 29.  No argument checking
    here (hot path): use :func:`spike` or :class:`SuperSpike`.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, beta: float, scale: float) -> torch.Tensor:  # noqa: D102
        ctx.save_for_backward(x)
        ctx.beta = beta
        ctx.scale = scale
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):  # noqa: D102
        (x,) = ctx.saved_tensors
        grad = grad_output / (ctx.scale * (ctx.beta * x.abs() + 1.0) ** 2)
        return grad, None, None


@dataclass(frozen=True)
class SuperSpike:
    """The spike non-linearity used by every layer: Heaviside + SuperSpike surrogate.

    Attributes:
        beta: surrogate steepness, > 0 (eq. 28; paper: 20).
        rescaled: if True use eq. 29, ``h(U - theta) / h(-theta)`` (derivative 1 at rest).

    Calling ``surrogate(u, theta)`` returns ``Theta(u - theta)`` (same shape
    and dtype as ``u``) with the surrogate derivative in the backward pass.
    """

    beta: float = 20.0
    rescaled: bool = False

    def __post_init__(self) -> None:
        check("beta", self.beta, SUPERSPIKE_CONSTRAINTS["beta"])

    def scale(self, theta: float) -> float:
        """Divisor of the surrogate: ``h(-theta)`` if rescaled (eq. 29), else 1."""
        if not self.rescaled:
            return 1.0
        return 1.0 / (self.beta * abs(theta) + 1.0) ** 2

    def derivative(self, u: torch.Tensor, theta: float = 1.0) -> torch.Tensor:
        """The surrogate derivative ``dS/dU`` itself (eq. 28 or 29), same shape as ``u``."""
        return superspike(u - theta, self.beta) / self.scale(theta)

    def __call__(self, u: torch.Tensor, theta: float = 1.0) -> torch.Tensor:
        return SuperSpikeFunction.apply(u - theta, self.beta, self.scale(theta))


def spike(u: torch.Tensor, theta: float = 1.0, *, beta: float = 20.0, rescaled: bool = False) -> torch.Tensor:
    """Spikes ``S = Theta(u - theta)`` with the SuperSpike surrogate derivative.

    Args:
        u: membrane potential (threshold units), any shape.
        theta: firing threshold, > 0 (default 1.0).
        beta: surrogate steepness, > 0 (eq. 28; default 20).
        rescaled: use the rescaled surrogate of eq. 29 (derivative 1 at ``u = 0``).

    Returns:
        Binary tensor (0./1.) like ``u``; ``dS/du = h(u - theta) [/ h(-theta)]``.

    Raises:
        ParameterError: ``theta`` or ``beta`` out of range.
    """
    theta = check("theta", theta, SUPERSPIKE_CONSTRAINTS["theta"])
    return SuperSpike(beta=beta, rescaled=rescaled)(u, theta)
