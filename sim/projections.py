"""What distinguishes the layer kinds: their projections onto the neuron's synaptic currents.

Every layer of the simulator -- dense, recurrent, convolutional, Dale's law, readout, with
dense or event input -- is the same neuron (:mod:`fluctinit.sim.neuron`) with one or two
synaptic currents, each fed by

* a feed-forward **input** projection ``J_k[n]``: :class:`DenseInput` (``sum_m x_m[n] W_m^T``,
  several inputs for the readout's skip connections), :class:`ConvInput` (a convolution of
  every frame) or :class:`CurrentInput` (a given current, e.g. the CIFAR-10 encoder's constant
  drive); and
* a **recurrent** projection ``R_k(S[n])``: :class:`DenseRecurrence` (``S[:, source] V^T``) or
  :class:`ConvRecurrence` (a stride-1 'same' convolution of the layer's spikes).

A :class:`LayerSpec` lists them; each backend runs it (the reference loop in sim.lif, the fast
core in sim._core).  Neurons are flattened to ``N = prod(shape)``; a Dale layer concatenates
its E and I populations (E first) along the neuron (dense) or channel (conv) axis, with one
excitatory-decay and one inhibitory-decay current (the latter with negated weights).

The recurrence classes carry both evaluations: :meth:`~DenseRecurrence.apply` (autograd, the
reference) and the in-place forward, input-adjoint and weight-gradient products of the fast
core's hand-written backward pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from .surrogate import SuperSpike

__all__ = [
    "DenseInput",
    "ConvInput",
    "CurrentInput",
    "DenseRecurrence",
    "ConvRecurrence",
    "Component",
    "LayerSpec",
    "conv_frames",
]


def _conv(nd: int):
    return F.conv1d if nd == 1 else F.conv2d


def conv_frames(x: Tensor, weight: Tensor, stride, padding) -> Tensor:
    """Convolution of every frame at once: ``(batch, time, C_in, *S) -> (batch, time, C, *S')``."""
    b, t = x.shape[:2]
    y = _conv(weight.dim() - 2)(x.reshape(b * t, *x.shape[2:]), weight, stride=stride, padding=padding)
    return y.reshape(b, t, *y.shape[1:])


@dataclass(frozen=True)
class DenseInput:
    """``J[n] = sum_m W_m x_m[n]``: inputs ``x_m`` ``(batch, time, ...)`` (flattened to
    ``(batch, time, n_m)``) or :class:`~fluctinit.sim.events.SpikeEvents`, weights ``(N, n_m)``."""

    xs: tuple
    weights: tuple

    def reference(self) -> Tensor:
        from .events import SpikeEvents

        out = None
        for x, w in zip(self.xs, self.weights):
            if isinstance(x, SpikeEvents):
                x = x.to_dense(w.dtype).transpose(0, 1)
            x = x.reshape(x.shape[0], x.shape[1], -1)
            term = (x if x.dtype == w.dtype else x.to(w.dtype)) @ w.t()
            out = term if out is None else out + term
        return out


@dataclass(frozen=True)
class ConvInput:
    """``J[n] = conv(x[n], W; stride, padding)``: ``x`` ``(batch, time, C_in, *space)``,
    ``W`` ``(C, C_in, *kernel)`` (1-D or 2-D by ``W.dim()``)."""

    x: Tensor
    weight: Tensor
    stride: tuple
    padding: tuple

    def reference(self) -> Tensor:
        x = self.x if self.x.dtype == self.weight.dtype else self.x.to(self.weight.dtype)
        y = conv_frames(x, self.weight, self.stride, self.padding)
        return y.reshape(y.shape[0], y.shape[1], -1)


@dataclass(frozen=True)
class CurrentInput:
    """A given input current ``J`` ``(batch, time, *shape)`` (e.g. a constant drive, expanded)."""

    current: Tensor

    def reference(self) -> Tensor:
        j = self.current
        return j.reshape(j.shape[0], j.shape[1], -1)


@dataclass(frozen=True)
class DenseRecurrence:
    """All-to-all recurrent projection ``R(S) = S[:, source] V^T`` (eq. 11, V term).

    ``source``: the neurons driving it (Dale's law: the E or the I population), ``None`` = all;
    ``weight`` ``V`` ``(N, n_source)``.
    """

    weight: Tensor
    source: slice | None = None

    def src(self, s: Tensor) -> Tensor:
        return s if self.source is None else s[:, self.source]

    def apply(self, s: Tensor) -> Tensor:
        """Autograd evaluation (the reference): ``(batch, N)`` spikes -> ``(batch, N)`` input."""
        return self.src(s) @ self.weight.t()

    # the fast core's products (v is the weight, passed in as an autograd input)
    def add_forward(self, out: Tensor, s: Tensor, v: Tensor) -> None:
        out.addmm_(self.src(s), v.t())

    def add_input_grad(self, ds: Tensor, dj: Tensor, v: Tensor) -> None:
        if self.source is None:
            ds.addmm_(dj, v)
        else:
            ds[:, self.source].addmm_(dj, v)

    def weight_grad(self, dj_all: Tensor, s_all: Tensor, v: Tensor) -> Tensor:
        """``dV = sum_n dJ[n]^T S[n, source]``; ``dj_all``, ``s_all`` ``(time * batch, N)``."""
        return dj_all.t().mm(self.src(s_all))


@dataclass(frozen=True)
class ConvRecurrence:
    """Convolutional recurrent projection (recurrent CSNNs): a stride-1 convolution with
    ``padding = kernel // 2`` over the layer's ``(C, *space)`` neurons, so the shape is kept.

    ``weight`` ``(C, C_source, *kernel)`` with odd kernel sizes; ``source``: the driving
    channels (Dale's law: E or I), ``None`` = all; ``shape``: the layer's ``(C, *space)``.
    """

    weight: Tensor
    shape: tuple
    source: slice | None = None

    def _pad(self, v: Tensor) -> tuple:
        return tuple(k // 2 for k in v.shape[2:])

    def _src(self, s: Tensor) -> Tensor:
        s = s.view(s.shape[0], *self.shape)
        return s if self.source is None else s[:, self.source]

    def apply(self, s: Tensor) -> Tensor:
        v = self.weight
        return _conv(len(self.shape) - 1)(self._src(s), v, padding=self._pad(v)).reshape(s.shape[0], -1)

    def add_forward(self, out: Tensor, s: Tensor, v: Tensor) -> None:
        j = _conv(len(self.shape) - 1)(self._src(s), v, padding=self._pad(v))
        out.add_(j.view(out.shape))

    def add_input_grad(self, ds: Tensor, dj: Tensor, v: Tensor) -> None:
        g = torch.nn.grad.conv1d_input if len(self.shape) == 2 else torch.nn.grad.conv2d_input
        target = self._src(ds)
        target.add_(g(tuple(target.shape), v, dj.view(dj.shape[0], *self.shape), padding=self._pad(v)))

    def weight_grad(self, dj_all: Tensor, s_all: Tensor, v: Tensor) -> Tensor:
        g = torch.nn.grad.conv1d_weight if len(self.shape) == 2 else torch.nn.grad.conv2d_weight
        return g(self._src(s_all), v.shape, dj_all.view(s_all.shape[0], *self.shape), padding=self._pad(v))


Input = Union[DenseInput, ConvInput, CurrentInput]
Recurrence = Union[DenseRecurrence, ConvRecurrence]


@dataclass(frozen=True)
class Component:
    """One synaptic current ``I_k[n+1] = lambda_syn I_k[n] + J_k[n] + R_k(S[n])``.

    ``input``: the feed-forward projection or ``None``; ``recurrence``: the recurrent one or ``None``.
    """

    lambda_syn: float
    input: Input | None = None
    recurrence: Recurrence | None = None


@dataclass(frozen=True)
class LayerSpec:
    """A layer for a backend to run: the neuron's parameters and its synaptic currents.

    Attributes:
        shape: neuron shape, ``(N,)`` or ``(C, *space)`` (flattened inside the scans).
        components: the synaptic currents (:class:`Component`); at least one has an input.
        lambda_mem: ``exp(-dt/tau_mem)``: a float, or ``((count, value), ...)`` runs along the
            flattened neurons (Dale's law: E then I).
        theta, mode, surrogate: threshold, ``"reset"`` / ``"free"``, spike non-linearity.
    """

    shape: tuple
    components: tuple
    lambda_mem: float | tuple
    theta: float
    mode: str
    surrogate: SuperSpike

    @property
    def n(self) -> int:
        return math.prod(self.shape)

    def lambda_mem_tensor(self, like: Tensor) -> float | Tensor:
        """``lambda_mem`` as a float or an ``(N,)`` tensor of ``like``'s dtype and device."""
        if not isinstance(self.lambda_mem, tuple):
            return self.lambda_mem
        parts = [torch.full((int(c),), float(v), dtype=like.dtype, device=like.device) for c, v in self.lambda_mem]
        return torch.cat(parts)


def per_channel_runs(counts: Sequence[int], values: Sequence[float], per_channel: int) -> tuple:
    """``((count * per_channel, value), ...)``: per-population ``lambda_mem`` runs for
    :attr:`LayerSpec.lambda_mem` (a conv layer has ``per_channel`` neurons per channel)."""
    return tuple((int(c) * per_channel, float(v)) for c, v in zip(counts, values))
