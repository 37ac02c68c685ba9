"""LIF layers as ``torch.nn.Module`` s (paper section 4.2).

Each module holds its weights and parameters and calls one layer function of
:mod:`fluctinit.sim.lif` through :func:`~fluctinit.sim.lif.dispatch`, so the
implementation (backend) can be switched without touching the modules:
``layer.backend = "reference"`` for one layer, or
``fluctinit.sim.set_backend(...)`` / ``use_backend(...)`` for all layers whose
``backend`` is None.

Inputs are ``(batch, time, ...)``; hidden layers return a :class:`LayerOutput`.
Weights are created in the layer's dtype/device and filled with Kaiming
normal weights (eq. 56: ``N(0, 2/fan_in)``; the folded ``|N(0, 2/fan_in)|``
for Dale layers) as a neutral start; use :mod:`fluctinit.sim.init`
(e.g. :func:`~fluctinit.sim.init.init_network_`) for the paper's
initializations.  ``fan_in`` of a convolution is ``in_channels * prod(kernel)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from fluctinit.errors import Integer, OneOf, ParameterError, check

from . import lif
from .neuron import NeuronParams, ReadoutParams
from .surrogate import SuperSpike

__all__ = [
    "LayerOutput",
    "LIFDense",
    "LIFConv1d",
    "LIFConv2d",
    "Readout",
    "conv_output_size",
]

_SIZE = Integer(1)
_PAD = Integer(0)
_ODD_KERNEL = Integer(1)


@dataclass
class LayerOutput:
    """What a hidden layer returns.

    Attributes:
        spikes: output spikes (the excitatory population for Dale layers), ``(batch, time, *neurons)``.
        membrane: membrane potentials of the same neurons, same shape.
        spikes_inh, membrane_inh: the inhibitory population of a Dale layer, else None.

    :func:`fluctinit.sim.spike_counts` counts ``spikes`` (reusing the fast core's count where it
    made one); every gradient of the loss with respect to the spikes flows through ``spikes``.
    """

    spikes: torch.Tensor
    membrane: torch.Tensor
    spikes_inh: torch.Tensor | None = None
    membrane_inh: torch.Tensor | None = None


def _kaiming(w: torch.Tensor, generator: torch.Generator | None, folded: bool = False) -> None:
    with torch.no_grad():
        nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu", generator=generator)
        if folded:
            w.abs_()


def _tuple(name: str, value, nd: int, constraint: Integer) -> tuple[int, ...]:
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * nd
    if len(values) != nd:
        raise ParameterError(f"`{name}` must be an int or a tuple of {nd} ints; got {value!r}", [name], [value])
    for v in values:
        if not constraint.contains(v):
            raise ParameterError(
                f"`{name}` must be {constraint.describe()} (or a tuple of them); got {value!r}", [name], [value]
            )
    return tuple(int(v) for v in values)


def _odd(name: str, value, nd: int) -> tuple[int, ...]:
    ks = _tuple(name, value, nd, _ODD_KERNEL)
    if any(k % 2 == 0 for k in ks):
        raise ParameterError(f"`{name}` must be an odd integer >= 1 (same padding); got {value!r}", [name], [value])
    return ks


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution: ``floor((size + 2*padding - kernel) / stride) + 1``."""
    return (size + 2 * padding - kernel) // stride + 1


#: the construction options every spiking layer takes besides its sizes and time constants,
#: with their defaults (documented once, at :class:`LIFDense`)
LAYER_OPTIONS = {"theta": 1.0, "mode": "reset", "surrogate": SuperSpike(), "backend": None, "generator": None,
                 "dtype": None, "device": None}


#: the options of the (non-spiking) readout and of a network, which passes them on to it
READOUT_OPTIONS = ("backend", "generator", "dtype", "device")


def _options(options: dict, names=tuple(LAYER_OPTIONS)) -> dict:
    """The ``**options`` of a constructor (among ``names``) with their defaults; others are rejected."""
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ParameterError(
            f"`{unknown[0]}` is not an option of this layer; the options are {', '.join(names)}",
            unknown, [options[k] for k in unknown],
        )
    return {**{k: LAYER_OPTIONS[k] for k in names}, **options}


class _Layer(nn.Module):
    """Shared bits: parameters, surrogate and backend choice; the geometry of conv layers."""

    backend: str | None
    _nd: int = 1

    def _op(self, name: str):
        return lif.dispatch(name, self.backend)

    def _setup(self, params, surrogate: SuperSpike, backend: str | None) -> None:
        self.params = params
        self.surrogate = surrogate
        if backend is not None:
            check("backend", backend, OneOf(lif.available_backends()))
        self.backend = backend

    def _setup_conv(self, in_channels, kernel_size, stride, padding) -> None:
        """Check and keep the feed-forward geometry of a ``_nd``-dimensional conv layer."""
        self.in_channels = check("in_channels", in_channels, _SIZE)
        self.kernel_size = _tuple("kernel_size", kernel_size, self._nd, _SIZE)
        self.stride = _tuple("stride", stride, self._nd, _SIZE)
        self.padding = _tuple("padding", padding, self._nd, _PAD)

    def _conv_output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """``(out_channels, *spatial_out)`` for an input ``(in_channels, *spatial)``."""
        shape = tuple(input_shape)
        if len(shape) != self._nd + 1 or shape[0] != self.in_channels:
            raise ParameterError(
                f"`input_shape` must be ({self.in_channels}, {'L' if self._nd == 1 else 'H, W'}); got {shape!r}",
                ["input_shape"], [input_shape],
            )
        spatial = tuple(
            conv_output_size(n, k, s, p)
            for n, k, s, p in zip(shape[1:], self.kernel_size, self.stride, self.padding)
        )
        if min(spatial) < 1:
            raise ParameterError(f"`input_shape` {shape!r} is too small for the kernel", ["input_shape"], [shape])
        return (self.out_channels, *spatial)

    def _conv_fan_in(self) -> int:
        """Feed-forward inputs per neuron of a conv layer: ``in_channels * prod(kernel_size)``."""
        return self.in_channels * math.prod(self.kernel_size)

    def _dense_output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        if tuple(input_shape) != (self.n_in,):
            raise ParameterError(
                f"`input_shape` must be ({self.n_in},); got {tuple(input_shape)!r}", ["input_shape"], [input_shape]
            )
        return (self.n_out,)


class _LIFWeights(_Layer):
    """A LIF layer's weights ``weight`` and optional ``rec_weight``: default values and recurrence."""

    @property
    def recurrent(self) -> bool:
        return self.rec_weight is not None

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Kaiming normal weights (eq. 56), a neutral default."""
        _kaiming(self.weight, generator)
        if self.rec_weight is not None:
            _kaiming(self.rec_weight, generator)


class LIFDense(_LIFWeights):
    """Fully connected LIF layer (eqs. 10-11), optionally recurrent.

    Args:
        n_in: number of inputs.  n_out: number of neurons.
        recurrent: add recurrent weights ``V`` of shape ``(n_out, n_out)``.
        tau_mem, tau_syn, dt: time constants and time step (s).  theta: threshold.
        mode: ``"reset"`` or ``"free"`` (free membrane: no threshold, no reset).
        surrogate: spike non-linearity (default SuperSpike, beta = 20).
        backend: implementation name, or None for the global default.
        generator: for the default (Kaiming) weights.  dtype, device: of the weights.

    Shapes: input ``(batch, time, n_in)``; output :class:`LayerOutput` with
    ``(batch, time, n_out)`` tensors.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        *,
        recurrent: bool = False,
        tau_mem: float = 20e-3,
        tau_syn: float = 10e-3,
        dt: float = 2e-3,
        theta: float = 1.0,
        mode: str = "reset",
        surrogate: SuperSpike = SuperSpike(),
        backend: str | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.n_in = check("n_in", n_in, _SIZE)
        self.n_out = check("n_out", n_out, _SIZE)
        self._setup(NeuronParams(tau_mem=tau_mem, tau_syn=tau_syn, dt=dt, theta=theta, mode=mode), surrogate, backend)
        kw = {"dtype": dtype, "device": device}
        self.weight = nn.Parameter(torch.empty(self.n_out, self.n_in, **kw))
        self.rec_weight = nn.Parameter(torch.empty(self.n_out, self.n_out, **kw)) if recurrent else None
        self.reset_parameters(generator)

    @property
    def fan_in(self) -> int:
        """Number of feed-forward inputs per neuron."""
        return self.n_in

    @property
    def fan_in_rec(self) -> int | None:
        """Number of recurrent inputs per neuron (None if not recurrent)."""
        return self.n_out if self.recurrent else None

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """Neuron shape of the output given the input's neuron shape ``(n_in,)``."""
        return self._dense_output_shape(input_shape)

    def forward(self, x: torch.Tensor) -> LayerOutput:
        """``x`` ``(batch, time, n_in)`` or spike events (``SpikeEvents``)."""
        s, u = self._op("lif_dense")(x, self.weight, self.rec_weight, params=self.params, surrogate=self.surrogate)
        return LayerOutput(s, u)

    def extra_repr(self) -> str:
        return f"n_in={self.n_in}, n_out={self.n_out}, recurrent={self.recurrent}, params={self.params}"


class _LIFConv(_LIFWeights):

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride,
        padding,
        *,
        recurrent: bool = False,
        rec_kernel_size=5,
        tau_mem: float = 20e-3,
        tau_syn: float = 10e-3,
        dt: float = 2e-3,
        **options,
    ) -> None:
        super().__init__()
        opt = _options(options)
        self._setup_conv(in_channels, kernel_size, stride, padding)
        self.out_channels = check("out_channels", out_channels, _SIZE)
        self.rec_kernel_size = _odd("rec_kernel_size", rec_kernel_size, self._nd)
        self._setup(NeuronParams(tau_mem=tau_mem, tau_syn=tau_syn, dt=dt, theta=opt["theta"], mode=opt["mode"]),
                    opt["surrogate"], opt["backend"])
        kw = {"dtype": opt["dtype"], "device": opt["device"]}
        self.weight = nn.Parameter(torch.empty(self.out_channels, self.in_channels, *self.kernel_size, **kw))
        self.rec_weight = (
            nn.Parameter(torch.empty(self.out_channels, self.out_channels, *self.rec_kernel_size, **kw))
            if recurrent else None
        )
        self.reset_parameters(opt["generator"])

    @property
    def fan_in(self) -> int:
        """Inputs per neuron: ``in_channels * prod(kernel_size)``."""
        return self._conv_fan_in()

    @property
    def fan_in_rec(self) -> int | None:
        """Recurrent inputs per neuron: ``out_channels * prod(rec_kernel_size)`` (None if not recurrent)."""
        return self.out_channels * math.prod(self.rec_kernel_size) if self.recurrent else None

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """``(out_channels, *spatial_out)`` for an input ``(in_channels, *spatial)``."""
        return self._conv_output_shape(input_shape)

    def forward(self, x: torch.Tensor) -> LayerOutput:
        s, u = self._op("lif_conv")(
            x, self.weight, self.rec_weight,
            stride=self.stride, padding=self.padding, params=self.params, surrogate=self.surrogate,
        )
        return LayerOutput(s, u)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, recurrent={self.recurrent}, params={self.params}"
        )


class LIFConv1d(_LIFConv):
    """1-D convolutional LIF layer (eqs. 10-11 with convolutions), optionally recurrent.

    Defaults follow the deep SHD networks of table 5 (kernel 5, stride 2,
    padding 2); recurrent kernel 5, stride 1, 'same' padding.
    Input ``(batch, time, in_channels, L)``; output ``(batch, time, out_channels, L_out)``
    with ``L_out = floor((L + 2 padding - kernel) / stride) + 1``.
    Other arguments as :class:`LIFDense`.
    """

    _nd = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size=5, stride=2, padding=2, **kwargs) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, **kwargs)


class LIFConv2d(_LIFConv):
    """2-D convolutional LIF layer, optionally recurrent.

    Defaults follow table 6 (kernel 3x3, stride 1, padding 2); recurrent
    kernel 5x5, stride 1, 'same' padding.  Input ``(batch, time, in_channels, H, W)``.
    Other arguments as :class:`LIFDense`.
    """

    _nd = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3, stride=1, padding=2, **kwargs) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, **kwargs)


class Readout(_Layer):
    """Non-spiking leaky readout units with one weight matrix per input (skip connections).

    Args:
        n_in: number of features of each input (an int, or a sequence for several inputs).
        n_out: number of readout units.
        tau_out: readout membrane time constant (s); the paper uses the stimulus duration.
        tau_syn, dt: synaptic time constant and time step (s).
        options: ``backend``, ``generator``, ``dtype``, ``device`` as :class:`LIFDense`.

    ``forward(*inputs)`` takes one ``(batch, time, ...)`` tensor per input (flattened to
    ``(batch, time, n_in[k])``) and returns ``U`` of shape ``(batch, time, n_out)``.
    Weights ``weights[k]`` have shape ``(n_out, n_in[k])`` and are not sign constrained.
    """

    def __init__(
        self,
        n_in: int | Sequence[int],
        n_out: int,
        *,
        tau_out: float,
        tau_syn: float = 10e-3,
        dt: float = 2e-3,
        **options,
    ) -> None:
        super().__init__()
        opt = _options(options, READOUT_OPTIONS)
        sizes = (n_in,) if not isinstance(n_in, (tuple, list)) else tuple(n_in)
        if len(sizes) == 0:
            raise ParameterError(f"`n_in` must be a positive int or a non-empty sequence of them; got {n_in!r}",
                                 ["n_in"], [n_in])
        self.n_in = tuple(check("n_in", n, _SIZE) for n in sizes)
        self.n_out = check("n_out", n_out, _SIZE)
        self._setup(ReadoutParams(tau_out=tau_out, tau_syn=tau_syn, dt=dt), None, opt["backend"])
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.empty(self.n_out, n, dtype=opt["dtype"], device=opt["device"])) for n in self.n_in]
        )
        self.reset_parameters(opt["generator"])

    @property
    def fan_in(self) -> int:
        """Total number of inputs per readout unit (all inputs together)."""
        return sum(self.n_in)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Kaiming normal weights with the total fan-in (eq. 56)."""
        std = math.sqrt(2.0 / self.fan_in)
        with torch.no_grad():
            for w in self.weights:
                w.normal_(0.0, std, generator=generator)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        if len(inputs) != len(self.weights):
            raise ParameterError(
                f"`inputs` must be {len(self.weights)} tensor(s); got {len(inputs)}", ["inputs"], [len(inputs)]
            )
        return self._op("readout")(list(inputs), list(self.weights), params=self.params)

    def extra_repr(self) -> str:
        return f"n_in={self.n_in}, n_out={self.n_out}, params={self.params}"
