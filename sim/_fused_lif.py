"""Fused LIF and readout time loops with a hand-written backward pass through time.

The semantics are the discrete-time LIF of the paper (eqs. 10-11) exactly as written in
docs/DEVELOPING.md; this module only changes *how* they are computed:

* the feed-forward input currents ``J[n] = W x[n]`` of all time steps are computed before the
  loop (one product, or an event-driven gather, see :mod:`._fused_events`) and enter the scan
  as one tensor;
* each time step is a handful of fused elementwise ops writing into preallocated buffers;
  only ``U`` and ``S`` (the outputs) are kept for the backward pass -- no per-step autograd
  graph, so memory and the number of autograd nodes do not grow with ``T``;
* the backward pass is the adjoint recursion below (derived by hand from eqs. 10-11 with
  the reset factor detached, as in the reference):

      a_U[n] = g_U[n] + h(U[n]-theta) * dS[n] + lambda_mem (1 - S[n]) a_U[n+1]
      a_I[n] = lambda_syn a_I[n+1] + (1 - lambda_mem) (1 - S[n]) a_U[n+1]
      dS[n]  = g_S[n] + V^T a_I[n+1]          dJ[n] = a_I[n+1],   a_U[T] = a_I[T] = 0

  with ``h`` the surrogate derivative (eq. 28, or eq. 29 rescaled).  Weight gradients of
  recurrent projections are one product over all time steps after the loop:
  ``dV = sum_n a_I[n+1] S[n]^T``.

Layout: every tensor here is *time-major*, ``(time, batch, *neurons)``.  The public wrappers in
:mod:`._fused` accept ``(batch, time, ...)`` and transpose views.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import Tensor

from . import _fused_cpu as _cpu

__all__ = [
    "surrogate_derivative",
    "LinearRecurrence",
    "ConvRecurrence",
    "Component",
    "lif_scan",
    "lif_scan_events",
    "readout_scan",
]


def surrogate_derivative(u: Tensor, theta: float, beta: float = 20.0, rescaled: bool = False) -> Tensor:
    """SuperSpike surrogate derivative of the spike w.r.t. the membrane potential.

    ``h(x) = 1 / (beta |x| + 1)^2`` with ``x = U - theta`` (paper eq. 28); with
    ``rescaled=True`` the derivative is divided by ``h(-theta)`` so that it equals one at rest
    (eq. 29).  Dimensionless; ``u`` in threshold units, any shape; returns the same shape.
    """
    h = (u - theta).abs_().mul_(beta).add_(1.0)
    h = h.mul_(h).reciprocal_()
    if rescaled:
        h.mul_((beta * abs(theta) + 1.0) ** 2)
    return h


# ---------------------------------------------------------------------------------------------
# Recurrent projections: the op S[n] -> input current, its input adjoint and its weight gradient.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearRecurrence:
    """All-to-all recurrent projection ``J_rec = S[:, source] @ V^T`` (paper eq. 11, V term).

    ``source`` is a slice of the layer's (flattened) neurons that drive this projection
    (Dale's law: only the excitatory or only the inhibitory population); ``None`` = all.
    Weight ``V`` has shape ``(n_neurons, n_source)``.
    """

    source: slice | None = None

    def src(self, s: Tensor) -> Tensor:
        return s if self.source is None else s[:, self.source]

    def add_forward(self, out: Tensor, s: Tensor, v: Tensor) -> None:
        out.addmm_(self.src(s), v.t())

    def add_input_grad(self, ds: Tensor, dj: Tensor, v: Tensor) -> None:
        if self.source is None:
            ds.addmm_(dj, v)
        else:
            ds[:, self.source].addmm_(dj, v)

    def weight_grad(self, dj_all: Tensor, s_all: Tensor, v: Tensor) -> Tensor:
        # dj_all, s_all: (rows, n) with rows = time * batch
        return dj_all.t().mm(self.src(s_all))


@dataclass(frozen=True)
class ConvRecurrence:
    """Convolutional recurrent projection (paper methods, recurrent CSNNs): a stride-1
    ``conv{1,2}d`` with ``padding = kernel // 2`` over the layer's ``(channels, *space)``
    neurons, so the layer's shape is kept.  Weight ``(C, C_src, k)`` or ``(C, C_src, kh, kw)``
    with odd kernel sizes, ``C`` the layer's channels; ``source`` selects the driving channels
    (Dale's law: the E or the I channels), ``None`` = all.
    """

    shape: tuple  # neuron shape (C, L) or (C, H, W)
    source: slice | None = None

    def _pad(self, v: Tensor):
        return tuple(k // 2 for k in v.shape[2:])

    def _conv(self):
        return torch.nn.functional.conv1d if len(self.shape) == 2 else torch.nn.functional.conv2d

    def _src(self, s: Tensor) -> Tensor:
        s = s.view(s.shape[0], *self.shape)
        return s if self.source is None else s[:, self.source]

    def add_forward(self, out: Tensor, s: Tensor, v: Tensor) -> None:
        j = self._conv()(self._src(s), v, padding=self._pad(v))
        out.add_(j.view(out.shape))

    def add_input_grad(self, ds: Tensor, dj: Tensor, v: Tensor) -> None:
        b = dj.shape[0]
        g = torch.nn.grad.conv1d_input if len(self.shape) == 2 else torch.nn.grad.conv2d_input
        target = self._src(ds)
        target.add_(g(tuple(target.shape), v, dj.view(b, *self.shape), padding=self._pad(v)))

    def weight_grad(self, dj_all: Tensor, s_all: Tensor, v: Tensor) -> Tensor:
        r = s_all.shape[0]
        g = torch.nn.grad.conv1d_weight if len(self.shape) == 2 else torch.nn.grad.conv2d_weight
        return g(self._src(s_all), v.shape, dj_all.view(r, *self.shape), padding=self._pad(v))


@dataclass(frozen=True)
class Component:
    """One synaptic current of a layer: ``I_k[n+1] = lambda_syn I_k[n] + J_k[n] + rec_k(S[n])``.

    The membrane is driven by the sum over components (Dale's law: an excitatory-decay and an
    inhibitory-decay component, eq. 12-19; signs are carried by the weights).
    ``lambda_syn`` is a float or a ``(n_neurons,)`` tensor.  ``has_input``: whether a
    feed-forward current ``J_k`` enters; ``recurrence``: ``None`` or a recurrence op above.
    """

    lambda_syn: float | Tensor
    has_input: bool = True
    recurrence: LinearRecurrence | ConvRecurrence | None = None


@dataclass
class _Config:
    lambda_mem: float | Tensor
    components: Sequence[Component]
    theta: float
    reset: bool
    beta: float
    rescaled: bool
    n_inputs: int = 0
    n_rec: int = 0
    rec_index: list = field(default_factory=list)  # component index of each recurrent weight


def _forward_compiled(cfg: _Config, u_all: Tensor, s_all: Tensor, j_of: dict, w_of: dict) -> None:
    """The forward loop of :class:`_LIFScan` run by the compiled CPU kernels (:mod:`._fused_cpu`):
    the whole time loop in one call without recurrence, else one call per step with the
    recurrent currents added by torch in between."""
    comps = cfg.components
    T, B, N = u_all.shape
    currents = torch.zeros((len(comps), B, N), dtype=u_all.dtype)
    kern = _cpu.LIFKernel(u_all, cfg.lambda_mem, [c.lambda_syn for c in comps], [c.has_input for c in comps],
                          cfg.theta, cfg.reset)
    kern.bind_forward(u_all, s_all, currents, [j_of.get(k) for k in range(len(comps))])
    if not w_of:
        kern.forward_all()
        return
    cur_l = currents.unbind(0)
    s_l = s_all.unbind(0)
    for n in range(T):
        kern.forward_step(n)
        if n + 2 < T:
            for k, w in w_of.items():
                comps[k].recurrence.add_forward(cur_l[k], s_l[n], w)


class _LIFScan(torch.autograd.Function):
    """Autograd function for :func:`lif_scan`; tensors time-major and flattened to (T, B, N)."""

    @staticmethod
    def forward(ctx, cfg: _Config, *tensors: Tensor):  # type: ignore[override]
        ctx.set_materialize_grads(False)
        inputs = tensors[: cfg.n_inputs]
        weights = tensors[cfg.n_inputs :]
        ref = inputs[0] if inputs else None
        T, B, N = ref.shape
        dtype, device = ref.dtype, ref.device
        u_all = torch.empty((T, B, N), dtype=dtype, device=device)
        s_all = torch.empty((T, B, N), dtype=dtype, device=device)
        u_all[0].zero_()
        comps = cfg.components
        j_of = {}
        it = iter(inputs)
        for k, c in enumerate(comps):
            if c.has_input:
                j_of[k] = next(it)
        w_of = {k: weights[i] for i, k in enumerate(cfg.rec_index)}
        ctx.cfg = cfg
        ctx.save_for_backward(u_all, s_all, *weights)
        if _cpu.usable(ref, *weights):
            _forward_compiled(cfg, u_all, s_all, j_of, w_of)
            return s_all, u_all
        currents = [torch.zeros((B, N), dtype=dtype, device=device) for _ in comps]
        single = len(comps) == 1
        itot = currents[0] if single else torch.empty((B, N), dtype=dtype, device=device)
        lam_m = cfg.lambda_mem
        theta = cfg.theta
        # per-step views made once (indexing inside the loop costs a few us per view)
        u_l, s_l = u_all.unbind(0), s_all.unbind(0)
        j_l = {k: j.unbind(0) for k, j in j_of.items()}
        for n in range(T):
            un = u_l[n]
            sn = s_l[n]
            # S[n] = Heaviside(U[n] - theta), written as 0/1 floats straight into the output
            torch.gt(un, theta, out=sn)
            if n + 1 < T:
                if not single:
                    torch.add(currents[0], currents[1], out=itot)
                    for extra in currents[2:]:
                        itot.add_(extra)
                # U[n+1] = lambda_mem U[n] + (1 - lambda_mem) I[n]   (lerp), then the reset
                # U[n+1] -= U[n+1] S[n]  (exactly U[n+1] (1 - S[n]) for S in {0, 1})
                u_next = u_l[n + 1]
                torch.lerp(itot, un, lam_m, out=u_next)
                if cfg.reset:
                    u_next.addcmul_(u_next, sn, value=-1.0)
                if n + 2 < T:  # I[n+1] only influences U[n+2]
                    for k, c in enumerate(comps):
                        cur = currents[k]
                        if k in j_of:
                            if isinstance(c.lambda_syn, Tensor):
                                cur.mul_(c.lambda_syn).add_(j_l[k][n])
                            else:
                                torch.add(j_l[k][n], cur, alpha=c.lambda_syn, out=cur)
                        else:
                            cur.mul_(c.lambda_syn)
                        if k in w_of:
                            c.recurrence.add_forward(cur, sn, w_of[k])
        return s_all, u_all

    @staticmethod
    def backward(ctx, g_s: Tensor | None, g_u: Tensor | None):  # type: ignore[override]
        cfg: _Config = ctx.cfg
        u_all, s_all, *weights = ctx.saved_tensors
        T, B, N = u_all.shape
        dtype, device = u_all.dtype, u_all.device
        comps = cfg.components
        w_of = {k: weights[i] for i, k in enumerate(cfg.rec_index)}
        lam_m = cfg.lambda_mem
        one_m = 1.0 - lam_m
        # adjoints of the currents: dJ_k[n] = a_Ik[n+1]; the buffers double as the state
        d_j = [torch.empty((T, B, N), dtype=dtype, device=device) for _ in comps]
        for dj in d_j:
            dj[T - 1].zero_()
        has_s_grad = g_s is not None or bool(w_of)
        # surrogate h = c / (beta |U - theta| + 1)^2 computed per step on cache-resident
        # slices as 1/q^2 with q = (beta |U - theta| + 1) / sqrt(c)  (c = 1, or (beta theta + 1)^2
        # for the rescaled eq. 29)
        c = (cfg.beta * abs(cfg.theta) + 1.0) ** 2 if cfg.rescaled else 1.0
        q_scale, q_shift = cfg.beta / math.sqrt(c), 1.0 / math.sqrt(c)
        a_u = torch.zeros((B, N), dtype=dtype, device=device)
        ds = torch.empty((B, N), dtype=dtype, device=device) if w_of else None
        lam_syn = [comp.lambda_syn for comp in comps]
        if _cpu.usable(u_all, *weights):
            kern = _cpu.LIFKernel(u_all, lam_m, lam_syn, [c.has_input for c in comps], cfg.theta, cfg.reset)
            if not w_of:
                kern.bind_backward(a_u, u_all, g_s, g_u, d_j, q_shift, q_scale)
                kern.backward_all()
            else:
                gs_l = g_s.unbind(0) if g_s is not None else None
                dj_l = [dj.unbind(0) for dj in d_j]
                kern.bind_backward(a_u, u_all, ds, g_u, d_j, q_shift, q_scale)
                for n in range(T - 1, -1, -1):
                    if gs_l is not None:
                        ds.copy_(gs_l[n])
                    else:
                        ds.zero_()
                    for k, w in w_of.items():
                        comps[k].recurrence.add_input_grad(ds, dj_l[k][n], w)
                    kern.backward_step(n)
            return _LIFScan._weight_grads(ctx, cfg, comps, d_j, s_all, w_of, T, B, N)
        m = torch.empty((B, N), dtype=dtype, device=device)
        q = torch.empty((B, N), dtype=dtype, device=device)
        shift = torch.full((B, N), q_shift, dtype=dtype, device=device)
        # per-step views made once (indexing inside the loop costs a few us per view)
        u_l, s_l = u_all.unbind(0), s_all.unbind(0)
        dj_l = [dj.unbind(0) for dj in d_j]
        gs_l = g_s.unbind(0) if g_s is not None else None
        gu_l = g_u.unbind(0) if g_u is not None else None
        vec_m = isinstance(lam_m, Tensor)
        for n in range(T - 1, -1, -1):
            # a_u holds a_U[n+1]; m = (1 - S[n]) a_U[n+1]
            if cfg.reset:
                torch.addcmul(a_u, a_u, s_l[n], value=-1.0, out=m)
            else:
                m.copy_(a_u)
            if n >= 1:
                for k in range(len(comps)):
                    # a_I[n] = lambda_syn a_I[n+1] + (1 - lambda_mem) m
                    prev = dj_l[k][n - 1]
                    torch.mul(dj_l[k][n], lam_syn[k], out=prev)
                    if vec_m:
                        prev.addcmul_(m, one_m)
                    else:
                        prev.add_(m, alpha=one_m)
            if has_s_grad:
                if w_of:
                    if gs_l is not None:
                        ds.copy_(gs_l[n])
                    else:
                        ds.zero_()
                    for k, w in w_of.items():
                        comps[k].recurrence.add_input_grad(ds, dj_l[k][n], w)
                    dsn = ds
                else:
                    dsn = gs_l[n]
                # q = q_shift + q_scale |U[n] - theta|
                torch.sub(u_l[n], cfg.theta, out=q).abs_()
                torch.add(shift, q, alpha=q_scale, out=q)
                # a_U[n] = g_U[n] + h dS[n] + lambda_mem m,   h = 1/q^2
                torch.div(dsn, q, out=a_u).div_(q)
                if gu_l is not None:
                    a_u.add_(gu_l[n])
            elif gu_l is not None:
                a_u.copy_(gu_l[n])
            else:
                a_u.zero_()
            if vec_m:
                a_u.addcmul_(m, lam_m)
            else:
                a_u.add_(m, alpha=lam_m)
        return _LIFScan._weight_grads(ctx, cfg, comps, d_j, s_all, w_of, T, B, N)

    @staticmethod
    def _weight_grads(ctx, cfg, comps, d_j, s_all, w_of, T, B, N):
        grads_in = [d_j[k] for k, c in enumerate(comps) if c.has_input]
        grads_w = []
        s_flat = s_all.view(T * B, N)
        for i, k in enumerate(cfg.rec_index):
            if ctx.needs_input_grad[1 + cfg.n_inputs + i]:
                grads_w.append(comps[k].recurrence.weight_grad(d_j[k].view(T * B, N), s_flat, w_of[k]))
            else:
                grads_w.append(None)
        grads_in = [g if ctx.needs_input_grad[1 + i] else None for i, g in enumerate(grads_in)]
        return (None, *grads_in, *grads_w)


def lif_scan(
    currents: Sequence[Tensor | None],
    components: Sequence[Component],
    rec_weights: Sequence[Tensor | None],
    *,
    lambda_mem: float | Tensor,
    theta: float = 1.0,
    reset: bool = True,
    beta: float = 20.0,
    rescaled: bool = False,
) -> tuple[Tensor, Tensor]:
    """Run the LIF recurrence (paper eqs. 10-11) over time with the fused forward/backward.

    Arguments:
        currents: per component, the feed-forward input current ``J_k`` of shape
            ``(T, B, N)`` (time-major, neurons flattened) or ``None`` (component without
            feed-forward input).  At least one component must have an input.
        components: the :class:`Component` records (decay, recurrence op).
        rec_weights: per component, the recurrent weight for its recurrence op or ``None``.
        lambda_mem: ``exp(-dt/tau_mem)``, float or ``(N,)`` tensor.
        theta: threshold; reset: reset-to-zero mode (``False``: free membrane, spikes are
            still reported but do not reset); beta, rescaled: surrogate (eqs. 28-29).

    Returns:
        ``(S, U)``, each ``(T, B, N)``; ``U[0] = 0``.  ``S`` carries the surrogate gradient.
    """
    inputs = [j for j, c in zip(currents, components) if c.has_input]
    if not inputs or any(j is None for j in inputs):
        raise ValueError("every component with has_input=True needs a current tensor")
    rec_index = [k for k, (c, w) in enumerate(zip(components, rec_weights)) if c.recurrence is not None and w is not None]
    weights = [rec_weights[k] for k in rec_index]
    cfg = _Config(
        lambda_mem=lambda_mem,
        components=tuple(components),
        theta=float(theta),
        reset=bool(reset),
        beta=float(beta),
        rescaled=bool(rescaled),
        n_inputs=len(inputs),
        n_rec=len(weights),
        rec_index=rec_index,
    )
    return _LIFScan.apply(cfg, *inputs, *weights)


class _LIFScanEvents(torch.autograd.Function):
    """A feed-forward single-component LIF layer whose input current ``W x`` is added from
    input events inside the compiled scan (:mod:`._fused_cpu`): ``J`` and ``dJ`` are never
    stored, the weight gradient is accumulated from the events in the backward scan.  The
    input gets no gradient (data, or spikes that do not require grad)."""

    @staticmethod
    def forward(ctx, inp, weight: Tensor, lam_m, lam_s, theta: float, reset: bool, beta: float,
                rescaled: bool):  # type: ignore[override]
        ctx.set_materialize_grads(False)
        s, u, counts = _cpu.lif_events_forward(inp, weight, lam_m, lam_s, theta, reset)
        ctx.inp = inp
        ctx.params = (lam_m, lam_s, theta, reset, beta, rescaled)
        # sum |dL/dS| over all entries and routes (S and counts), written by the backward
        probe = torch.zeros(1, dtype=torch.float64)
        ctx.probe = probe
        ctx.mark_non_differentiable(probe)
        ctx.save_for_backward(u, weight)  # S = H(U - theta) is recomputed in the backward scan
        return s, u, counts, probe

    @staticmethod
    def backward(ctx, g_s: Tensor | None, g_u: Tensor | None, g_c: Tensor | None, _g_probe):  # type: ignore[override]
        none = (None,) * 6
        if not ctx.needs_input_grad[1] or (g_s is None and g_u is None and g_c is None):
            return (None, None, *none)
        u, weight = ctx.saved_tensors
        lam_m, lam_s, theta, reset, beta, rescaled = ctx.params
        c = (beta * abs(theta) + 1.0) ** 2 if rescaled else 1.0
        dw, abs_sum = _cpu.lif_events_backward(ctx.inp, weight, u, g_s, g_u, lam_m, lam_s, theta, reset,
                                               1.0 / math.sqrt(c), beta / math.sqrt(c), g_c=g_c)
        ctx.probe += abs_sum
        return (None, dw, *none)


def lif_scan_events(inp, weight: Tensor, *, lambda_mem: float, lambda_syn: float, theta: float = 1.0,
                    reset: bool = True, beta: float = 20.0, rescaled: bool = False) -> tuple[Tensor, ...]:
    """Feed-forward LIF layer (paper eqs. 10-11) with event input fused into the compiled scan.

    ``inp``: :class:`fluctinit.sim._fused_cpu.EventInput` of logical shape ``(T, B, n_in)``;
    ``weight``: ``(N, n_in)`` CPU float tensor.  Returns ``(S, U, counts, probe)``: ``S``,
    ``U`` time-major ``(T, B, N)`` with the same values and weight gradient as ``lif_scan``
    on ``J = W x`` (tests compare them); the spike counts ``sum_n S[n]`` ``(B, N)`` computed
    in the scan, whose gradient enters the backward scan directly (no
    ``batch x time x neurons`` broadcast and sum in autograd); and a probe, a float64 ``(1,)``
    tensor to which the backward pass adds ``sum |dL/dS|`` over all entries (the total
    gradient of the spikes by both routes -- ``S``'s own gradient no longer shows the counts').
    """
    return _LIFScanEvents.apply(inp, weight, float(lambda_mem), float(lambda_syn), float(theta), bool(reset),
                                float(beta), bool(rescaled))


class _ReadoutScan(torch.autograd.Function):
    """Linear readout (no spikes): U[n+1] = lm U[n] + (1-lm) I[n], I[n+1] = ls I[n] + J[n]."""

    @staticmethod
    def forward(ctx, j: Tensor, lam_m: float, lam_s: float):  # type: ignore[override]
        ctx.set_materialize_grads(False)
        ctx.lams = (lam_m, lam_s)
        if _cpu.usable(j):
            return _cpu.readout_forward(j, lam_m, lam_s)
        T = j.shape[0]
        u_all = torch.empty_like(j)
        u_all[0].zero_()
        cur = torch.zeros_like(j[0])
        u_l, j_l = u_all.unbind(0), j.unbind(0)
        for n in range(T - 1):
            torch.lerp(cur, u_l[n], lam_m, out=u_l[n + 1])
            if n + 2 < T:
                torch.add(j_l[n], cur, alpha=lam_s, out=cur)
        ctx.lams = (lam_m, lam_s)
        return u_all

    @staticmethod
    def backward(ctx, g_u: Tensor):  # type: ignore[override]
        lam_m, lam_s = ctx.lams
        if g_u is None:
            return None, None, None
        if _cpu.usable(g_u):
            return _cpu.readout_backward(g_u, lam_m, lam_s), None, None
        T = g_u.shape[0]
        d_j = torch.empty_like(g_u)
        d_j[T - 1].zero_()
        a_u = torch.zeros_like(g_u[0])
        dj_l, gu_l = d_j.unbind(0), g_u.unbind(0)
        for n in range(T - 1, -1, -1):
            if n >= 1:
                torch.mul(dj_l[n], lam_s, out=dj_l[n - 1]).add_(a_u, alpha=1.0 - lam_m)
            # a_U[n] = g_U[n] + lambda_mem a_U[n+1]
            torch.add(gu_l[n], a_u, alpha=lam_m, out=a_u)
        return d_j, None, None


def readout_scan(j: Tensor, *, lambda_mem: float, lambda_syn: float) -> Tensor:
    """Non-spiking readout membrane (paper methods, "Readout units"): ``U[0..T-1]``.

    ``j``: input current ``(T, B, *units)`` time-major; returns the same shape.  Linear in ``j``;
    the backward pass is the adjoint recursion ``a_U[n] = g_U[n] + lambda_mem a_U[n+1]``,
    ``a_I[n] = lambda_syn a_I[n+1] + (1 - lambda_mem) a_U[n+1]``, ``dJ[n] = a_I[n+1]``.
    """
    return _ReadoutScan.apply(j, float(lambda_mem), float(lambda_syn))
