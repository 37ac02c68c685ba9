"""A plain autograd reference for the fused core's tests (test-only: the library's own reference is sim.lif).

It keeps the fused core's signatures (surrogate names, ``reset=False`` with spikes and recurrence,
which sim.lif's free mode does not cover), so the fused paths are checked against two
independent loops: this one and sim.lif's reference backend.

Written line by line from the semantics in docs/DEVELOPING.md (paper eqs. 10-19, 28-29),
iterating time with ``unbind`` (never ``h[t]`` indexing inside the loop) and letting autograd
build the backward pass, independent of the fused code paths.  All tensors batch-first
``(batch, time, ...)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["SpikeFunction", "reference_lif", "reference_dale", "reference_conv", "reference_readout"]


class SpikeFunction(torch.autograd.Function):
    """Heaviside(U - theta) forward; SuperSpike derivative (eq. 28, optionally eq. 29) backward."""

    @staticmethod
    def forward(ctx, u: Tensor, theta: float, beta: float, rescaled: bool):  # type: ignore[override]
        ctx.save_for_backward(u)
        ctx.params = (theta, beta, rescaled)
        return (u > theta).to(u.dtype)

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        (u,) = ctx.saved_tensors
        theta, beta, rescaled = ctx.params
        h = 1.0 / (beta * (u - theta).abs() + 1.0) ** 2
        if rescaled:
            h = h / (1.0 / (beta * abs(-theta) + 1.0) ** 2)
        return g * h, None, None, None


def _spike(u, theta, beta, surrogate):
    return SpikeFunction.apply(u, theta, beta, surrogate == "superspike_rescaled")


def reference_lif(
    x: Tensor,
    weight: Tensor,
    rec_weight: Tensor | None = None,
    *,
    tau_mem: float = 20e-3,
    tau_syn: float = 10e-3,
    dt: float = 2e-3,
    theta: float = 1.0,
    reset: bool = True,
    surrogate: str = "superspike",
    beta: float = 20.0,
) -> tuple[Tensor, Tensor]:
    """Feed-forward / recurrent LIF layer, eqs. 10-11; returns ``(S, U)`` ``(batch, time, n)``."""
    lm, ls = math.exp(-dt / tau_mem), math.exp(-dt / tau_syn)
    b, n = x.shape[0], weight.shape[0]
    j_all = x @ weight.t()
    u = x.new_zeros(b, n)
    i = x.new_zeros(b, n)
    ss, us = [], []
    for j in j_all.unbind(1):
        s = _spike(u, theta, beta, surrogate)
        ss.append(s)
        us.append(u)
        u_new = lm * u + (1 - lm) * i
        if reset:
            u_new = u_new * (1 - s.detach())
        i = ls * i + j
        if rec_weight is not None:
            i = i + s @ rec_weight.t()
        u = u_new
    return torch.stack(ss, 1), torch.stack(us, 1)


def reference_dale(
    x, w_fe, w_fi, w_re, w_ri, w_ie, w_ii, *, tau_mem_exc=20e-3, tau_mem_inh=20e-3, tau_syn_exc=10e-3,
    tau_syn_inh=20e-3, dt=2e-3, theta=1.0, reset=True, surrogate="superspike", beta=20.0,
):
    """Dale's-law layer, eqs. 12-19 with six separate currents; returns (S_E, U_E, S_I, U_I)."""
    lme, lmi = math.exp(-dt / tau_mem_exc), math.exp(-dt / tau_mem_inh)
    lse, lsi = math.exp(-dt / tau_syn_exc), math.exp(-dt / tau_syn_inh)
    b = x.shape[0]
    ne, ni = w_fe.shape[0], w_fi.shape[0]
    ue, ui = x.new_zeros(b, ne), x.new_zeros(b, ni)
    cur = {k: x.new_zeros(b, ne if k.endswith("E") else ni) for k in ("FE", "RE", "IE", "FI", "RI", "II")}
    out = {"se": [], "ue": [], "si": [], "ui": []}
    for xn in x.unbind(1):
        se = _spike(ue, theta, beta, surrogate)
        si = _spike(ui, theta, beta, surrogate)
        out["se"].append(se); out["ue"].append(ue); out["si"].append(si); out["ui"].append(ui)
        ie_tot = cur["FE"] + cur["RE"] - cur["IE"]
        ii_tot = cur["FI"] + cur["RI"] - cur["II"]
        ue_new = lme * ue + (1 - lme) * ie_tot
        ui_new = lmi * ui + (1 - lmi) * ii_tot
        if reset:
            ue_new = ue_new * (1 - se.detach())
            ui_new = ui_new * (1 - si.detach())
        cur = {
            "FE": lse * cur["FE"] + xn @ w_fe.t(),
            "RE": lse * cur["RE"] + se @ w_re.t(),
            "IE": lsi * cur["IE"] + si @ w_ie.t(),
            "FI": lse * cur["FI"] + xn @ w_fi.t(),
            "RI": lse * cur["RI"] + se @ w_ri.t(),
            "II": lsi * cur["II"] + si @ w_ii.t(),
        }
        ue, ui = ue_new, ui_new
    return tuple(torch.stack(out[k], 1) for k in ("se", "ue", "si", "ui"))


def reference_conv(
    x, weight, rec_weight=None, *, stride=1, padding=0, tau_mem=20e-3, tau_syn=10e-3, dt=2e-3, theta=1.0,
    reset=True, surrogate="superspike", beta=20.0,
):
    """Convolutional LIF layer (conv1d for 4-d x, conv2d for 5-d x), step by step."""
    lm, ls = math.exp(-dt / tau_mem), math.exp(-dt / tau_syn)
    conv = torch.nn.functional.conv1d if x.dim() == 4 else torch.nn.functional.conv2d
    u = i = None
    ss, us = [], []
    for xn in x.unbind(1):
        j = conv(xn, weight, stride=stride, padding=padding)
        if u is None:
            u, i = torch.zeros_like(j), torch.zeros_like(j)
        s = _spike(u, theta, beta, surrogate)
        ss.append(s)
        us.append(u)
        u_new = lm * u + (1 - lm) * i
        if reset:
            u_new = u_new * (1 - s.detach())
        i = ls * i + j
        if rec_weight is not None:
            i = i + conv(s, rec_weight, padding=tuple(k // 2 for k in rec_weight.shape[2:]))
        u = u_new
    return torch.stack(ss, 1), torch.stack(us, 1)


def reference_readout(x, weight, *, tau_mem=0.7, tau_syn=10e-3, dt=2e-3):
    """Non-spiking readout; returns ``U (batch, time, n_out)``."""
    lm, ls = math.exp(-dt / tau_mem), math.exp(-dt / tau_syn)
    b, n = x.shape[0], weight.shape[0]
    u = x.new_zeros(b, n)
    i = x.new_zeros(b, n)
    us = []
    for j in (x @ weight.t()).unbind(1):
        us.append(u)
        u = lm * u + (1 - lm) * i
        i = ls * i + j
    return torch.stack(us, 1)
