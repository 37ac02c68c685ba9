"""The fast simulation core: fused layer time loops with hand-written BPTT (issue 5).

Entry points the ``fluctinit.sim`` modules dispatch to (all batch-first, SI units):

    fused_lif(x, weight, rec_weight=None, *, tau_mem, tau_syn, dt, theta, reset,
              surrogate, beta, projection) -> (S, U)                 # feed-forward / recurrent
    fused_dale(x, w_fe, w_fi, w_re, w_ri, w_ie, w_ii, *, tau_mem_exc, tau_mem_inh,
               tau_syn_exc, tau_syn_inh, dt, ...) -> (S_exc, U_exc, S_inh, U_inh)
    fused_conv(x, weight, rec_weight=None, *, stride, padding, ...) -> (S, U)
    fused_dale_conv(x, w_fe, w_fi, w_re, w_ri, w_ie, w_ii, *, stride, padding, ...)
        -> (S_exc, U_exc, S_inh, U_inh)
    fused_readout(x | [x, ...], weight | [w, ...], *, tau_mem, tau_syn, dt, projection) -> U
    SpikeEvents.from_dense(x, time_major=False) / SpikeEvents.from_indices(b, t, unit, shape)
        .prepare(n_out)                                              # event lists of inputs

They compute exactly the discrete-time LIF of paper eqs. 10-11 (Dale's law: eqs. 12-19;
surrogate: eqs. 28-29) with the detached reset of docs/DEVELOPING.md, and give the same
gradients as a plain autograd loop (tests/test_fused_*.py compare them in float64).  Outputs
``S`` and ``U`` have shape ``(batch, time, *neurons)``; they are transposed *views* of
time-major storage, so feeding them to the next fused layer costs no copy (call
``.contiguous()`` if you need batch-major memory).

Weights are used as given: sign constraints (Dale's law) and any clamping are the caller's.

Sparse inputs.  ``x`` of :func:`fused_lif`, :func:`fused_dale` and :func:`fused_readout` may
be a :class:`SpikeEvents`.  With events built (and ``prepare``d) once per batch, e.g. in the
data loader, the input current and its weight gradient cost ``O(nnz * n_out)`` gathers
instead of two dense products (SHD: ~3 % of bins hold a spike).  A dense tensor is projected
densely unless the measured density makes scanning it for events cheaper
(``projection="auto"``, :func:`fluctinit.sim._fused_events.choose_projection`)::

    ev = SpikeEvents.from_dense(x_batch, time_major=False).prepare(n_hidden)  # once per batch
    s, u = fused_lif(ev, w, v)               # (batch, time, n_hidden)
    y = fused_readout(s, w_out, tau_mem=T * dt)

Free-membrane mode: ``reset=False`` removes the reset but still reports threshold crossings
(and lets them drive recurrence); the ``sim`` package's ``mode="free"`` (no spikes at all)
is ``reset=False`` without recurrent weights, with ``S`` ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from fluctinit.errors import Interval, OneOf, ParameterError

from ._fused_events import PROJECTION_MODES, SpikeEvents, project
from . import _fused_cpu as _cpu
from ._fused_lif import Component, ConvRecurrence, LinearRecurrence, lif_scan, lif_scan_events, readout_scan

__all__ = [
    "SURROGATES",
    "FUSED_CONSTRAINTS",
    "SpikeEvents",
    "fused_lif",
    "fused_dale",
    "fused_conv",
    "fused_dale_conv",
    "fused_readout",
    "ScanExtras",
]

SURROGATES = ("superspike", "superspike_rescaled")

# Constraints as data (docs/DEVELOPING.md): one property test pushes each out of range.
FUSED_CONSTRAINTS = {
    "tau_mem": Interval(0.0, None),
    "tau_syn": Interval(0.0, None),
    "tau_mem_exc": Interval(0.0, None),
    "tau_mem_inh": Interval(0.0, None),
    "tau_syn_exc": Interval(0.0, None),
    "tau_syn_inh": Interval(0.0, None),
    "dt": Interval(0.0, None),
    "theta": Interval(0.0, None),
    "beta": Interval(0.0, None),
    "surrogate": OneOf(SURROGATES),
    "projection": OneOf(PROJECTION_MODES),
}


def _check(**values) -> dict:
    from fluctinit.errors import check

    out = {}
    for name, value in values.items():
        out[name] = check(name, value, FUSED_CONSTRAINTS[name])
    return out


def _bad_tensor(name: str, value, constraint: str) -> ParameterError:
    shown = tuple(value.shape) if isinstance(value, Tensor) else value
    return ParameterError(f"`{name}` must be {constraint}; got {shown!r}", [name], [shown])


def _check_matrix(name: str, w, rows: int | None, cols: int | None) -> None:
    if not isinstance(w, Tensor) or w.dim() != 2 or not w.is_floating_point():
        raise _bad_tensor(name, w, "a floating-point tensor of shape (n_out, n_in)")
    if (rows is not None and w.shape[0] != rows) or (cols is not None and w.shape[1] != cols):
        raise _bad_tensor(name, w, f"a tensor of shape ({rows if rows is not None else 'n'}, {cols if cols is not None else 'n'})")


def _input_time_major(name: str, x, ndim: int = 3):
    """Validate ``x`` (batch, time, ...) or SpikeEvents; return the time-major form."""
    if isinstance(x, SpikeEvents):
        if ndim != 3:
            raise _bad_tensor(name, x.shape, "a dense tensor (events only for all-to-all inputs)")
        return x, x.shape[2], x.shape[0]
    if not isinstance(x, Tensor) or x.dim() != ndim or not (x.is_floating_point()):
        raise _bad_tensor(name, x, f"a floating-point tensor with {ndim} dimensions (batch, time, ...)")
    if x.shape[1] < 1 or x.shape[0] < 1:
        raise _bad_tensor(name, x, "a tensor with batch >= 1 and time >= 1")
    xt = x.transpose(0, 1)
    return xt, x.shape[2], x.shape[1]


# Up to this input density the event-input scan (weight rows added per input event inside the
# compiled kernel) beats a dense product plus the stored current; measured on the 2-core machine
# (benchmarks/bench_core.py): Randman (1 %) and SHD (3 %) inputs are far below it.
EVENT_INPUT_MAX_DENSITY = 0.1


def _event_input(xt, weight: Tensor, mode: str):
    """The input as :class:`~._fused_cpu.EventInput` when the fused event-input scan applies:
    compiled CPU kernels, an input that needs no gradient, ``mode`` ``"sparse"`` or ``"auto"``
    with a measured density up to :data:`EVENT_INPUT_MAX_DENSITY`; else ``None``."""
    if mode == "dense" or not _cpu.usable(weight):
        return None
    if isinstance(xt, SpikeEvents):
        if xt.dense is not None or xt.device.type != "cpu":
            return None
        if mode == "auto" and xt.density > EVENT_INPUT_MAX_DENSITY:
            return None
        return _cpu.EventInput.from_events(xt)
    if xt.requires_grad or xt.device.type != "cpu":
        return None
    if mode == "auto":
        density = float(torch.count_nonzero(xt)) / max(1, xt.numel())
        if density > EVENT_INPUT_MAX_DENSITY:
            return None
    # xt is the time-major view of a batch-first tensor: events in its memory order
    return _cpu.EventInput.from_events(SpikeEvents.from_dense(xt, time_major=True))


@dataclass
class ScanExtras:
    """By-products of :func:`fused_lif`'s event-input scan (``None`` where not computed).

    Attributes:
        counts: spike counts ``sum_n S[n]`` ``(batch, n)``, a separate differentiable output:
            their gradient enters the backward scan directly (the regularizers use them, which
            spares a pass over ``S`` and a broadcast add), so ``S``'s own gradient excludes it.
        grad_abs_sum: float64 ``(1,)`` tensor; the backward pass adds ``sum |dL/dS|`` over all
            entries and both routes (``S`` and counts) -- the total gradient of the spikes,
            which ``S``'s own gradient no longer shows.
    """

    counts: Tensor | None = None
    grad_abs_sum: Tensor | None = None


def _lam(tau: float, dt: float) -> float:
    return math.exp(-dt / tau)


def fused_lif(
    x: Tensor | SpikeEvents,
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
    projection: str = "auto",
    extras: bool = False,
) -> tuple:
    """A feed-forward (``rec_weight=None``) or recurrent LIF layer, fused (paper eqs. 10-11).

        S[n]   = Heaviside(U[n] - theta)
        U[n+1] = (lambda_mem U[n] + (1 - lambda_mem) I[n]) (1 - S[n].detach())   (reset=True)
        I[n+1] = lambda_syn I[n] + W x[n] + V S[n]

    with ``lambda = exp(-dt/tau)`` and all states zero at n = 0.  The surrogate derivative is
    SuperSpike ``1/(beta |U - theta| + 1)^2`` (eq. 28) or, with
    ``surrogate="superspike_rescaled"``, that divided by its value at rest (eq. 29).

    Arguments:
        x: presynaptic spikes ``(batch, time, n_in)`` or :class:`SpikeEvents`.
        weight: ``W``, ``(n, n_in)``.  rec_weight: ``V``, ``(n, n)`` or ``None``.
        tau_mem, tau_syn, dt: seconds.  theta: threshold.  reset: ``False`` gives the free
            membrane (no reset; ``S`` is still reported).
        projection: ``"auto"`` / ``"dense"`` / ``"sparse"``: how ``W x`` is computed
            (see :func:`fluctinit.sim._fused_events.project`).

        extras: also return a :class:`ScanExtras` (by-products of the event-input scan; its
            fields are ``None`` on the other paths).

    Returns:
        ``(S, U)``, each ``(batch, time, n)``; ``(S, U, ScanExtras)`` with ``extras``.

    Raises:
        ParameterError: a parameter out of range or a tensor of the wrong shape.
    """
    p = _check(tau_mem=tau_mem, tau_syn=tau_syn, dt=dt, theta=theta, beta=beta, surrogate=surrogate, projection=projection)
    xt, n_in, _ = _input_time_major("x", x)
    _check_matrix("weight", weight, None, n_in)
    n = weight.shape[0]
    if rec_weight is not None:
        _check_matrix("rec_weight", rec_weight, n, n)
    if rec_weight is None:
        inp = _event_input(xt, weight, p["projection"])
        if inp is not None:
            res = lif_scan_events(
                inp, weight, lambda_mem=_lam(p["tau_mem"], p["dt"]), lambda_syn=_lam(p["tau_syn"], p["dt"]),
                theta=p["theta"], reset=reset, beta=p["beta"], rescaled=p["surrogate"] == "superspike_rescaled",
            )
            s, u = res[0].transpose(0, 1), res[1].transpose(0, 1)
            return (s, u, ScanExtras(counts=res[2], grad_abs_sum=res[3])) if extras else (s, u)
    j = project(xt, weight, mode=p["projection"])
    comp = Component(_lam(p["tau_syn"], p["dt"]), True, LinearRecurrence() if rec_weight is not None else None)
    s, u = lif_scan(
        [j],
        [comp],
        [rec_weight],
        lambda_mem=_lam(p["tau_mem"], p["dt"]),
        theta=p["theta"],
        reset=reset,
        beta=p["beta"],
        rescaled=p["surrogate"] == "superspike_rescaled",
    )
    s, u = s.transpose(0, 1), u.transpose(0, 1)
    return (s, u, ScanExtras()) if extras else (s, u)


def fused_dale(
    x: Tensor | SpikeEvents,
    w_fe: Tensor,
    w_fi: Tensor,
    w_re: Tensor,
    w_ri: Tensor,
    w_ie: Tensor,
    w_ii: Tensor,
    *,
    tau_mem_exc: float = 20e-3,
    tau_mem_inh: float = 20e-3,
    tau_syn_exc: float = 10e-3,
    tau_syn_inh: float = 20e-3,
    dt: float = 2e-3,
    theta: float = 1.0,
    reset: bool = True,
    surrogate: str = "superspike",
    beta: float = 20.0,
    projection: str = "auto",
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """A recurrent layer obeying Dale's law (paper eqs. 12-19), fused.

    Excitatory (E, ``n_exc``) and inhibitory (I, ``n_inh``) populations, each with eq. 10 and
    its own ``tau_mem``; their total currents are

        I^E = I^FE + I^RE - I^IE,     I^I = I^FI + I^RI - I^II

    where F/R components decay with ``tau_syn_exc`` and are driven by the input ``x`` (through
    ``w_fe``/``w_fi``) and by the layer's E spikes (``w_re``: E->E, ``w_ri``: E->I); the
    I components decay with ``tau_syn_inh`` and are driven by the I spikes (``w_ie``: I->E,
    ``w_ii``: I->I).  Weights are used as given (the caller keeps them non-negative).
    Internally E and I form one population with per-neuron ``lambda_mem`` and two current
    components (excitatory decay, inhibitory decay, the latter with negated weights).

    Shapes: ``x (batch, time, n_in)``; ``w_fe (n_exc, n_in)``, ``w_fi (n_inh, n_in)``,
    ``w_re (n_exc, n_exc)``, ``w_ri (n_inh, n_exc)``, ``w_ie (n_exc, n_inh)``,
    ``w_ii (n_inh, n_inh)``.  Times in seconds.

    Returns:
        ``(S_exc, U_exc, S_inh, U_inh)``, ``(batch, time, n_exc)`` and ``(batch, time, n_inh)``.
    """
    p = _check(
        tau_mem_exc=tau_mem_exc,
        tau_mem_inh=tau_mem_inh,
        tau_syn_exc=tau_syn_exc,
        tau_syn_inh=tau_syn_inh,
        dt=dt,
        theta=theta,
        beta=beta,
        surrogate=surrogate,
        projection=projection,
    )
    xt, n_in, _ = _input_time_major("x", x)
    _check_matrix("w_fe", w_fe, None, n_in)
    n_exc = w_fe.shape[0]
    _check_matrix("w_fi", w_fi, None, n_in)
    n_inh = w_fi.shape[0]
    _check_matrix("w_re", w_re, n_exc, n_exc)
    _check_matrix("w_ri", w_ri, n_inh, n_exc)
    _check_matrix("w_ie", w_ie, n_exc, n_inh)
    _check_matrix("w_ii", w_ii, n_inh, n_inh)
    n = n_exc + n_inh
    w_f = torch.cat([w_fe, w_fi], 0)
    v_exc = torch.cat([w_re, w_ri], 0)  # (n, n_exc), driven by the E spikes
    v_inh = -torch.cat([w_ie, w_ii], 0)  # (n, n_inh), driven by the I spikes, subtracted
    j = project(xt, w_f, mode=p["projection"])
    lam_m = torch.cat(
        [
            torch.full((n_exc,), _lam(p["tau_mem_exc"], p["dt"]), dtype=j.dtype, device=j.device),
            torch.full((n_inh,), _lam(p["tau_mem_inh"], p["dt"]), dtype=j.dtype, device=j.device),
        ]
    )
    comps = [
        Component(_lam(p["tau_syn_exc"], p["dt"]), True, LinearRecurrence(slice(0, n_exc))),
        Component(_lam(p["tau_syn_inh"], p["dt"]), False, LinearRecurrence(slice(n_exc, n))),
    ]
    s, u = lif_scan(
        [j, None],
        comps,
        [v_exc, v_inh],
        lambda_mem=lam_m,
        theta=p["theta"],
        reset=reset,
        beta=p["beta"],
        rescaled=p["surrogate"] == "superspike_rescaled",
    )
    s, u = s.transpose(0, 1), u.transpose(0, 1)
    return s[..., :n_exc], u[..., :n_exc], s[..., n_exc:], u[..., n_exc:]


def fused_conv(
    x: Tensor,
    weight: Tensor,
    rec_weight: Tensor | None = None,
    *,
    stride: int | tuple = 1,
    padding: int | tuple = 0,
    tau_mem: float = 20e-3,
    tau_syn: float = 10e-3,
    dt: float = 2e-3,
    theta: float = 1.0,
    reset: bool = True,
    surrogate: str = "superspike",
    beta: float = 20.0,
) -> tuple[Tensor, Tensor]:
    """A convolutional LIF layer (paper methods, CSNNs), fused; eqs. 10-11 with ``W x`` a
    ``conv1d``/``conv2d`` of the input and ``V S`` a stride-1 "same" convolution.

    Shapes: ``x (batch, time, C_in, L)`` with ``weight (C, C_in, k)`` (1-d), or
    ``x (batch, time, C_in, H, W)`` with ``weight (C, C_in, kh, kw)`` (2-d);
    ``rec_weight (C, C, k_rec[, k_rec])`` with odd kernel sizes, or ``None``.
    The feed-forward convolution runs once over all ``time * batch`` frames.

    Returns:
        ``(S, U)``, each ``(batch, time, C, L_out)`` (or ``(batch, time, C, H_out, W_out)``).
    """
    p = _check(tau_mem=tau_mem, tau_syn=tau_syn, dt=dt, theta=theta, beta=beta, surrogate=surrogate)
    if not isinstance(x, Tensor) or x.dim() not in (4, 5) or not x.is_floating_point():
        raise _bad_tensor("x", x, "a floating-point tensor (batch, time, C_in, L) or (batch, time, C_in, H, W)")
    sdim = x.dim() - 3
    if not isinstance(weight, Tensor) or weight.dim() != sdim + 2 or weight.shape[1] != x.shape[2]:
        raise _bad_tensor("weight", weight, f"a tensor (C, {x.shape[2]}, {', '.join(['k'] * sdim)})")
    c = weight.shape[0]
    if rec_weight is not None:
        ok = (
            isinstance(rec_weight, Tensor)
            and rec_weight.dim() == sdim + 2
            and tuple(rec_weight.shape[:2]) == (c, c)
            and all(k % 2 == 1 for k in rec_weight.shape[2:])
        )
        if not ok:
            raise _bad_tensor("rec_weight", rec_weight, f"a tensor ({c}, {c}, {', '.join(['k_odd'] * sdim)})")
    b, t = x.shape[:2]
    xt = x.transpose(0, 1).reshape(t * b, *x.shape[2:])
    conv = torch.nn.functional.conv1d if sdim == 1 else torch.nn.functional.conv2d
    j = conv(xt, weight, stride=stride, padding=padding)
    shape = tuple(j.shape[1:])
    j = j.reshape(t, b, -1)
    comp = Component(_lam(p["tau_syn"], p["dt"]), True, ConvRecurrence(shape) if rec_weight is not None else None)
    s, u = lif_scan(
        [j],
        [comp],
        [rec_weight],
        lambda_mem=_lam(p["tau_mem"], p["dt"]),
        theta=p["theta"],
        reset=reset,
        beta=p["beta"],
        rescaled=p["surrogate"] == "superspike_rescaled",
    )
    return s.view(t, b, *shape).transpose(0, 1), u.view(t, b, *shape).transpose(0, 1)


def _pad_kernel(w: Tensor, size: tuple) -> Tensor:
    """Zero-pad an odd kernel symmetrically to the odd ``size``: the same 'same'-padded
    convolution, so kernels of different sizes can be stacked into one."""
    pads: list[int] = []
    for k, target in reversed(list(zip(w.shape[2:], size))):
        d = (target - k) // 2
        pads += [d, d]
    return torch.nn.functional.pad(w, pads) if any(pads) else w


def fused_dale_conv(
    x: Tensor,
    w_fe: Tensor,
    w_fi: Tensor,
    w_re: Tensor | None,
    w_ri: Tensor | None,
    w_ie: Tensor,
    w_ii: Tensor,
    *,
    stride: int | tuple = 1,
    padding: int | tuple = 0,
    tau_mem_exc: float = 20e-3,
    tau_mem_inh: float = 20e-3,
    tau_syn_exc: float = 10e-3,
    tau_syn_inh: float = 20e-3,
    dt: float = 2e-3,
    theta: float = 1.0,
    reset: bool = True,
    surrogate: str = "superspike",
    beta: float = 20.0,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """A convolutional Dale's-law layer (paper eqs. 12-19, methods "Deep recurrent CSNNs
    following Dale's law"), fused.  As :func:`fused_dale` with every product a convolution:

    ``x (batch, time, C_in, *space)``; feed-forward ``w_fe (C_E, C_in, k...)``,
    ``w_fi (C_I, C_in, k...)`` with ``stride``/``padding``; recurrent stride-1 'same'
    kernels with odd sizes ``w_re (C_E, C_E, .)``, ``w_ri (C_I, C_E, .)`` (paper: 5; either may
    be ``None`` = absent), ``w_ie (C_E, C_I, .)``, ``w_ii (C_I, C_I, .)`` (paper: 3).
    E and I layers share their spatial size.  Kernels driven by the same population are
    zero-padded to a common size and stacked (exactly the same convolution).

    Returns:
        ``(S_E, U_E, S_I, U_I)``, ``(batch, time, C_E, *space_out)`` and
        ``(batch, time, C_I, *space_out)``.
    """
    p = _check(
        tau_mem_exc=tau_mem_exc, tau_mem_inh=tau_mem_inh, tau_syn_exc=tau_syn_exc, tau_syn_inh=tau_syn_inh,
        dt=dt, theta=theta, beta=beta, surrogate=surrogate,
    )
    if not isinstance(x, Tensor) or x.dim() not in (4, 5) or not x.is_floating_point():
        raise _bad_tensor("x", x, "a floating-point tensor (batch, time, C_in, L) or (batch, time, C_in, H, W)")
    sdim = x.dim() - 3
    c_in = x.shape[2]
    for name, w in (("w_fe", w_fe), ("w_fi", w_fi)):
        if not isinstance(w, Tensor) or w.dim() != sdim + 2 or w.shape[1] != c_in:
            raise _bad_tensor(name, w, f"a tensor (C, {c_in}, {', '.join(['k'] * sdim)})")
    c_e, c_i = w_fe.shape[0], w_fi.shape[0]
    expect = {"w_re": (c_e, c_e), "w_ri": (c_i, c_e), "w_ie": (c_e, c_i), "w_ii": (c_i, c_i)}
    given = {"w_re": w_re, "w_ri": w_ri, "w_ie": w_ie, "w_ii": w_ii}
    for name, w in given.items():
        if w is None and name in ("w_re", "w_ri"):
            continue
        co, ci = expect[name]
        ok = (
            isinstance(w, Tensor)
            and w.dim() == sdim + 2
            and tuple(w.shape[:2]) == (co, ci)
            and all(k % 2 == 1 for k in w.shape[2:])
        )
        if not ok:
            raise _bad_tensor(name, w, f"a tensor ({co}, {ci}, {', '.join(['k_odd'] * sdim)})")
    b, t = x.shape[:2]
    conv = torch.nn.functional.conv1d if sdim == 1 else torch.nn.functional.conv2d
    xt = x.transpose(0, 1).reshape(t * b, *x.shape[2:])
    j_e = conv(xt, w_fe, stride=stride, padding=padding)
    j_i = conv(xt, w_fi, stride=stride, padding=padding)
    if j_e.shape[2:] != j_i.shape[2:]:
        raise _bad_tensor("w_fi", w_fi, "a kernel giving the same output size as w_fe")
    space = tuple(j_e.shape[2:])
    c = c_e + c_i
    shape = (c, *space)
    j = torch.cat([j_e, j_i], 1).reshape(t, b, -1)
    n_e = c_e * math.prod(space)
    n = c * math.prod(space)
    # recurrent kernels driven by E (rows: E then I targets) and by I (subtracted)
    w_re_ = w_re if w_re is not None else None
    w_ri_ = w_ri if w_ri is not None else None
    v_exc = None
    if w_re_ is not None or w_ri_ is not None:
        ks = [w.shape[2:] for w in (w_re_, w_ri_) if w is not None]
        size = tuple(max(k[d] for k in ks) for d in range(sdim))
        w_re_ = w_re_ if w_re_ is not None else x.new_zeros(c_e, c_e, *size).to(w_fe.dtype)
        w_ri_ = w_ri_ if w_ri_ is not None else x.new_zeros(c_i, c_e, *size).to(w_fe.dtype)
        v_exc = torch.cat([_pad_kernel(w_re_, size), _pad_kernel(w_ri_, size)], 0)
    size_i = tuple(max(a, b_) for a, b_ in zip(w_ie.shape[2:], w_ii.shape[2:]))
    v_inh = -torch.cat([_pad_kernel(w_ie, size_i), _pad_kernel(w_ii, size_i)], 0)
    lam_m = torch.cat(
        [
            torch.full((n_e,), _lam(p["tau_mem_exc"], p["dt"]), dtype=j.dtype, device=j.device),
            torch.full((n - n_e,), _lam(p["tau_mem_inh"], p["dt"]), dtype=j.dtype, device=j.device),
        ]
    )
    comps = [
        Component(_lam(p["tau_syn_exc"], p["dt"]), True, ConvRecurrence(shape, slice(0, c_e)) if v_exc is not None else None),
        Component(_lam(p["tau_syn_inh"], p["dt"]), False, ConvRecurrence(shape, slice(c_e, c))),
    ]
    s, u = lif_scan(
        [j, None],
        comps,
        [v_exc, v_inh],
        lambda_mem=lam_m,
        theta=p["theta"],
        reset=reset,
        beta=p["beta"],
        rescaled=p["surrogate"] == "superspike_rescaled",
    )
    s = s.view(t, b, c, *space).transpose(0, 1)
    u = u.view(t, b, c, *space).transpose(0, 1)
    return s[:, :, :c_e], u[:, :, :c_e], s[:, :, c_e:], u[:, :, c_e:]


def fused_readout(
    x: Tensor | SpikeEvents | Sequence[Tensor | SpikeEvents],
    weight: Tensor | Sequence[Tensor],
    *,
    tau_mem: float = 0.7,
    tau_syn: float = 10e-3,
    dt: float = 2e-3,
    projection: str = "auto",
) -> Tensor:
    """Non-spiking readout units (paper methods, "Readout units"), fused:

        U[n+1] = lambda_mem U[n] + (1 - lambda_mem) I[n],    I[n+1] = lambda_syn I[n] + sum_k W_k x_k[n]

    ``tau_mem`` is the readout's ``tau_out`` (the paper uses the stimulus duration).
    Shapes: ``x (batch, time, n_in)`` or :class:`SpikeEvents`, ``weight (n_out, n_in)``; or
    equal-length sequences of inputs and weights (skip connections, paper fig. S10): their
    currents are summed before one scan.  Inputs with more than three dimensions (conv layers)
    are flattened to ``(batch, time, -1)``.  Returns ``U (batch, time, n_out)``.
    """
    p = _check(tau_mem=tau_mem, tau_syn=tau_syn, dt=dt, projection=projection)
    xs = list(x) if isinstance(x, (list, tuple)) else [x]
    ws = list(weight) if isinstance(weight, (list, tuple)) else [weight]
    if not xs or len(xs) != len(ws):
        raise ParameterError(
            f"`x`, `weight` must be equal-length, non-empty sequences; got lengths {len(xs)} and {len(ws)}",
            ["x", "weight"],
            [len(xs), len(ws)],
        )
    j = None
    n_out = None
    bt = None
    for k, (xk, wk) in enumerate(zip(xs, ws)):
        name = "x" if len(xs) == 1 else f"x[{k}]"
        wname = "weight" if len(ws) == 1 else f"weight[{k}]"
        if isinstance(xk, Tensor) and xk.dim() > 3:
            xk = xk.reshape(xk.shape[0], xk.shape[1], -1)
        xt, n_in, _ = _input_time_major(name, xk)
        _check_matrix(wname, wk, n_out, n_in)
        n_out = wk.shape[0]
        shape_bt = tuple(xt.shape[:2])
        if bt is not None and shape_bt != bt:
            raise _bad_tensor(name, xk, f"an input with (time, batch) = {bt}")
        bt = shape_bt
        term = project(xt, wk, mode=p["projection"])
        j = term if j is None else j + term
    u = readout_scan(j, lambda_mem=_lam(p["tau_mem"], p["dt"]), lambda_syn=_lam(p["tau_syn"], p["dt"]))
    return u.transpose(0, 1)
