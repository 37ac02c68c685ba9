"""Checking a layer function's arguments and describing the layer as a LayerSpec.

One builder per layer kind of :mod:`fluctinit.sim.lif`: the arguments are checked once (every
error names the argument: "`name` must be ...; got ..."), then the layer becomes the neuron of
:mod:`fluctinit.sim.neuron` with its projections (:mod:`fluctinit.sim.projections`).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

from fluctinit.errors import ParameterError

from .events import SpikeEvents, batch_major
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

__all__ = ["lif_dense_spec", "lif_conv_spec", "dale_dense_spec", "dale_conv_spec", "readout_spec", "current_spec"]


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
        return x if dims == 3 else batch_major(x)
    _check_input(x, dims, what)
    return x


def _n_in(x) -> int:
    return x.shape[2]


def lif_dense_spec(x, weight, rec_weight, params: NeuronParams, surrogate: SuperSpike) -> LayerSpec:
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


def lif_conv_spec(x, weight, rec_weight, stride, padding, params: NeuronParams, surrogate: SuperSpike) -> LayerSpec:
    x = batch_major(x)
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


def dale_dense_spec(x, w_fe, w_fi, w_ie, w_ii, w_re, w_ri, params: DaleParams, surrogate: SuperSpike) -> LayerSpec:
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


def dale_conv_spec(x, w_fe, w_fi, w_ie, w_ii, w_re, w_ri, stride, padding, params: DaleParams,
                    surrogate: SuperSpike) -> LayerSpec:
    x = batch_major(x)
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


def readout_spec(inputs, weights, params: ReadoutParams) -> LayerSpec:
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


def current_spec(current, params: NeuronParams, surrogate: SuperSpike) -> LayerSpec:
    _check_tensor("current", current)
    if current.dim() < 3:
        raise _shape_error("current", current, "a tensor (batch, time, *neurons)")
    comp = Component(params.lambda_syn, CurrentInput(current))
    return LayerSpec(tuple(current.shape[2:]), (comp,), params.lambda_mem, params.theta, params.mode, surrogate)
