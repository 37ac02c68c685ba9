"""Spike counts and the gradient reaching the spikes, without another pass over ``S`` when the
simulator already has them.

* :func:`spike_counts` -- ``zeta = sum_n S[n]`` per neuron, the quantity of the activity
  regularizers (eqs. 22-25) and of the firing rates.  Differentiable through the spikes: its
  gradient reaches ``S`` (a hook on the spikes sees it).  Where the fast core's compiled scan
  produced the spikes it counted them in its time loop, and the count is taken from there (the
  backward pass broadcasts the counts' gradient over time as a view, no temporary).
* :func:`gradient_probe` -- where the fast core's compiled scan produced the spikes, a float64
  ``(1,)`` tensor to which its backward pass adds ``sum |dL/dS|`` of the gradient reaching
  them; the recorder of training reads it instead of hooking ``S`` and summing it again.

Both are looked up on the spike tensor the layer returned (``LayerOutput.spikes``); any other
tensor (a reshaped copy, the reference backend's output) gets the plain computation.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["spike_counts", "gradient_probe", "attach", "stored_counts"]

_COUNTS = "_fluctinit_counts"
_PROBE = "_fluctinit_probe"


def attach(spikes: Tensor, counts: Tensor | None, probe: Tensor | None) -> Tensor:
    """Record the scan's by-products on the spike tensor it returned (the fast core calls this)."""
    if counts is not None:
        setattr(spikes, _COUNTS, counts)
    if probe is not None:
        setattr(spikes, _PROBE, probe)
    return spikes


def stored_counts(spikes: Tensor) -> Tensor | None:
    """The counts the scan recorded with ``spikes`` (see :func:`attach`), or None."""
    return getattr(spikes, _COUNTS, None)


class _Counts(torch.autograd.Function):
    """``counts`` (already computed) as a function of ``spikes``: the gradient goes to the spikes,
    broadcast over time as an expanded view."""

    @staticmethod
    def forward(ctx, spikes: Tensor, counts: Tensor):  # type: ignore[override]
        ctx.shape = spikes.shape
        return counts.view_as(counts)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        return grad.unsqueeze(1).expand(ctx.shape), None


def spike_counts(spikes: Tensor) -> Tensor:
    """Spike counts ``zeta_i = sum_n S_i[n]``: ``(batch, time, *neurons)`` -> ``(batch, *neurons)``.

    Differentiable with respect to ``spikes`` (through the surrogate, eqs. 26-29).
    """
    counts = stored_counts(spikes)
    if counts is None or counts.shape != spikes.shape[:1] + spikes.shape[2:]:
        return spikes.sum(1)
    if not spikes.requires_grad:
        return counts
    return _Counts.apply(spikes, counts)


def gradient_probe(spikes: Tensor) -> Tensor | None:
    """The float64 ``(1,)`` tensor to which the backward pass adds ``sum |dL/dS|`` over all
    entries of ``spikes`` (zero before it runs), or ``None`` where the backend keeps none."""
    return getattr(spikes, _PROBE, None)
