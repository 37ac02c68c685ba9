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
import os
from typing import Callable, Iterator, Mapping

import torch

from fluctinit.errors import OneOf, ParameterError, check

from . import _specs, activity, neuron
from .denormal import denormal_scope
from .neuron import DaleParams, NeuronParams
from .projections import (
    LayerSpec,
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
        spec = _specs.lif_dense_spec(x, weight, rec_weight, params, surrogate)
        return _one_population(spec, run(spec))

    @denormal_scope
    def lif_conv(x, weight, rec_weight=None, *, stride=1, padding=0, params=NeuronParams(), surrogate=SuperSpike()):
        spec = _specs.lif_conv_spec(x, weight, rec_weight, stride, padding, params, surrogate)
        return _one_population(spec, run(spec))

    @denormal_scope
    def dale_dense(x, w_fe, w_fi, w_ie, w_ii, w_re=None, w_ri=None, *, params=DaleParams(), surrogate=SuperSpike()):
        spec = _specs.dale_dense_spec(x, w_fe, w_fi, w_ie, w_ii, w_re, w_ri, params, surrogate)
        return _two_populations(spec, run(spec), w_fe.shape[0])

    @denormal_scope
    def dale_conv(x, w_fe, w_fi, w_ie, w_ii, w_re=None, w_ri=None, *, stride=1, padding=0, params=DaleParams(),
                  surrogate=SuperSpike()):
        spec = _specs.dale_conv_spec(x, w_fe, w_fi, w_ie, w_ii, w_re, w_ri, stride, padding, params, surrogate)
        return _two_populations(spec, run(spec), w_fe.shape[0])

    @denormal_scope
    def readout(inputs, weights, *, params):
        spec = _specs.readout_spec(inputs, weights, params)
        return _shaped(run(spec)[1], spec.shape)

    @denormal_scope
    def lif_current(current, *, params=NeuronParams(), surrogate=SuperSpike()):
        spec = _specs.current_spec(current, params, surrogate)
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
