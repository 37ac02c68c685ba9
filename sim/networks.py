"""A network container: hidden LIF layers, optional pooling and skip connections, a readout.

Architecture (paper section 4.2): hidden layers in sequence; with ``pool=True``
a 2x2 max pooling (on the spikes) after every second hidden layer (2-D
convolutional networks, table 6); a non-spiking :class:`~fluctinit.sim.layers.Readout`
that receives the (flattened) output of the last hidden layer and, with
``skip=True``, a trainable all-to-all skip connection from every other hidden
layer (supplementary figure S10).  What a layer passes on -- and what a skip
connection carries -- is its output after pooling; for a Dale layer that is
its excitatory population.  A fully connected layer after a convolutional one
receives the flattened ``(batch, time, C * prod(spatial))`` spikes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fluctinit.errors import Interval, ParameterError, check

from .events import SpikeEvents
from .dale import DaleConv2d, DaleDense, _DaleBase
from .layers import LayerOutput, LIFConv2d, LIFDense, Readout

__all__ = ["Network", "NetworkOutput"]


@dataclass
class NetworkOutput:
    """What :class:`Network` returns.

    Attributes:
        output: readout membrane potentials ``U_out``, ``(batch, time, n_out)`` (None where
            ``forward`` ran only some hidden layers).
        layers: one :class:`~fluctinit.sim.layers.LayerOutput` per hidden layer (before pooling).
    """

    output: torch.Tensor | None
    layers: list[LayerOutput]

    @property
    def spikes(self) -> list[torch.Tensor]:
        """Every hidden layer's output spikes ``(batch, time, *neurons)`` (E population for Dale layers)."""
        return [rec.spikes for rec in self.layers]


def _pool2x2(s: torch.Tensor) -> torch.Tensor:
    """2x2 max pooling (stride 2) of ``(batch, time, C, H, W)`` over H and W."""
    b, t = s.shape[:2]
    y = F.max_pool2d(s.reshape(b * t, *s.shape[2:]), kernel_size=2)
    return y.reshape(b, t, *y.shape[1:])


class Network(nn.Module):
    """Hidden LIF layers followed by a leaky readout.

    Args:
        layers: hidden layers (modules of :mod:`fluctinit.sim.layers`), applied in order.
        n_out: number of readout units.
        input_shape: neuron shape of one input time step, e.g. ``(700,)`` or ``(2, 32, 32)``.
        tau_out: readout membrane time constant (s); the paper uses the stimulus duration.
        tau_syn_out: readout synaptic time constant (s); default 10 ms.
        dt: time step (s); default: that of the first layer (all layers must share it).
        skip: add trainable skip connections from every hidden layer except the last to the readout.
        pool: 2x2 max pooling after every second hidden layer (needs 2-D convolutional layers).
        options: ``backend``, ``generator``, ``dtype``, ``device`` of the readout (see
            :class:`~fluctinit.sim.layers.Readout`).

    ``forward(x)`` with ``x`` of shape ``(batch, time, *input_shape)`` returns a
    :class:`NetworkOutput`.

    Raises:
        ParameterError: empty ``layers``, shapes that do not chain, mixed ``dt``,
            ``pool`` with non-2-D layers.
    """

    def __init__(
        self,
        layers: Sequence[nn.Module],
        n_out: int,
        *,
        input_shape: Sequence[int],
        tau_out: float,
        tau_syn_out: float = 10e-3,
        dt: float | None = None,
        skip: bool = False,
        pool: bool = False,
        **options,
    ) -> None:
        super().__init__()
        layers = list(layers)
        if not layers:
            raise ParameterError("`layers` must be a non-empty sequence of hidden layers; got []", ["layers"], [[]])
        dts = {float(layer.params.dt) for layer in layers}
        if dt is None:
            dt = float(layers[0].params.dt)
        dt = check("dt", dt, Interval(0.0, None))
        if dts != {dt}:
            raise ParameterError(
                f"`dt` must be the same in every layer and the readout; got {sorted(dts | {dt})!r}", ["dt"], [dt]
            )
        if pool and not all(isinstance(layer, (LIFConv2d, DaleConv2d)) for layer in layers):
            raise ParameterError(
                "`pool` must be False unless every hidden layer is 2-D convolutional; got True", ["pool"], [pool]
            )
        self.hidden = nn.ModuleList(layers)
        self.skip = bool(skip)
        self.pool = bool(pool)
        self.input_shape = tuple(int(n) for n in input_shape)
        shape = self.input_shape
        self.output_shapes: list[tuple[int, ...]] = []  # what each layer passes on (after pooling)
        self._flatten: list[bool] = []  # flatten the input of a dense layer that follows a conv layer
        for k, layer in enumerate(layers):
            flatten = isinstance(layer, (LIFDense, DaleDense)) and len(shape) > 1
            self._flatten.append(flatten)
            if flatten:
                shape = (math.prod(shape),)
            try:
                shape = tuple(layer.output_shape(shape))
            except ParameterError as err:
                raise ParameterError(
                    f"`layers` must chain: layer {k} ({type(layer).__name__}) does not accept input {shape!r} "
                    f"({err})", ["layers"], [k]
                ) from err
            if self.pool and k % 2 == 1:
                c, h, w = shape
                if h < 2 or w < 2:
                    raise ParameterError(f"`pool` leaves no pixels after layer {k} (shape {shape!r})", ["pool"], [pool])
                shape = (c, h // 2, w // 2)
            self.output_shapes.append(shape)
        feats = [math.prod(s) for s in self.output_shapes]
        n_in = feats if self.skip else feats[-1:]
        self.readout = Readout(n_in, n_out, tau_out=tau_out, tau_syn=tau_syn_out, dt=dt, **options)

    @property
    def n_out(self) -> int:
        return self.readout.n_out

    def readout_sources(self) -> list[int]:
        """Indices of the hidden layers feeding the readout (in the order of ``readout.weights``)."""
        n = len(self.hidden)
        return list(range(n)) if self.skip else [n - 1]

    @torch.no_grad()
    def apply_constraints_(self) -> None:
        """Project every Dale layer's weights onto >= 0 (call after each optimizer step)."""
        for layer in self.hidden:
            if isinstance(layer, _DaleBase):
                layer.apply_constraints_()

    def passed_on(self, k: int, spikes: torch.Tensor) -> torch.Tensor:
        """What hidden layer ``k`` passes on given its output ``spikes``: pooled after every
        second layer with ``pool``, else the spikes themselves (the next layer's input, before
        any flattening)."""
        return _pool2x2(spikes) if self.pool and k % 2 == 1 else spikes

    def forward(self, x: torch.Tensor, *, upto: int | None = None,
                known: Sequence[LayerOutput] = ()) -> NetworkOutput:
        """Run the network on ``x``.  ``upto``: run only the first ``upto`` hidden layers, no
        readout (``output`` is None).  ``known``: the first ``len(known)`` layers' outputs on
        this ``x``, from an earlier call whose weights they still have, taken as they are
        instead of recomputed (layer-by-layer initialization runs each layer once)."""
        if isinstance(x, SpikeEvents):
            # events (e.g. from a data loader; logical shape (time, batch, n_in)) reach a first
            # dense layer as they are; anything else gets the dense tensor
            if (x.shape[2],) != self.input_shape:
                raise ParameterError(
                    f"`x` must be events of {', '.join(map(str, self.input_shape))} input units; "
                    f"got {x.shape[2]}", ["x"], [x.shape]
                )
            first_dense = len(self.hidden) > 0 and isinstance(self.hidden[0], (LIFDense, DaleDense))
            if not (first_dense and not self._flatten[0]):
                x = x.to_dense().transpose(0, 1)
        elif not isinstance(x, torch.Tensor) or tuple(x.shape[2:]) != self.input_shape or x.dim() < 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else x
            raise ParameterError(
                f"`x` must be a tensor of shape (batch, time, {', '.join(map(str, self.input_shape))}); "
                f"got shape {shape!r}", ["x"], [shape]
            )
        records: list[LayerOutput] = []
        passed: list[torch.Tensor] = []
        h = x
        n = len(self.hidden) if upto is None else int(upto)
        for k, layer in enumerate(self.hidden[:n]):
            if k < len(known):
                rec = known[k]
            else:
                if self._flatten[k]:
                    h = h.reshape(h.shape[0], h.shape[1], -1)
                rec = layer(h)
            records.append(rec)
            h = self.passed_on(k, rec.spikes)
            passed.append(h)
        if upto is not None:
            return NetworkOutput(None, records)
        sources = [passed[k] for k in self.readout_sources()]
        return NetworkOutput(self.readout(*sources), records)
