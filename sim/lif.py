"""The simulator's layer functions (paper eqs. 10-19) and the choice of backend that runs them.

Every layer kind is one function here -- :func:`lif_dense`, :func:`lif_conv`, :func:`dale_dense`,
:func:`dale_conv`, :func:`readout` -- which checks its arguments once and describes the layer as
a :class:`~fluctinit.sim.projections.LayerSpec`: the neuron of :mod:`fluctinit.sim.neuron` with
its input and recurrent projections.  A *backend* runs the spec:

* ``"reference"``: the projections by autograd and the reference loop :func:`neuron.scan`
  (these module-level functions);
* ``"fused"`` (the default): the fast core (sim._core) -- fused time loops with hand-written
  BPTT, compiled CPU kernels, event-driven input.

The modules of :mod:`fluctinit.sim.layers` reach the functions through :func:`dispatch`, so
``layer.backend = "reference"`` or :func:`set_backend` / :func:`use_backend` switch the
implementation without touching the modules.  Outputs are ``(batch, time, *neurons)``; see
:mod:`fluctinit.sim.neuron` for the update itself and :mod:`fluctinit.sim.denormal` for the
denormal flushing every function applies.
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import Callable, Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F

from fluctinit.errors import OneOf, ParameterError, check

from . import activity, neuron
from .denormal import denormal_scope
from .events import SpikeEvents
from .neuron import DaleParams, NeuronParams, ReadoutParams, decay
from .projections import (
    Component,
    ConvInput,
    ConvRecurrence,
    CurrentInput,
    DenseInput,
    DenseRecurrence,
    LayerSpec,
    per_channel_runs,
)
from .surrogate import SuperSpike

__all__ = [
    "lif_dense",
    "lif_conv",
    "dale_dense",
    "dale_conv",
    "readout",
    "lif_current",
    "OPS",
    "register_backend",
    "set_backend",
    "get_backend",
    "use_backend",
    "available_backends",
    "dispatch",
    "run_layer",
    "run_reference",
]


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



def _events_or_dense(x, dims: int, what: str):
    """``x`` as given if it is spike events (logical shape ``(time, batch, n_in)``) for a dense
    layer, else checked as a ``dims``-d tensor."""
    if isinstance(x, SpikeEvents):
        if dims != 3:
            return x.to_dense().transpose(0, 1)
        return x
    _check_input(x, dims, what)
    return x


def _n_in(x) -> int:
    return x.shape[2]


def _conv_input(x):
    if isinstance(x, SpikeEvents):
        return x.to_dense().transpose(0, 1)
    return x


# --------------------------------------------------------------------------- specs


def _lif_dense_spec(x, weight, rec_weight, params: NeuronParams, surrogate: SuperSpike) -> LayerSpec:
    x = _events_or_dense(x, 3, "(batch, time, n_in)")
    _check_tensor("weight", weight)
    if weight.dim() != 2:
        raise _shape_error("weight", weight, "a 2-d weight matrix (n_out, n_in)")
    if _n_in(x) != weight.shape[1]:
        raise _shape_error("x", x, f"(batch, time, {weight.shape[1]}) to match `weight` {tuple(weight.shape)}")
    _check_square("rec_weight", rec_weight, weight.shape[0])
    rec = None if rec_weight is None or params.mode == "free" else DenseRecurrence(rec_weight)
    comp = Component(params.lambda_syn, DenseInput((x,), (weight,)), rec)
    return LayerSpec((weight.shape[0],), (comp,), params.lambda_mem, params.theta, params.mode, surrogate)


def _conv_dims(name: str, weight) -> int:
    _check_tensor(name, weight)
    nd = weight.dim() - 2
    if nd not in (1, 2):
        raise _shape_error(name, weight, "a 3-d (1-D conv) or 4-d (2-D conv) kernel")
    return nd


def _conv_out_shape(x, weight, stride, padding) -> tuple:
    nd = weight.dim() - 2
    st = (stride,) * nd if isinstance(stride, int) else tuple(stride)
    pd = (padding,) * nd if isinstance(padding, int) else tuple(padding)
    space = tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(x.shape[3:], weight.shape[2:], st, pd))
    if min(space) < 1:
        raise _shape_error("x", x, f"spatial size large enough for the kernel {tuple(weight.shape[2:])}")
    return (weight.shape[0], *space), st, pd


def _lif_conv_spec(x, weight, rec_weight, stride, padding, params: NeuronParams, surrogate: SuperSpike) -> LayerSpec:
    x = _conv_input(x)
    nd = _conv_dims("weight", weight)
    _check_input(x, nd + 3, "(batch, time, C_in, *spatial)")
    if x.shape[2] != weight.shape[1]:
        raise _shape_error("x", x, f"a tensor with C_in = {weight.shape[1]} channels in dim 2")
    _check_rec_conv("rec_weight", rec_weight, weight.shape[0], weight.shape[0], nd)
    shape, st, pd = _conv_out_shape(x, weight, stride, padding)
    rec = None if rec_weight is None or params.mode == "free" else ConvRecurrence(rec_weight, shape)
    comp = Component(params.lambda_syn, ConvInput(x, weight, st, pd), rec)
    return LayerSpec(shape, (comp,), params.lambda_mem, params.theta, params.mode, surrogate)


def _dale_lambdas(params: DaleParams, n_exc: int, n_inh: int, per_channel: int = 1):
    lam = per_channel_runs((n_exc, n_inh), (decay(params.dt, params.tau_mem_exc), decay(params.dt, params.tau_mem_inh)),
                           per_channel)
    return lam, decay(params.dt, params.tau_syn_exc), decay(params.dt, params.tau_syn_inh)


def _dale_dense_spec(x, w_fe, w_fi, w_ie, w_ii, w_re, w_ri, params: DaleParams, surrogate: SuperSpike) -> LayerSpec:
    x = _events_or_dense(x, 3, "(batch, time, n_in)")
    _check_dense("w_fe", w_fe, None, _n_in(x))
    n_exc = w_fe.shape[0]
    _check_dense("w_fi", w_fi, None, _n_in(x))
    n_inh = w_fi.shape[0]
    _check_dense("w_ie", w_ie, n_exc, n_inh)
    _check_dense("w_ii", w_ii, n_inh, n_inh)
    if w_re is not None:
        _check_dense("w_re", w_re, n_exc, n_exc)
    if w_ri is not None:
        _check_dense("w_ri", w_ri, n_inh, n_exc)
    w_re, w_ri = _both_or_none(w_re, w_ri, lambda w: w.new_zeros(n_exc, n_exc), lambda w: w.new_zeros(n_inh, n_exc))
    n = n_exc + n_inh
    lam_m, lam_e, lam_i = _dale_lambdas(params, n_exc, n_inh)
    free = params.mode == "free"
    exc_rec = None if w_re is None or free else DenseRecurrence(torch.cat([w_re, w_ri], 0), slice(0, n_exc))
    inh_rec = None if free else DenseRecurrence(-torch.cat([w_ie, w_ii], 0), slice(n_exc, n))
    comps = (Component(lam_e, DenseInput((x,), (torch.cat([w_fe, w_fi], 0),)), exc_rec), Component(lam_i, None, inh_rec))
    return LayerSpec((n,), comps, lam_m, params.theta, params.mode, surrogate)


def _both_or_none(w_re, w_ri, zeros_re, zeros_ri):
    """The E -> E and E -> I weights of a Dale layer: a missing one of the pair is zero."""
    if w_re is not None and w_ri is None:
        return w_re, zeros_ri(w_re)
    if w_ri is not None and w_re is None:
        return zeros_re(w_ri), w_ri
    return w_re, w_ri


def _pad_kernel(w: torch.Tensor, size: tuple) -> torch.Tensor:
    """Zero-pad an odd kernel symmetrically to the odd ``size``: the same 'same'-padded
    convolution, so kernels of different sizes stack into one."""
    pads: list[int] = []
    for k, target in reversed(list(zip(w.shape[2:], size))):
        d = (target - k) // 2
        pads += [d, d]
    return F.pad(w, pads) if any(pads) else w


def _stacked(kernels: Sequence[torch.Tensor]) -> torch.Tensor:
    """Kernels driven by the same population, padded to a common size and stacked on dim 0."""
    size = tuple(max(k.shape[2 + d] for k in kernels) for d in range(kernels[0].dim() - 2))
    return torch.cat([_pad_kernel(k, size) for k in kernels], 0)


def _dale_conv_spec(x, w_fe, w_fi, w_ie, w_ii, w_re, w_ri, stride, padding, params: DaleParams,
                    surrogate: SuperSpike) -> LayerSpec:
    x = _conv_input(x)
    nd = _conv_dims("w_fe", w_fe)
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
    w_re, w_ri = _both_or_none(w_re, w_ri, lambda w: w.new_zeros(c_e, c_e, *w.shape[2:]),
                               lambda w: w.new_zeros(c_i, c_e, *w.shape[2:]))
    w_f = torch.cat([w_fe, w_fi], 0)
    shape, st, pd = _conv_out_shape(x, w_f, stride, padding)
    per = math.prod(shape[1:])
    lam_m, lam_e, lam_i = _dale_lambdas(params, c_e, c_i, per)
    free = params.mode == "free"
    c = c_e + c_i
    exc_rec = None if w_re is None or free else ConvRecurrence(_stacked([w_re, w_ri]), shape, slice(0, c_e))
    inh_rec = None if free else ConvRecurrence(-_stacked([w_ie, w_ii]), shape, slice(c_e, c))
    comps = (Component(lam_e, ConvInput(x, w_f, st, pd), exc_rec), Component(lam_i, None, inh_rec))
    return LayerSpec(shape, comps, lam_m, params.theta, params.mode, surrogate)


def _readout_spec(inputs, weights, params: ReadoutParams) -> LayerSpec:
    if len(inputs) == 0 or len(inputs) != len(weights):
        raise ParameterError(
            f"`inputs`, `weights` must be non-empty sequences of equal length; "
            f"got lengths {len(inputs)} and {len(weights)}",
            ["inputs", "weights"], [len(inputs), len(weights)],
        )
    n_out, b_t = None, None
    xs = []
    for k, (x, w) in enumerate(zip(inputs, weights)):
        if not isinstance(x, torch.Tensor) or x.dim() < 3:
            raise _shape_error(f"inputs[{k}]", x, "a tensor (batch, time, ...)")
        if b_t is not None and tuple(x.shape[:2]) != b_t:
            raise _shape_error(f"inputs[{k}]", x, f"a tensor with (batch, time) = {b_t}")
        b_t = tuple(x.shape[:2])
        flat = x.reshape(x.shape[0], x.shape[1], -1)
        _check_dense(f"weights[{k}]", w, n_out, flat.shape[2])
        n_out = w.shape[0]
        xs.append(flat)
    comp = Component(decay(params.dt, params.tau_syn), DenseInput(tuple(xs), tuple(weights)))
    return LayerSpec((n_out,), (comp,), decay(params.dt, params.tau_out), 1.0, "free", SuperSpike())


def _current_spec(current, params: NeuronParams, surrogate: SuperSpike) -> LayerSpec:
    _check_tensor("current", current)
    if current.dim() < 3:
        raise _shape_error("current", current, "a tensor (batch, time, *neurons)")
    comp = Component(params.lambda_syn, CurrentInput(current))
    return LayerSpec(tuple(current.shape[2:]), (comp,), params.lambda_mem, params.theta, params.mode, surrogate)


# --------------------------------------------------------------------------- running a spec


def run_reference(spec: LayerSpec) -> tuple[torch.Tensor | None, torch.Tensor, None]:
    """Run a layer with the reference: projections by autograd, then :func:`neuron.scan`.

    Returns ``(S, U, None)``, ``S`` and ``U`` flattened to ``(batch, time, N)``; ``S`` is
    ``None`` in mode ``"free"``.  (A backend's runner returns its by-products third:
    :class:`~fluctinit.sim._core.scan.ScanExtras` for the fast core.)
    """
    feeds = [None if c.input is None else c.input.reference() for c in spec.components]
    ref = next(f for f in feeds if f is not None)
    recs = [None if c.recurrence is None else c.recurrence.apply for c in spec.components]
    s, u = neuron.scan(feeds, [c.lambda_syn for c in spec.components], recs,
                       lambda_mem=spec.lambda_mem_tensor(ref), theta=spec.theta, mode=spec.mode,
                       surrogate=spec.surrogate)
    return s, u, None


def _shaped(t: torch.Tensor, shape: tuple) -> torch.Tensor:
    return t.reshape(t.shape[0], t.shape[1], *shape)


def _one_population(spec: LayerSpec, out) -> tuple[torch.Tensor, torch.Tensor]:
    """``(S, U)`` in the layer's shape; the scan's spike counts and gradient probe go with ``S``
    (:mod:`fluctinit.sim.activity`)."""
    s, u, extras = out
    u = _shaped(u, spec.shape)
    if s is None:
        return torch.zeros_like(u), u
    s = _shaped(s, spec.shape)
    if extras is not None:
        counts = None if extras.counts is None else extras.counts.reshape(s.shape[0], *spec.shape)
        activity.attach(s, counts, extras.probe)
    return s, u


def _two_populations(spec: LayerSpec, out, n_first: int):
    """A Dale layer's outputs split along dim 2 (neurons or channels): ``(S_E, U_E, S_I, U_I)``."""
    s, u = _one_population(spec, out)
    parts = []
    for sl in (slice(0, n_first), slice(n_first, None)):
        part = s[:, :, sl]
        counts = activity.stored_counts(s)
        if counts is not None:
            activity.attach(part, counts[:, sl], None)  # the probe sums both populations: not carried
        parts += [part, u[:, :, sl]]
    return tuple(parts)


def _make_ops(run: Callable[[LayerSpec], tuple]) -> dict[str, Callable]:
    """The layer functions of a backend whose runner is ``run`` (one spec builder per layer kind)."""

    @denormal_scope
    def lif_dense(x, weight, rec_weight=None, *, params=NeuronParams(), surrogate=SuperSpike()):
        spec = _lif_dense_spec(x, weight, rec_weight, params, surrogate)
        return _one_population(spec, run(spec))

    @denormal_scope
    def lif_conv(x, weight, rec_weight=None, *, stride=1, padding=0, params=NeuronParams(), surrogate=SuperSpike()):
        spec = _lif_conv_spec(x, weight, rec_weight, stride, padding, params, surrogate)
        return _one_population(spec, run(spec))

    @denormal_scope
    def dale_dense(x, w_fe, w_fi, w_ie, w_ii, w_re=None, w_ri=None, *, params=DaleParams(), surrogate=SuperSpike()):
        spec = _dale_dense_spec(x, w_fe, w_fi, w_ie, w_ii, w_re, w_ri, params, surrogate)
        return _two_populations(spec, run(spec), w_fe.shape[0])

    @denormal_scope
    def dale_conv(x, w_fe, w_fi, w_ie, w_ii, w_re=None, w_ri=None, *, stride=1, padding=0, params=DaleParams(),
                  surrogate=SuperSpike()):
        spec = _dale_conv_spec(x, w_fe, w_fi, w_ie, w_ii, w_re, w_ri, stride, padding, params, surrogate)
        return _two_populations(spec, run(spec), w_fe.shape[0])

    @denormal_scope
    def readout(inputs, weights, *, params):
        spec = _readout_spec(inputs, weights, params)
        return _shaped(run(spec)[1], spec.shape)

    @denormal_scope
    def lif_current(current, *, params=NeuronParams(), surrogate=SuperSpike()):
        spec = _current_spec(current, params, surrogate)
        return _one_population(spec, run(spec))

    return {"lif_dense": lif_dense, "lif_conv": lif_conv, "dale_dense": dale_dense, "dale_conv": dale_conv,
            "readout": readout, "lif_current": lif_current}


_REFERENCE_OPS = _make_ops(run_reference)


def lif_dense(x, weight, rec_weight=None, *, params=NeuronParams(), surrogate=SuperSpike()):
    """Fully connected (optionally recurrent) LIF layer, eqs. 10-11.

    ``I[n+1] = lambda_syn I[n] + W x[n] + V S[n]``; ``U`` as in eq. 10 (mode
    ``"reset"``) or without threshold and reset (mode ``"free"``: no spikes, ``S = 0``).

    Args:
        x: presynaptic spikes (or any input), shape ``(batch, time, n_in)``, or
            :class:`~fluctinit.sim.events.SpikeEvents` of ``n_in`` units.
        weight: feed-forward weights ``W``, shape ``(n, n_in)`` (threshold units per spike).
        rec_weight: recurrent weights ``V``, shape ``(n, n)``, or None.
        params: :class:`~fluctinit.sim.neuron.NeuronParams` (time constants in s, threshold, mode).
        surrogate: spike non-linearity (:class:`~fluctinit.sim.surrogate.SuperSpike`).

    Returns:
        ``(S, U)``, each ``(batch, time, n)``: spikes ``S[0..T-1]`` and membrane ``U[0..T-1]``.

    Raises:
        ParameterError: shapes that do not fit together.
    """
    return _REFERENCE_OPS["lif_dense"](x, weight, rec_weight, params=params, surrogate=surrogate)


def lif_conv(x, weight, rec_weight=None, *, stride=1, padding=0, params=NeuronParams(), surrogate=SuperSpike()):
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
    return _REFERENCE_OPS["lif_conv"](x, weight, rec_weight, stride=stride, padding=padding, params=params,
                                      surrogate=surrogate)


def dale_dense(x, w_fe, w_fi, w_ie, w_ii, w_re=None, w_ri=None, *, params=DaleParams(), surrogate=SuperSpike()):
    """Fully connected Dale's-law layer, eqs. 10 and 12-19.

    Weights are used as given (the modules keep them non-negative).  With
    ``I^E = I^FE + I^RE - I^IE`` and ``I^I = I^FI + I^RI - I^II`` (eqs. 12-13)::

        I^FE[n+1] = lambda_syn^E I^FE[n] + W^FE x[n]      I^FI[n+1] = lambda_syn^E I^FI[n] + W^FI x[n]
        I^RE[n+1] = lambda_syn^E I^RE[n] + W^RE S^E[n]    I^RI[n+1] = lambda_syn^E I^RI[n] + W^RI S^E[n]
        I^IE[n+1] = lambda_syn^I I^IE[n] + W^IE S^I[n]    I^II[n+1] = lambda_syn^I I^II[n] + W^II S^I[n]

    Currents with the same decay obey one recursion (by linearity), so the E and I populations
    form one layer with an excitatory-decay and an inhibitory-decay current.

    Args:
        x: spikes of the previous layer's excitatory population, ``(batch, time, n_in)``.
        w_fe: input -> E, ``(n_exc, n_in)``.   w_fi: input -> I, ``(n_inh, n_in)``.
        w_ie: I -> E, ``(n_exc, n_inh)``.      w_ii: I -> I, ``(n_inh, n_inh)``.
        w_re: E -> E, ``(n_exc, n_exc)`` or None (no excitatory recurrence).
        w_ri: E -> I, ``(n_inh, n_exc)`` or None (a missing one of ``w_re``, ``w_ri`` is zero).
        params: :class:`~fluctinit.sim.neuron.DaleParams`.  surrogate: spike non-linearity.

    Returns:
        ``(S_E, U_E, S_I, U_I)`` with shapes ``(batch, time, n_exc)`` and ``(batch, time, n_inh)``.
    """
    return _REFERENCE_OPS["dale_dense"](x, w_fe, w_fi, w_ie, w_ii, w_re, w_ri, params=params, surrogate=surrogate)


def dale_conv(x, w_fe, w_fi, w_ie, w_ii, w_re=None, w_ri=None, *, stride=1, padding=0, params=DaleParams(),
              surrogate=SuperSpike()):
    """Convolutional (1-D or 2-D) Dale's-law layer, eqs. 10 and 12-19 with convolutions.

    Feed-forward kernels ``w_fe (C_E, C_in, k...)`` and ``w_fi (C_I, C_in, k...)`` use
    ``stride``/``padding``; recurrent kernels use stride 1 and 'same' padding:
    ``w_ie (C_E, C_I, k...)``, ``w_ii (C_I, C_I, k...)`` (paper: k = 3),
    ``w_re (C_E, C_E, k...)``, ``w_ri (C_I, C_E, k...)`` (paper: k = 5; optional).
    Kernels driven by the same population are zero-padded to a common size and stacked (the
    same convolution).

    Args:
        x: excitatory spikes of the previous layer, ``(batch, time, C_in, *spatial)``.

    Returns:
        ``(S_E, U_E, S_I, U_I)``, shapes ``(batch, time, C_E, *spatial_out)`` and
        ``(batch, time, C_I, *spatial_out)``.
    """
    return _REFERENCE_OPS["dale_conv"](x, w_fe, w_fi, w_ie, w_ii, w_re, w_ri, stride=stride, padding=padding,
                                       params=params, surrogate=surrogate)


def readout(inputs, weights, *, params):
    """Non-spiking leaky readout units: the free membrane of eqs. 10-11.

    ``U[n+1] = lambda_out U[n] + (1 - lambda_out) I[n]``,
    ``I[n+1] = lambda_syn I[n] + sum_k W_k x_k[n]``, ``lambda_out = exp(-dt/tau_out)``;
    several inputs ``x_k`` carry skip connections.

    Args:
        inputs: tensors ``(batch, time, ...)``; each is flattened to ``(batch, time, n_k)``.
        weights: one ``(n_out, n_k)`` matrix per input.
        params: :class:`~fluctinit.sim.neuron.ReadoutParams`.

    Returns:
        ``U[0..T-1]``, shape ``(batch, time, n_out)``.
    """
    return _REFERENCE_OPS["readout"](inputs, weights, params=params)


def lif_current(current, *, params=NeuronParams(), surrogate=SuperSpike()):
    """LIF neurons driven by a given input current ``J`` (eqs. 10-11 with ``W x[n]`` replaced by
    ``J[n]``), e.g. the CIFAR-10 encoder's constant drive (an expanded view costs no memory).

    Args:
        current: ``(batch, time, *neurons)``.
        params, surrogate: as in :func:`lif_dense`.

    Returns:
        ``(S, U)``, each ``(batch, time, *neurons)``.
    """
    return _REFERENCE_OPS["lif_current"](current, params=params, surrogate=surrogate)




# --------------------------------------------------------------------------- backends

#: The operations every backend provides; missing ones fall back to "reference".
OPS = ("lif_dense", "lif_conv", "dale_dense", "dale_conv", "readout", "lif_current")

_BACKENDS: dict[str, dict[str, Callable]] = {
    "reference": {"lif_dense": lif_dense, "lif_conv": lif_conv, "dale_dense": dale_dense, "dale_conv": dale_conv,
                  "readout": readout, "lif_current": lif_current},
}
# The default backend is the fast core (registered below); FLUCTINIT_SIM_BACKEND in the
# environment chooses another one (checked on first use).
_CURRENT = {"backend": os.environ.get("FLUCTINIT_SIM_BACKEND", "fused")}


def register_backend(name: str, ops: Mapping[str, Callable]) -> None:
    """Register a backend: ``ops`` maps names in :data:`OPS` to functions with the
    reference signatures.  Ops it lacks use the reference."""
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
    """The current default backend name (initially ``"fused"``, or ``$FLUCTINIT_SIM_BACKEND``)."""
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


def run_layer(spec: LayerSpec, backend: str | None = None) -> tuple[torch.Tensor | None, torch.Tensor]:
    """Run a layer described directly as a :class:`~fluctinit.sim.projections.LayerSpec` (e.g.
    several given input currents with their own synaptic time constants).

    Returns ``(S, U)``, each ``(batch, time, *spec.shape)``; ``S`` is None in mode ``"free"``.
    ``backend``: ``"reference"`` or ``"fused"`` (default :func:`get_backend`; other registered
    backends run the reference).
    """
    name = _check_backend(get_backend() if backend is None else backend)
    run = _RUNNERS.get(name, run_reference)

    @denormal_scope
    def scoped():
        out = run(spec)
        if out[0] is None:
            return None, _shaped(out[1], spec.shape)
        return _one_population(spec, out)

    return scoped()


def dispatch(op: str, backend: str | None = None) -> Callable:
    """The function implementing ``op`` in ``backend`` (default: :func:`get_backend`).

    This is the one place where modules choose their implementation.
    """
    check("op", op, OneOf(OPS))
    name = _check_backend(get_backend() if backend is None else backend)
    return _BACKENDS[name].get(op, _BACKENDS["reference"][op])


_RUNNERS: dict[str, Callable] = {"reference": run_reference}


def _register_fused() -> None:
    """The fast core (sim._core): the same layer functions with its runner."""
    from . import _core

    _RUNNERS["fused"] = _core.run
    _BACKENDS["fused"] = _make_ops(_core.run)


_register_fused()
