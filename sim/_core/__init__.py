"""The fast core: runs a layer (a :class:`~fluctinit.sim.projections.LayerSpec`) with fused time
loops and a hand-written BPTT; registered as the simulator's ``"fused"`` backend (sim.lif).

* the input projections are computed before the loop, time-major: dense products or
  event-driven gathers (:mod:`.events`, chosen by the measured density), convolutions of every
  frame at once, or a given current;
* the loop and its adjoint run in :mod:`.scan` -- the compiled CPU kernels (:mod:`.compiled`,
  numba) or the torch-op step (:mod:`.torchops`, what CUDA runs);
* a feed-forward layer whose input needs no gradient (data, e.g. events from a data loader)
  takes its input as events inside the compiled loop instead (:func:`~.scan.event_scan`):
  no ``J`` and ``dJ`` buffers, ``dW`` from the events (SHD: ~3 % of the 2 ms bins hold a spike).

It computes exactly the reference's values and gradients (tests/test_fused_*.py compare them in
float64 on every path).  The public entry is the layer functions of sim.lif with the backend
``"fused"``; :func:`run` is what they call.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..events import SpikeEvents
from ..projections import ConvInput, CurrentInput, DenseInput, LayerSpec
from . import compiled as _cpu
from .events import PROJECTION_MODES, project
from .scan import ScanExtras, event_scan, lif_scan

__all__ = ["run", "PROJECTION_MODES", "EVENT_INPUT_MAX_DENSITY", "ScanExtras"]

# Up to this input density the event-input scan (weight rows added per input event inside the
# compiled kernel) beats a dense product plus the stored current; measured on the 2-core machine
# (benchmarks/bench_core.py): Randman (1 %) and SHD (3 %) inputs are far below it.
EVENT_INPUT_MAX_DENSITY = 0.1
# A dense tensor is turned into events (one scan of it) only for layers at least this wide:
# the scan costs about as much as a dense product with ~200 outputs.  Measured at 2 % input
# density, free membrane, 2 cores: 10 and 20 outputs (a readout) 6x and 4x slower through
# events, 128 outputs even (SHD) to 1.2x faster (Randman), 512 outputs 2.5x faster.
EVENT_INPUT_MIN_WIDTH = 64

#: how dense inputs are projected: "auto" (by measured density), "dense" or "sparse"
_PROJECTION = {"mode": "auto"}


def _time_major(x: Tensor) -> Tensor:
    return x.transpose(0, 1)


def _event_input(spec: LayerSpec):
    """``(EventInput, weight)`` when the event-input scan applies: one current, no recurrence,
    one input that needs no gradient (events, or a dense tensor for a layer of at least
    :data:`EVENT_INPUT_MIN_WIDTH` neurons), compiled CPU kernels, density up to
    :data:`EVENT_INPUT_MAX_DENSITY` (``"auto"``); else None."""
    mode = _PROJECTION["mode"]
    if len(spec.components) != 1 or mode == "dense" or isinstance(spec.lambda_mem, tuple):
        return None
    comp = spec.components[0]
    if comp.recurrence is not None or not isinstance(comp.input, DenseInput) or len(comp.input.xs) != 1:
        return None
    x, weight = comp.input.xs[0], comp.input.weights[0]
    if not _cpu.usable(weight):
        return None
    if isinstance(x, SpikeEvents):
        if x.dense is not None or x.device.type != "cpu":
            return None
        if mode == "auto" and x.density > EVENT_INPUT_MAX_DENSITY:
            return None
        return _cpu.EventInput.from_events(x), weight
    if x.requires_grad or x.device.type != "cpu" or x.dim() != 3 or weight.shape[0] < EVENT_INPUT_MIN_WIDTH:
        return None
    inp = _cpu.EventInput.from_dense(x, max_density=EVENT_INPUT_MAX_DENSITY if mode == "auto" else None)
    return None if inp is None else (inp, weight)


def _current(inp) -> Tensor:
    """An input projection's current ``J``, time-major ``(T, B, N)``."""
    if isinstance(inp, DenseInput):
        j = None
        for x, w in zip(inp.xs, inp.weights):
            if isinstance(x, SpikeEvents):
                term = project(x, w, mode=_PROJECTION["mode"])
            else:
                x = x.reshape(x.shape[0], x.shape[1], -1)
                term = project(_time_major(x if x.dtype == w.dtype else x.to(w.dtype)), w, mode=_PROJECTION["mode"])
            j = term if j is None else j + term
        return j
    if isinstance(inp, ConvInput):
        x = inp.x if inp.x.dtype == inp.weight.dtype else inp.x.to(inp.weight.dtype)
        b, t = x.shape[:2]
        frames = _time_major(x).reshape(t * b, *x.shape[2:])
        conv = torch.nn.functional.conv1d if inp.weight.dim() == 3 else torch.nn.functional.conv2d
        return conv(frames, inp.weight, stride=inp.stride, padding=inp.padding).reshape(t, b, -1)
    if isinstance(inp, CurrentInput):
        j = inp.current
        return _time_major(j).reshape(j.shape[1], j.shape[0], -1)
    raise TypeError(f"unknown input projection {type(inp).__name__}")


def run(spec: LayerSpec) -> tuple[Tensor | None, Tensor, ScanExtras]:
    """Run a layer: ``(S, U, extras)`` with ``S``, ``U`` ``(batch, time, N)`` (transposed views of
    time-major storage; ``S`` None in mode "free") and the scan's by-products."""
    spiking = spec.mode == "reset"
    sur = dict(theta=spec.theta, spiking=spiking, beta=spec.surrogate.beta, rescaled=spec.surrogate.rescaled)
    ev = _event_input(spec)
    if ev is not None:
        s, u, extras = event_scan(ev[0], ev[1], lambda_mem=spec.lambda_mem,
                                  lambda_syn=spec.components[0].lambda_syn, **sur)
    else:
        js = [None if c.input is None else _current(c.input) for c in spec.components]
        ref = next(j for j in js if j is not None)
        s, u, extras = lif_scan(js, [c.lambda_syn for c in spec.components], [c.recurrence for c in spec.components],
                                lambda_mem=spec.lambda_mem_tensor(ref), **sur)
    return (None if s is None else s.transpose(0, 1)), u.transpose(0, 1), extras
