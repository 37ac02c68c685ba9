"""Discrete-time current-based LIF dynamics (paper eqs. 10-19), as pure functions.

Every layer type's math lives in one function here; the modules in
:mod:`fluctinit.sim.layers` only hold parameters and call these functions
through :func:`dispatch`, so another backend (e.g. a fused core with
hand-written backward passes) can replace them without touching the modules.

Semantics (docs/DEVELOPING.md), per neuron, all states zero at ``n = 0``,
``lambda_mem = exp(-dt/tau_mem)``, ``lambda_syn = exp(-dt/tau_syn)``,
for ``n = 0 .. T-1``::

    S[n]   = Theta(U[n] - theta)                  (surrogate derivative in backward)
    U[n+1] = (lambda_mem*U[n] + (1-lambda_mem)*I[n]) * (1 - S[n].detach())  (mode "reset", eq. 10)
    U[n+1] =  lambda_mem*U[n] + (1-lambda_mem)*I[n]                        (mode "free": S = 0)
    I[n+1] = lambda_syn*I[n] + W x[n] + V S[n]                             (eq. 11)

Outputs are ``S[0..T-1]`` and ``U[0..T-1]`` with shape ``(batch, time, *neurons)``.
An input spike at step ``n`` changes ``I`` at ``n+1`` and ``U`` at ``n+2``,
so activity crosses one layer in two steps.  Time is iterated over
``unbind`` lists and stacked once at the end (indexing ``h[t]`` inside the loop
makes the backward pass quadratic in ``T``).

Dale's law (eqs. 12-19): excitatory (E) and inhibitory (I) populations, each
with its own membrane time constant; each neuron's current is
``I_F + I_R - I_I`` where the feed-forward (F) and recurrent excitatory (R)
currents decay with ``lambda_syn^E`` and the inhibitory one with
``lambda_syn^I``.  Since F and R share their decay, their sum obeys the same
recursion; it is kept as one state (exact, by linearity).

Denormal numbers: the decaying states ``lambda^n`` (and their gradients) reach
the denormal range (below ~1.2e-38 in float32) in silent stretches, and CPU
arithmetic on denormals is many times slower.  Every layer function therefore
flushes denormals to zero (``torch.set_flush_denormal(True)``) while its forward
and backward passes run, and restores the previous setting afterwards (no effect
on CUDA).  Opt out with ``set_flush_denormal(False)`` or the environment variable
``FLUCTINIT_FLUSH_DENORMAL=0``; ``benchmarks/denormal_flush.py`` measures the effect.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F

from fluctinit.errors import Interval, OneOf, ParameterError, check

from .surrogate import SuperSpike

__all__ = [
    "NeuronParams",
    "DaleParams",
    "ReadoutParams",
    "lif_dense",
    "lif_conv",
    "dale_dense",
    "dale_conv",
    "readout",
    "OPS",
    "register_backend",
    "set_backend",
    "get_backend",
    "use_backend",
    "available_backends",
    "dispatch",
    "set_flush_denormal",
]

_POSITIVE = Interval(0.0, None)
_MODES = OneOf(("reset", "free"))


def _decay(dt: float, tau: float) -> float:
    return math.exp(-dt / tau)


@dataclass(frozen=True)
class NeuronParams:
    """Parameters of a population of LIF neurons (eqs. 10-11, table 3).

    Attributes:
        tau_mem: membrane time constant (s), > 0; paper 20 ms.
        tau_syn: synaptic time constant (s), > 0; paper 10 ms.
        dt: time step (s), > 0; paper 2 ms.
        theta: firing threshold (threshold units), > 0; default 1.
        mode: ``"reset"`` (spike and reset, eq. 10) or ``"free"`` (free membrane:
            no threshold, no reset, no spikes).
    """

    tau_mem: float = 20e-3
    tau_syn: float = 10e-3
    dt: float = 2e-3
    theta: float = 1.0
    mode: str = "reset"

    def __post_init__(self) -> None:
        for name in ("tau_mem", "tau_syn", "dt", "theta"):
            check(name, getattr(self, name), _POSITIVE)
        check("mode", self.mode, _MODES)

    @property
    def lambda_mem(self) -> float:
        """``exp(-dt/tau_mem)``."""
        return _decay(self.dt, self.tau_mem)

    @property
    def lambda_syn(self) -> float:
        """``exp(-dt/tau_syn)``."""
        return _decay(self.dt, self.tau_syn)


@dataclass(frozen=True)
class DaleParams:
    """Parameters of a Dale's-law layer (eqs. 12-19, table 3).

    Attributes:
        tau_mem_exc, tau_mem_inh: membrane time constants of the E and I populations (s); paper 20/20 ms.
        tau_syn_exc, tau_syn_inh: time constants of excitatory and inhibitory synaptic currents (s);
            paper 10/20 ms.
        dt: time step (s).  theta: threshold of both populations.  mode: ``"reset"`` or ``"free"``.
    """

    tau_mem_exc: float = 20e-3
    tau_mem_inh: float = 20e-3
    tau_syn_exc: float = 10e-3
    tau_syn_inh: float = 20e-3
    dt: float = 2e-3
    theta: float = 1.0
    mode: str = "reset"

    def __post_init__(self) -> None:
        for name in ("tau_mem_exc", "tau_mem_inh", "tau_syn_exc", "tau_syn_inh", "dt", "theta"):
            check(name, getattr(self, name), _POSITIVE)
        check("mode", self.mode, _MODES)


@dataclass(frozen=True)
class ReadoutParams:
    """Parameters of non-spiking leaky readout units.

    Attributes:
        tau_out: membrane time constant of the readout (s), > 0; the paper sets it to
            the stimulus duration ``T_data``.
        tau_syn: synaptic time constant (s), > 0; default 10 ms.
        dt: time step (s), > 0.
    """

    tau_out: float
    tau_syn: float = 10e-3
    dt: float = 2e-3

    def __post_init__(self) -> None:
        for name in ("tau_out", "tau_syn", "dt"):
            check(name, getattr(self, name), _POSITIVE)


# --------------------------------------------------------------------------- denormals

_FLUSH = {"enabled": os.environ.get("FLUCTINIT_FLUSH_DENORMAL", "1") not in ("0", "false", "no")}
_TINY = sys.float_info.min  # smallest normal double


def _flushing() -> bool:
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
    prev = _flushing()
    supported = bool(torch.set_flush_denormal(True))
    if not prev:
        torch.set_flush_denormal(False)
    return supported


def _flush_on_hook(state: dict) -> Callable[[torch.Tensor], None]:
    """Gradient hook for a function's outputs: the first one to run turns flushing on."""

    def hook(grad: torch.Tensor) -> None:
        if state["prev"] is None:
            state["prev"] = _flushing()
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


def _denormal_scope(fn: Callable) -> Callable:
    """Run ``fn`` (forward and backward) with denormal flushing, if enabled; see :func:`set_flush_denormal`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not _FLUSH["enabled"]:
            return fn(*args, **kwargs)
        prev = _flushing()
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


# --------------------------------------------------------------------------- checks


def _shape_error(name: str, tensor: torch.Tensor, expected: str) -> ParameterError:
    shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else tensor
    return ParameterError(f"`{name}` must be {expected}; got shape {shape!r}", [name], [shape])


def _check_tensor(name: str, t: object) -> None:
    if not isinstance(t, torch.Tensor):
        raise ParameterError(f"`{name}` must be a torch.Tensor; got {type(t).__name__}", [name], [t])
    if not t.is_floating_point():
        raise ParameterError(f"`{name}` must be a floating-point tensor; got dtype {t.dtype}", [name], [t.dtype])


def _check_square(name: str, v: torch.Tensor | None, n: int) -> None:
    if v is None:
        return
    _check_tensor(name, v)
    if v.dim() != 2 or v.shape[0] != n or v.shape[1] != n:
        raise _shape_error(name, v, f"a ({n}, {n}) recurrent weight matrix")


def _check_dense(name: str, w: torch.Tensor, n_out: int | None, n_in: int) -> None:
    _check_tensor(name, w)
    if w.dim() != 2 or w.shape[1] != n_in or (n_out is not None and w.shape[0] != n_out):
        rows = "n_out" if n_out is None else str(n_out)
        raise _shape_error(name, w, f"a ({rows}, {n_in}) weight matrix")


def _dense_input(x):
    """Spike events (:class:`~fluctinit.sim._fused_events.SpikeEvents`, e.g. from a data
    loader) as the dense batch-first tensor the reference implementations take; tensors pass."""
    from ._fused_events import SpikeEvents

    if isinstance(x, SpikeEvents):
        return x.to_dense().transpose(0, 1)
    return x


def _events_input(x, weight: torch.Tensor):
    """``x`` if it is spike events whose unit count fits ``weight`` (n, n_in), else ``None``."""
    from ._fused_events import SpikeEvents

    if not isinstance(x, SpikeEvents):
        return None
    if x.shape[2] != weight.shape[1]:
        raise ParameterError(
            f"`x` events have {x.shape[2]} input units but `weight` expects {weight.shape[1]}",
            ["x"], [x.shape],
        )
    return x


def _check_input(x: torch.Tensor, dims: int, what: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise ParameterError(f"`x` must be a torch.Tensor; got {type(x).__name__}", ["x"], [x])
    if x.dim() != dims:
        raise _shape_error("x", x, f"a {dims}-d tensor {what}")


def _check_features(x: torch.Tensor, w: torch.Tensor, wname: str) -> None:
    """``x`` (batch, time, n_in) must match the weight matrix ``w`` (n, n_in)."""
    _check_tensor(wname, w)
    if w.dim() != 2:
        raise _shape_error(wname, w, "a 2-d weight matrix (n_out, n_in)")
    if x.shape[2] != w.shape[1]:
        raise _shape_error("x", x, f"(batch, time, {w.shape[1]}) to match `{wname}` {tuple(w.shape)}")


def _check_rec_conv(name: str, v: torch.Tensor | None, c_out: int, c_in: int, nd: int) -> None:
    if v is None:
        return
    _check_tensor(name, v)
    if v.dim() != nd + 2 or v.shape[0] != c_out or v.shape[1] != c_in or any(k % 2 == 0 for k in v.shape[2:]):
        raise _shape_error(name, v, f"a ({c_out}, {c_in}, k{', k' if nd == 2 else ''}) kernel with odd k")


# --------------------------------------------------------------------------- core loops


def _lif_loop(
    ff: torch.Tensor,
    rec: Callable[[torch.Tensor], torch.Tensor] | None,
    params: NeuronParams,
    surrogate: SuperSpike,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run eqs. 10-11 given the feed-forward currents ``ff[:, n] = W x[n]``; (B, T, *shape)."""
    lam_mem, lam_syn, theta = params.lambda_mem, params.lambda_syn, params.theta
    reset = params.mode == "reset"
    steps = ff.unbind(1)
    u = torch.zeros_like(steps[0])
    i = torch.zeros_like(steps[0])
    zero = torch.zeros_like(u)
    s_out: list[torch.Tensor] = []
    u_out: list[torch.Tensor] = []
    for h in steps:
        s = surrogate(u, theta) if reset else zero
        s_out.append(s)
        u_out.append(u)
        u_new = lam_mem * u + (1.0 - lam_mem) * i
        if reset:
            u_new = u_new * (1.0 - s.detach())
        i = lam_syn * i + h
        if rec is not None and reset:
            i = i + rec(s)
        u = u_new
    return torch.stack(s_out, 1), torch.stack(u_out, 1)


def _dale_loop(
    ff_e: torch.Tensor,
    ff_i: torch.Tensor,
    rec_ie: Callable[[torch.Tensor], torch.Tensor],
    rec_ii: Callable[[torch.Tensor], torch.Tensor],
    rec_re: Callable[[torch.Tensor], torch.Tensor] | None,
    rec_ri: Callable[[torch.Tensor], torch.Tensor] | None,
    params: DaleParams,
    surrogate: SuperSpike,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run eqs. 10, 12-19 for the E and I populations of one Dale layer."""
    dt, theta = params.dt, params.theta
    lm_e, lm_i = _decay(dt, params.tau_mem_exc), _decay(dt, params.tau_mem_inh)
    ls_e, ls_i = _decay(dt, params.tau_syn_exc), _decay(dt, params.tau_syn_inh)
    reset = params.mode == "reset"
    steps_e, steps_i = ff_e.unbind(1), ff_i.unbind(1)
    u_e = torch.zeros_like(steps_e[0])
    u_i = torch.zeros_like(steps_i[0])
    exc_e, inh_e = torch.zeros_like(u_e), torch.zeros_like(u_e)  # I^FE + I^RE, I^IE
    exc_i, inh_i = torch.zeros_like(u_i), torch.zeros_like(u_i)  # I^FI + I^RI, I^II
    zero_e, zero_i = torch.zeros_like(u_e), torch.zeros_like(u_i)
    se_out, ue_out, si_out, ui_out = [], [], [], []
    for h_e, h_i in zip(steps_e, steps_i):
        if reset:
            s_e, s_i = surrogate(u_e, theta), surrogate(u_i, theta)
        else:
            s_e, s_i = zero_e, zero_i
        se_out.append(s_e)
        ue_out.append(u_e)
        si_out.append(s_i)
        ui_out.append(u_i)
        ue_new = lm_e * u_e + (1.0 - lm_e) * (exc_e - inh_e)  # eq. 12
        ui_new = lm_i * u_i + (1.0 - lm_i) * (exc_i - inh_i)  # eq. 13
        if reset:
            ue_new = ue_new * (1.0 - s_e.detach())
            ui_new = ui_new * (1.0 - s_i.detach())
        exc_e = ls_e * exc_e + h_e  # eqs. 14 (+15)
        exc_i = ls_e * exc_i + h_i  # eqs. 17 (+18)
        inh_e = ls_i * inh_e  # eq. 16
        inh_i = ls_i * inh_i  # eq. 19
        if reset:
            inh_e = inh_e + rec_ie(s_i)
            inh_i = inh_i + rec_ii(s_i)
            if rec_re is not None:
                exc_e = exc_e + rec_re(s_e)
            if rec_ri is not None:
                exc_i = exc_i + rec_ri(s_e)
        u_e, u_i = ue_new, ui_new
    return torch.stack(se_out, 1), torch.stack(ue_out, 1), torch.stack(si_out, 1), torch.stack(ui_out, 1)


def _dense_rec(v: torch.Tensor | None) -> Callable[[torch.Tensor], torch.Tensor] | None:
    if v is None:
        return None
    vt = v.t()
    return lambda s: s @ vt


def _conv_fn(nd: int):
    return F.conv1d if nd == 1 else F.conv2d


def _conv_rec(v: torch.Tensor | None, nd: int) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Recurrent convolution, stride 1, 'same' padding (odd kernel)."""
    if v is None:
        return None
    conv = _conv_fn(nd)
    pad = tuple(k // 2 for k in v.shape[2:])
    return lambda s: conv(s, v, padding=pad)


def _conv_ff(x: torch.Tensor, w: torch.Tensor, stride, padding, nd: int) -> torch.Tensor:
    """Feed-forward convolution of every time step at once: (B, T, C_in, *S) -> (B, T, C, *S')."""
    b, t = x.shape[:2]
    y = _conv_fn(nd)(x.reshape(b * t, *x.shape[2:]), w, stride=stride, padding=padding)
    return y.reshape(b, t, *y.shape[1:])


def _as_weight_dtype(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return x if x.dtype == w.dtype else x.to(w.dtype)


# --------------------------------------------------------------------------- layer functions


@_denormal_scope
def lif_dense(
    x: torch.Tensor,
    weight: torch.Tensor,
    rec_weight: torch.Tensor | None = None,
    *,
    params: NeuronParams = NeuronParams(),
    surrogate: SuperSpike = SuperSpike(),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fully connected (optionally recurrent) LIF layer, eqs. 10-11.

    ``I[n+1] = lambda_syn I[n] + W x[n] + V S[n]``; ``U`` as in eq. 10 (mode
    ``"reset"``) or without threshold and reset (mode ``"free"``).

    Args:
        x: presynaptic spikes (or any input), shape ``(batch, time, n_in)``.
        weight: feed-forward weights ``W``, shape ``(n, n_in)`` (threshold units per spike).
        rec_weight: recurrent weights ``V``, shape ``(n, n)``, or None.
        params: :class:`NeuronParams` (time constants in s, threshold, mode).
        surrogate: spike non-linearity (:class:`~fluctinit.sim.surrogate.SuperSpike`).

    Returns:
        ``(S, U)``, each ``(batch, time, n)``: spikes ``S[0..T-1]`` and membrane ``U[0..T-1]``.

    Raises:
        ParameterError: shapes that do not fit together.
    """
    x = _dense_input(x)
    _check_input(x, 3, "(batch, time, n_in)")
    _check_features(x, weight, "weight")
    _check_square("rec_weight", rec_weight, weight.shape[0])
    ff = _as_weight_dtype(x, weight) @ weight.t()
    return _lif_loop(ff, _dense_rec(rec_weight), params, surrogate)


@_denormal_scope
def lif_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    rec_weight: torch.Tensor | None = None,
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple[int, ...] = 0,
    params: NeuronParams = NeuronParams(),
    surrogate: SuperSpike = SuperSpike(),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Convolutional (1-D or 2-D, optionally recurrent) LIF layer, eqs. 10-11.

    ``I[n+1] = lambda_syn I[n] + conv(x[n], W; stride, padding) + conv(S[n], V; 1, same)``.

    Args:
        x: input spikes ``(batch, time, C_in, L)`` (1-D) or ``(batch, time, C_in, H, W)`` (2-D).
        weight: kernel ``(C, C_in, k)`` or ``(C, C_in, kh, kw)``; 1-D or 2-D follows ``weight.dim()``.
        rec_weight: recurrent kernel ``(C, C, k_r[, k_r])`` with odd ``k_r`` (paper: 5), stride 1,
            padding ``k_r // 2`` (output size = input size), or None.
        stride, padding: of the feed-forward convolution (paper tables 5-6).
        params, surrogate: as in :func:`lif_dense`.

    Returns:
        ``(S, U)``, each ``(batch, time, C, *spatial_out)``.
    """
    x = _dense_input(x)
    _check_tensor("weight", weight)
    nd = weight.dim() - 2
    if nd not in (1, 2):
        raise _shape_error("weight", weight, "a 3-d (1-D conv) or 4-d (2-D conv) kernel")
    _check_input(x, nd + 3, "(batch, time, C_in, *spatial)")
    if x.shape[2] != weight.shape[1]:
        raise _shape_error("x", x, f"a tensor with C_in = {weight.shape[1]} channels in dim 2")
    _check_rec_conv("rec_weight", rec_weight, weight.shape[0], weight.shape[0], nd)
    ff = _conv_ff(_as_weight_dtype(x, weight), weight, stride, padding, nd)
    return _lif_loop(ff, _conv_rec(rec_weight, nd), params, surrogate)


@_denormal_scope
def dale_dense(
    x: torch.Tensor,
    w_fe: torch.Tensor,
    w_fi: torch.Tensor,
    w_ie: torch.Tensor,
    w_ii: torch.Tensor,
    w_re: torch.Tensor | None = None,
    w_ri: torch.Tensor | None = None,
    *,
    params: DaleParams = DaleParams(),
    surrogate: SuperSpike = SuperSpike(),
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fully connected Dale's-law layer, eqs. 10 and 12-19.

    Weights are used as given (the modules keep them non-negative).  With
    ``I^E = I^FE + I^RE - I^IE`` and ``I^I = I^FI + I^RI - I^II`` (eqs. 12-13)::

        I^FE[n+1] = lambda_syn^E I^FE[n] + W^FE x[n]      I^FI[n+1] = lambda_syn^E I^FI[n] + W^FI x[n]
        I^RE[n+1] = lambda_syn^E I^RE[n] + W^RE S^E[n]    I^RI[n+1] = lambda_syn^E I^RI[n] + W^RI S^E[n]
        I^IE[n+1] = lambda_syn^I I^IE[n] + W^IE S^I[n]    I^II[n+1] = lambda_syn^I I^II[n] + W^II S^I[n]

    Args:
        x: spikes of the previous layer's excitatory population, ``(batch, time, n_in)``.
        w_fe: input -> E, ``(n_exc, n_in)``.   w_fi: input -> I, ``(n_inh, n_in)``.
        w_ie: I -> E, ``(n_exc, n_inh)``.      w_ii: I -> I, ``(n_inh, n_inh)``.
        w_re: E -> E, ``(n_exc, n_exc)`` or None (no excitatory recurrence).
        w_ri: E -> I, ``(n_inh, n_exc)`` or None.
        params: :class:`DaleParams`.  surrogate: spike non-linearity.

    Returns:
        ``(S_E, U_E, S_I, U_I)`` with shapes ``(batch, time, n_exc)`` and ``(batch, time, n_inh)``.
    """
    x = _dense_input(x)
    _check_input(x, 3, "(batch, time, n_in)")
    _check_features(x, w_fe, "w_fe")
    n_exc = w_fe.shape[0]
    _check_dense("w_fi", w_fi, None, x.shape[2])
    n_inh = w_fi.shape[0]
    _check_dense("w_ie", w_ie, n_exc, n_inh)
    _check_dense("w_ii", w_ii, n_inh, n_inh)
    if w_re is not None:
        _check_dense("w_re", w_re, n_exc, n_exc)
    if w_ri is not None:
        _check_dense("w_ri", w_ri, n_inh, n_exc)
    x = _as_weight_dtype(x, w_fe)
    return _dale_loop(
        x @ w_fe.t(), x @ w_fi.t(),
        _dense_rec(w_ie), _dense_rec(w_ii), _dense_rec(w_re), _dense_rec(w_ri),
        params, surrogate,
    )


@_denormal_scope
def dale_conv(
    x: torch.Tensor,
    w_fe: torch.Tensor,
    w_fi: torch.Tensor,
    w_ie: torch.Tensor,
    w_ii: torch.Tensor,
    w_re: torch.Tensor | None = None,
    w_ri: torch.Tensor | None = None,
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple[int, ...] = 0,
    params: DaleParams = DaleParams(),
    surrogate: SuperSpike = SuperSpike(),
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Convolutional (1-D or 2-D) Dale's-law layer, eqs. 10 and 12-19 with convolutions.

    Feed-forward kernels ``w_fe (C_E, C_in, k...)`` and ``w_fi (C_I, C_in, k...)`` use
    ``stride``/``padding``; recurrent kernels use stride 1 and 'same' padding:
    ``w_ie (C_E, C_I, k...)``, ``w_ii (C_I, C_I, k...)`` (paper: k = 3),
    ``w_re (C_E, C_E, k...)``, ``w_ri (C_I, C_E, k...)`` (paper: k = 5; optional).

    Args:
        x: excitatory spikes of the previous layer, ``(batch, time, C_in, *spatial)``.

    Returns:
        ``(S_E, U_E, S_I, U_I)``, shapes ``(batch, time, C_E, *spatial_out)`` and
        ``(batch, time, C_I, *spatial_out)``.
    """
    x = _dense_input(x)
    _check_tensor("w_fe", w_fe)
    nd = w_fe.dim() - 2
    if nd not in (1, 2):
        raise _shape_error("w_fe", w_fe, "a 3-d (1-D conv) or 4-d (2-D conv) kernel")
    _check_input(x, nd + 3, "(batch, time, C_in, *spatial)")
    c_in, c_e = x.shape[2], w_fe.shape[0]
    if w_fe.shape[1] != c_in:
        raise _shape_error("w_fe", w_fe, f"a kernel with {c_in} input channels in dim 1")
    _check_tensor("w_fi", w_fi)
    if w_fi.dim() != nd + 2 or w_fi.shape[1] != c_in or w_fi.shape[2:] != w_fe.shape[2:]:
        raise _shape_error("w_fi", w_fi, f"a kernel (C_I, {c_in}, {tuple(w_fe.shape[2:])}) like w_fe")
    c_i = w_fi.shape[0]
    for name, w, co, ci in (("w_ie", w_ie, c_e, c_i), ("w_ii", w_ii, c_i, c_i)):
        if w is None:
            raise ParameterError(f"`{name}` must be a tensor (Dale layers are recurrent); got None", [name], [None])
        _check_rec_conv(name, w, co, ci, nd)
    _check_rec_conv("w_re", w_re, c_e, c_e, nd)
    _check_rec_conv("w_ri", w_ri, c_i, c_e, nd)
    x = _as_weight_dtype(x, w_fe)
    ff_e = _conv_ff(x, w_fe, stride, padding, nd)
    ff_i = _conv_ff(x, w_fi, stride, padding, nd)
    return _dale_loop(
        ff_e, ff_i,
        _conv_rec(w_ie, nd), _conv_rec(w_ii, nd), _conv_rec(w_re, nd), _conv_rec(w_ri, nd),
        params, surrogate,
    )


@_denormal_scope
def readout(
    inputs: Sequence[torch.Tensor],
    weights: Sequence[torch.Tensor],
    *,
    params: ReadoutParams,
) -> torch.Tensor:
    """Non-spiking leaky readout units (eqs. 10-11 without threshold and reset).

    ``U[n+1] = lambda_out U[n] + (1 - lambda_out) I[n]``,
    ``I[n+1] = lambda_syn I[n] + sum_k W_k x_k[n]``, ``lambda_out = exp(-dt/tau_out)``;
    several inputs ``x_k`` carry skip connections.

    Args:
        inputs: tensors ``(batch, time, ...)``; each is flattened to ``(batch, time, n_k)``.
        weights: one ``(n_out, n_k)`` matrix per input.
        params: :class:`ReadoutParams`.

    Returns:
        ``U[0..T-1]``, shape ``(batch, time, n_out)``.
    """
    if len(inputs) == 0 or len(inputs) != len(weights):
        raise ParameterError(
            f"`inputs`, `weights` must be non-empty sequences of equal length; "
            f"got lengths {len(inputs)} and {len(weights)}",
            ["inputs", "weights"], [len(inputs), len(weights)],
        )
    ff = None
    n_out = None
    b_t = None
    for k, (x, w) in enumerate(zip(inputs, weights)):
        if not isinstance(x, torch.Tensor) or x.dim() < 3:
            raise _shape_error(f"inputs[{k}]", x, "a tensor (batch, time, ...)")
        if b_t is not None and tuple(x.shape[:2]) != b_t:
            raise _shape_error(f"inputs[{k}]", x, f"a tensor with (batch, time) = {b_t}")
        b_t = tuple(x.shape[:2])
        flat = x.reshape(x.shape[0], x.shape[1], -1)
        _check_dense(f"weights[{k}]", w, n_out, flat.shape[2])
        n_out = w.shape[0]
        term = _as_weight_dtype(flat, w) @ w.t()
        ff = term if ff is None else ff + term
    neuron = NeuronParams(tau_mem=params.tau_out, tau_syn=params.tau_syn, dt=params.dt, mode="free")
    return _lif_loop(ff, None, neuron, SuperSpike())[1]


# --------------------------------------------------------------------------- backends

#: The operations every backend may provide; missing ones fall back to "reference".
OPS = ("lif_dense", "lif_conv", "dale_dense", "dale_conv", "readout")

_BACKENDS: dict[str, dict[str, Callable]] = {
    "reference": {
        "lif_dense": lif_dense,
        "lif_conv": lif_conv,
        "dale_dense": dale_dense,
        "dale_conv": dale_conv,
        "readout": readout,
    }
}
# The default backend: the fused core (registered at the end of this module) when it is
# installed, else the reference loop; FLUCTINIT_SIM_BACKEND in the environment chooses another
# one (checked on first use, so a backend registered later in the import still counts).
_CURRENT = {"backend": os.environ.get("FLUCTINIT_SIM_BACKEND", "fused")}


def register_backend(name: str, ops: Mapping[str, Callable]) -> None:
    """Register a backend: ``ops`` maps names in :data:`OPS` to functions with the
    reference signatures (e.g. the fused core).  Ops it lacks use the reference."""
    if not isinstance(name, str) or not name:
        raise ParameterError(f"`name` must be a non-empty string; got {name!r}", ["name"], [name])
    unknown = sorted(set(ops) - set(OPS))
    if unknown:
        raise ParameterError(f"`ops` must only name operations in {OPS}; got {unknown!r}", ["ops"], [unknown])
    _BACKENDS[name] = dict(ops)


def available_backends() -> tuple[str, ...]:
    """Names of the registered backends."""
    return tuple(_BACKENDS)


def _check_backend(name: str) -> str:
    return check("backend", name, OneOf(tuple(_BACKENDS)))


def set_backend(name: str) -> None:
    """Make ``name`` the default backend of every layer whose ``backend`` is None."""
    _CURRENT["backend"] = _check_backend(name)


def get_backend() -> str:
    """The current default backend name (initially ``"fused"`` when installed, or ``$FLUCTINIT_SIM_BACKEND``)."""
    return _CURRENT["backend"]


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Context manager: use backend ``name`` as the default inside the block."""
    previous = _CURRENT["backend"]
    set_backend(name)
    try:
        yield
    finally:
        _CURRENT["backend"] = previous


def dispatch(op: str, backend: str | None = None) -> Callable:
    """The function implementing ``op`` in ``backend`` (default: :func:`get_backend`).

    This is the one place where modules choose their implementation.
    """
    check("op", op, OneOf(OPS))
    name = _check_backend(get_backend() if backend is None else backend)
    return _BACKENDS[name].get(op, _BACKENDS["reference"][op])


# --------------------------------------------------------------------------- fused core adapters


def _fused_adapters(fused) -> dict[str, Callable]:
    """Wrap the fused core (``fluctinit.sim._fused``) in the reference signatures.

    Semantics are kept identical to the reference: in mode ``"free"`` no spikes are
    reported and nothing recurrent acts (the fused core would still report threshold
    crossings, so it is called without recurrence and ``S`` is zeroed); a Dale layer
    without excitatory recurrence gets zero ``w_re``/``w_ri``; several readout inputs
    go through one scan (their currents are summed).
    """

    def sur(s: SuperSpike) -> dict:
        return {"surrogate": "superspike_rescaled" if s.rescaled else "superspike", "beta": s.beta}

    @_denormal_scope
    def f_lif_dense(x, weight, rec_weight=None, *, params=NeuronParams(), surrogate=SuperSpike(),
                    extras=False):
        ev = _events_input(x, weight)  # events from a data loader go straight to the fused core
        if ev is None:
            _check_input(x, 3, "(batch, time, n_in)")
        free = params.mode == "free"
        s, u, ex = fused.fused_lif(
            ev if ev is not None else _as_weight_dtype(x, weight), weight, None if free else rec_weight,
            tau_mem=params.tau_mem, tau_syn=params.tau_syn, dt=params.dt, theta=params.theta,
            reset=not free, extras=True, **sur(surrogate),
        )
        if free:
            s, ex = torch.zeros_like(u), fused.ScanExtras()
        return (s, u, ex) if extras else (s, u)

    # LIFDense asks this op for the by-products of the fused event-input scan (spike counts,
    # the gradient probe; fused.ScanExtras)
    f_lif_dense.returns_extras = True

    @_denormal_scope
    def f_lif_conv(x, weight, rec_weight=None, *, stride=1, padding=0, params=NeuronParams(), surrogate=SuperSpike()):
        x = _dense_input(x)
        if not isinstance(x, torch.Tensor):
            raise ParameterError(f"`x` must be a torch.Tensor; got {type(x).__name__}", ["x"], [x])
        free = params.mode == "free"
        s, u = fused.fused_conv(
            _as_weight_dtype(x, weight), weight, None if free else rec_weight, stride=stride, padding=padding,
            tau_mem=params.tau_mem, tau_syn=params.tau_syn, dt=params.dt, theta=params.theta,
            reset=not free, **sur(surrogate),
        )
        return (torch.zeros_like(u) if free else s), u

    @_denormal_scope
    def f_dale_dense(x, w_fe, w_fi, w_ie, w_ii, w_re=None, w_ri=None, *, params=DaleParams(), surrogate=SuperSpike()):
        x = _dense_input(x)
        _check_input(x, 3, "(batch, time, n_in)")
        free = params.mode == "free"
        n_exc, n_inh = w_fe.shape[0], w_fi.shape[0]
        zeros = lambda r, c: w_fe.new_zeros(r, c)  # noqa: E731
        if free:
            w_re = w_ri = w_ie = w_ii = None
        w_re = zeros(n_exc, n_exc) if w_re is None else w_re
        w_ri = zeros(n_inh, n_exc) if w_ri is None else w_ri
        w_ie = zeros(n_exc, n_inh) if w_ie is None else w_ie
        w_ii = zeros(n_inh, n_inh) if w_ii is None else w_ii
        s_e, u_e, s_i, u_i = fused.fused_dale(
            _as_weight_dtype(x, w_fe), w_fe, w_fi, w_re, w_ri, w_ie, w_ii,
            tau_mem_exc=params.tau_mem_exc, tau_mem_inh=params.tau_mem_inh, tau_syn_exc=params.tau_syn_exc,
            tau_syn_inh=params.tau_syn_inh, dt=params.dt, theta=params.theta, reset=not free, **sur(surrogate),
        )
        if free:
            s_e, s_i = torch.zeros_like(u_e), torch.zeros_like(u_i)
        return s_e, u_e, s_i, u_i

    @_denormal_scope
    def f_dale_conv(x, w_fe, w_fi, w_ie, w_ii, w_re=None, w_ri=None, *, stride=1, padding=0,
                    params=DaleParams(), surrogate=SuperSpike()):
        x = _dense_input(x)
        if not isinstance(x, torch.Tensor):
            raise ParameterError(f"`x` must be a torch.Tensor; got {type(x).__name__}", ["x"], [x])
        free = params.mode == "free"
        if free:  # no recurrence acts in free mode: zero kernels keep the shapes (and the spatial size)
            w_ie, w_ii = torch.zeros_like(w_ie), torch.zeros_like(w_ii)
            w_re = w_ri = None
        s_e, u_e, s_i, u_i = fused.fused_dale_conv(
            _as_weight_dtype(x, w_fe), w_fe, w_fi, w_re, w_ri, w_ie, w_ii, stride=stride, padding=padding,
            tau_mem_exc=params.tau_mem_exc, tau_mem_inh=params.tau_mem_inh, tau_syn_exc=params.tau_syn_exc,
            tau_syn_inh=params.tau_syn_inh, dt=params.dt, theta=params.theta, reset=not free, **sur(surrogate),
        )
        if free:
            s_e, s_i = torch.zeros_like(u_e), torch.zeros_like(u_i)
        return s_e, u_e, s_i, u_i

    @_denormal_scope
    def f_readout(inputs, weights, *, params):
        if len(inputs) == 0 or len(inputs) != len(weights):
            return readout(inputs, weights, params=params)  # raises the reference's error
        flat = [_as_weight_dtype(x.reshape(x.shape[0], x.shape[1], -1), w) for x, w in zip(inputs, weights)]
        # all inputs (skip connections) summed into one current, then one scan
        return fused.fused_readout(flat, list(weights), tau_mem=params.tau_out, tau_syn=params.tau_syn, dt=params.dt)

    return {
        "lif_dense": f_lif_dense,
        "lif_conv": f_lif_conv,
        "dale_dense": f_dale_dense,
        "dale_conv": f_dale_conv,
        "readout": f_readout,
    }


def _register_fused() -> None:
    """Register the ``"fused"`` backend when the fused core is installed; it is the default then
    (the fast core with hand-written BPTT, tested gradient-equal to the reference loop)."""
    import importlib
    import importlib.util

    if importlib.util.find_spec(f"{__package__}._fused") is None:
        if _CURRENT["backend"] == "fused" and "FLUCTINIT_SIM_BACKEND" not in os.environ:
            _CURRENT["backend"] = "reference"
        return
    _BACKENDS["fused"] = _fused_adapters(importlib.import_module(f"{__package__}._fused"))


_register_fused()
