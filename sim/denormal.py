"""Denormal floats flushed to zero while the simulator runs on the CPU.

The decaying states ``lambda^n`` (and their gradients) reach the denormal range (below
~1.2e-38 in float32) in silent stretches, and CPU arithmetic on denormals is many times
slower.  Every layer function therefore flushes denormals to zero
(``torch.set_flush_denormal(True)``) while its forward and backward passes run, and restores
the previous setting afterwards (no effect on CUDA; the compiled kernels flush their states
themselves).  Opt out with :func:`set_flush_denormal` ``(False)`` or the environment variable
``FLUCTINIT_FLUSH_DENORMAL=0``; ``benchmarks/denormal_flush.py`` measures the effect.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Callable

import torch

from fluctinit.errors import ParameterError

__all__ = ["set_flush_denormal", "flushing", "denormal_scope"]

_FLUSH = {"enabled": os.environ.get("FLUCTINIT_FLUSH_DENORMAL", "1") not in ("0", "false", "no")}
_TINY = sys.float_info.min  # smallest normal double


def flushing() -> bool:
    """Whether this thread currently flushes denormals (probed: the halved smallest normal double is 0)."""
    return _TINY * 0.5 == 0.0


def set_flush_denormal(enabled: bool) -> bool:
    """Choose whether the simulator flushes denormal floats to zero on CPU while it runs.

    On (the default; ``FLUCTINIT_FLUSH_DENORMAL=0`` in the environment turns it off):
    every simulator function switches ``torch.set_flush_denormal(True)`` on for its
    forward pass and, through gradient hooks on its outputs and identity autograd nodes
    on its inputs, for its backward pass, and restores the previous state afterwards.  The process-wide
    setting outside the simulator is left as it was (other code, e.g. hypothesis'
    subnormal floats, keeps working).

    Returns:
        Whether the CPU supports flushing (``torch.set_flush_denormal``'s answer).
    """
    if not isinstance(enabled, bool):
        raise ParameterError(f"`enabled` must be True or False; got {enabled!r}", ["enabled"], [enabled])
    _FLUSH["enabled"] = enabled
    prev = flushing()
    supported = bool(torch.set_flush_denormal(True))
    if not prev:
        torch.set_flush_denormal(False)
    return supported


def _flush_on_hook(state: dict) -> Callable[[torch.Tensor], None]:
    """Gradient hook for a function's outputs: the first one to run turns flushing on."""

    def hook(grad: torch.Tensor) -> None:
        if state["prev"] is None:
            state["prev"] = flushing()
            if not state["prev"]:
                torch.set_flush_denormal(True)

    return hook


class _BackwardFlushOff(torch.autograd.Function):
    """Identity on a function's inputs; its backward (run after the function's own) restores the state."""

    @staticmethod
    def forward(ctx, state: dict, tensor: torch.Tensor):  # noqa: D102
        ctx.state = state
        return tensor.view_as(tensor)

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        if ctx.state["prev"] is False:
            torch.set_flush_denormal(False)
        ctx.state["prev"] = None
        return None, grad


def _mark_inputs(value, state):
    if isinstance(value, torch.Tensor) and value.requires_grad:
        return _BackwardFlushOff.apply(state, value)
    if isinstance(value, (list, tuple)) and any(isinstance(v, torch.Tensor) and v.requires_grad for v in value):
        return type(value)(_mark_inputs(v, state) for v in value)
    return value


def denormal_scope(fn: Callable) -> Callable:
    """Run ``fn`` (forward and backward) with denormal flushing, if enabled; see :func:`set_flush_denormal`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not _FLUSH["enabled"]:
            return fn(*args, **kwargs)
        prev = flushing()
        grad = torch.is_grad_enabled()
        state: dict = {"prev": None}
        if grad:
            args = tuple(_mark_inputs(a, state) for a in args)
            kwargs = {k: _mark_inputs(v, state) for k, v in kwargs.items()}
        if not prev:
            torch.set_flush_denormal(True)
        try:
            out = fn(*args, **kwargs)
        finally:
            if not prev:
                torch.set_flush_denormal(False)
        if not grad:
            return out
        hook = _flush_on_hook(state)
        for t in out if isinstance(out, tuple) else (out,):
            if isinstance(t, torch.Tensor) and t.requires_grad:
                t.register_hook(hook)
        return out

    return wrapper
