"""Optimizers for surrogate-gradient training: SMORMS3 (paper eqs. 30-33), Adam and SGD.

SMORMS3 ("squared mean over root mean squared, cubed"; S. Funk 2015, the paper's ref. [25])
keeps per parameter a running mean ``g1`` of the gradient, a running mean ``g2`` of its
square and a memory length ``m``, and scales each step by ``min(eta, g1^2/g2)``: the step is
large where the gradient sign is consistent and small where it fluctuates.
"""

from __future__ import annotations

from typing import Iterable

import torch

from fluctinit.errors import Interval, OneOf, ParameterError, check

__all__ = ["SMORMS3", "make_optimizer", "OPTIMIZERS", "CONSTRAINTS"]

OPTIMIZERS = ("smorms3", "adam", "sgd")

CONSTRAINTS = {
    "lr": Interval(0.0, None, "neither"),
    "eps": Interval(0.0, None, "neither"),
    "optimizer": OneOf(OPTIMIZERS),
    "momentum": Interval(0.0, 1.0, "left"),
}


class SMORMS3(torch.optim.Optimizer):
    """SMORMS3 exactly as the paper's eqs. 30-33.

    For each parameter theta with gradient ``d = dL/dtheta`` (state ``g1 = g2 = 0``, ``m = 1``
    before the first step), one step does, elementwise:

    .. math::

        r &= 1/(m + 1) \\\\
        g_1 &:= (1 - r) g_1 + r d                                    && (30) \\\\
        g_2 &:= (1 - r) g_2 + r d^2                                  && (31) \\\\
        m &:= 1 + m \\,(1 - g_1^2/(g_2 + \\epsilon))                  && (32) \\\\
        \\Delta\\theta &= -d \\, \\min(\\eta, g_1^2/(g_2+\\epsilon)) / (\\sqrt{g_2} + \\epsilon)  && (33)

    with ``r`` computed from ``m`` *before* its update (eq. 32 uses the new ``g1``, ``g2``), and
    ``epsilon = 1e-16``.  Units: ``Delta theta`` has the units of ``theta`` when ``eta`` is
    dimensionless, since ``d / sqrt(g2)`` is.

    Args:
        params: iterable of parameters or parameter groups.
        lr: base learning rate ``eta`` (> 0).
        eps: ``epsilon`` (> 0), the paper's 1e-16.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, eps: float = 1e-16):
        lr = check("lr", lr, CONSTRAINTS["lr"])
        eps = check("eps", eps, CONSTRAINTS["eps"])
        super().__init__(params, {"lr": lr, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        """Apply one update (eqs. 30-33) to every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, eps = group["lr"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad
                if d.is_sparse:
                    raise ParameterError(
                        "`grad` must be dense for SMORMS3; got a sparse gradient",
                        ["grad"],
                        ["sparse"],
                    )
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["g1"] = torch.zeros_like(p)
                    state["g2"] = torch.zeros_like(p)
                    state["m"] = torch.ones_like(p)
                g1, g2, m = state["g1"], state["g2"], state["m"]
                r = 1.0 / (m + 1.0)
                g1.mul_(1.0 - r).add_(r * d)  # eq. 30
                g2.mul_(1.0 - r).add_(r * d * d)  # eq. 31
                ratio = g1 * g1 / (g2 + eps)
                m.copy_(1.0 + m * (1.0 - ratio))  # eq. 32
                step = d * torch.clamp(ratio, max=lr) / (g2.sqrt() + eps)  # eq. 33
                p.sub_(step)
                state["step"] += 1
        return loss


def make_optimizer(name: str, params, lr: float, **kwargs) -> torch.optim.Optimizer:
    """Build an optimizer by name: ``"smorms3"`` (:class:`SMORMS3`), ``"adam"``
    (``torch.optim.Adam``) or ``"sgd"`` (plain ``torch.optim.SGD``, no momentum unless given).

    Args:
        name: one of :data:`OPTIMIZERS`.
        params: parameters or parameter groups.
        lr: learning rate (> 0).
        **kwargs: passed on (e.g. ``eps``, ``betas``, ``momentum``).

    Raises:
        ParameterError: unknown name or a non-positive learning rate.
    """
    name = check("optimizer", name, CONSTRAINTS["optimizer"])
    lr = check("lr", lr, CONSTRAINTS["lr"])
    if name == "smorms3":
        return SMORMS3(params, lr=lr, **kwargs)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, **kwargs)
    if "momentum" in kwargs:
        check("momentum", kwargs["momentum"], CONSTRAINTS["momentum"])
    return torch.optim.SGD(params, lr=lr, **kwargs)
