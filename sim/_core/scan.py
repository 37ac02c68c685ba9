"""The fast core's autograd functions: a layer's whole time loop with a hand-written BPTT.

The semantics are the neuron of sim.neuron exactly; only *how* they are computed differs:

* the feed-forward currents ``J_k`` of all steps are computed before the loop (one product, an
  event-driven gather or a convolution of every frame) and enter as ``(T, B, N)`` tensors -- or,
  for a feed-forward layer with event input, are added from the events inside the compiled
  loop (:class:`_EventScan`, ``J`` never stored);
* each step runs the neuron's step once per backend -- the compiled kernel
  (sim._core.compiled) on the CPU, the torch-op step (sim._core.torchops) elsewhere -- on
  preallocated buffers; only ``U`` and ``S`` are kept for the backward pass (no per-step
  autograd graph, memory flat in the number of autograd nodes);
* the backward pass is the adjoint recursion (derived by hand from eqs. 10-11 with the reset
  factor detached, as in the reference)::

      a_U[n] = g_U[n] + h(U[n]-theta) dS[n] + lambda_mem (1 - S[n]) a_U[n+1]
      a_Ik[n] = lambda_syn_k a_Ik[n+1] + (1 - lambda_mem) (1 - S[n]) a_U[n+1]
      dS[n]  = g_S[n] + sum_k R_k^T a_Ik[n+1]        dJ_k[n] = a_Ik[n+1],   a_U[T] = a_I[T] = 0

  with ``h`` the surrogate derivative (eq. 28, or eq. 29 rescaled); recurrent weight gradients
  are one product over all steps after the loop (``dV = sum_n a_I[n+1] S[n]^T``).

Every tensor here is time-major ``(T, B, N)`` with the neurons flattened.  In mode "free"
(no spikes) ``S`` is neither computed nor returned.

By-products (:class:`ScanExtras`): where the compiled whole-loop kernels run, the forward
pass counts the spikes ``sum_n S[n]`` and the backward pass adds ``sum |g_S|`` of the gradient
reaching ``S`` to a probe; sim.activity hands them on without another pass over ``S``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import Tensor

from . import compiled as _cpu
from . import torchops as _ops

__all__ = ["ScanExtras", "lif_scan", "event_scan"]


@dataclass
class ScanExtras:
    """By-products of a scan (``None`` where not computed): ``counts`` ``(B, N)`` spike counts;
    ``probe`` a float64 ``(1,)`` tensor to which the backward pass adds ``sum |g_S|``."""

    counts: Tensor | None = None
    probe: Tensor | None = None


@dataclass
class _Config:
    lambda_mem: float | Tensor
    lambdas_syn: tuple
    recurrences: tuple  # per component: a recurrence (sim.projections) or None
    has_input: tuple
    theta: float
    spiking: bool
    beta: float
    rescaled: bool
    rec_index: list = field(default_factory=list)  # component index of each recurrent weight
    extras: ScanExtras = field(default_factory=ScanExtras)

    def q_params(self) -> tuple[float, float]:
        """``(q0, q1)`` of the surrogate ``h = 1/q^2``, ``q = q0 + q1 |U - theta|`` (eqs. 28-29)."""
        c = (self.beta * abs(self.theta) + 1.0) ** 2 if self.rescaled else 1.0
        return 1.0 / math.sqrt(c), self.beta / math.sqrt(c)


# Without recurrence the neurons are independent: narrow layers (a readout of 10-20 units) run
# as one long row of batch * neurons instead of many short ones (per-row overhead dominates).
_FLAT_BELOW = 64


def _flat(cfg: _Config, w_of: dict, N: int) -> bool:
    return not w_of and N < _FLAT_BELOW


def _rows(t: Tensor | None, flat: bool) -> Tensor | None:
    """``(T, B, N)`` (or ``(B, N)``) as one row ``(T, 1, B*N)`` (``(1, B*N)``) when ``flat``."""
    if t is None or not flat:
        return t
    return t.reshape(t.shape[0], 1, -1) if t.dim() == 3 else t.reshape(1, -1)


def _tiled(lam, B: int, N: int, flat: bool):
    """A per-neuron decay repeated over the batch for the flat layout."""
    if flat and isinstance(lam, Tensor):
        return lam.reshape(-1).expand(N).repeat(B)
    return lam


def _scan_for(cfg: _Config, u_all, s_all, counts, flat: bool) -> _cpu.Scan:
    T, B, N = u_all.shape
    lam_m = _tiled(cfg.lambda_mem, B, N, flat)
    lam_s = [_tiled(x, B, N, flat) for x in cfg.lambdas_syn]
    return _cpu.Scan(_rows(u_all, flat), _rows(s_all, flat), _rows(counts, flat), lam_m, lam_s,
                     list(cfg.has_input), cfg.theta, cfg.spiking)


def _forward_compiled(cfg: _Config, u_all, s_all, j_of: dict, w_of: dict) -> None:
    T, B, N = u_all.shape
    K = len(cfg.lambdas_syn)
    flat = _flat(cfg, w_of, N)
    currents = torch.zeros((K, 1, B * N) if flat else (K, B, N), dtype=u_all.dtype)
    # counted in the loop without recurrence (one stream more, no pass over S afterwards); the
    # per-step kernels of recurrent layers are memory-bound, where it cost 30 % (sum S instead)
    counts = torch.zeros((B, N), dtype=u_all.dtype) if cfg.spiking and not w_of else None
    scan = _scan_for(cfg, u_all, s_all, counts, flat)
    scan.bind_forward(currents, [_rows(j_of.get(k), flat) for k in range(K)])
    cfg.extras.counts = counts
    if not w_of:
        scan.forward_all()
        return
    cur_l, s_l = currents.unbind(0), s_all.unbind(0)
    for n in range(T):
        scan.forward_step(n)
        if n + 2 < T:
            for k, w in w_of.items():
                cfg.recurrences[k].add_forward(cur_l[k], s_l[n], w)


def _forward_torch(cfg: _Config, u_all, s_all, j_of: dict, w_of: dict) -> None:
    T, B, N = u_all.shape
    K = len(cfg.lambdas_syn)
    currents = [torch.zeros((B, N), dtype=u_all.dtype, device=u_all.device) for _ in range(K)]
    itot = currents[0] if K == 1 else torch.empty_like(currents[0])
    u_l = u_all.unbind(0)  # per-step views made once (indexing in the loop costs a few us each)
    s_l = s_all.unbind(0) if s_all is not None else None
    j_l = {k: j.unbind(0) for k, j in j_of.items()}
    for n in range(T):
        _ops.forward_step(n, T, u_l, s_l, currents, itot, j_l, cfg.lambda_mem, cfg.lambdas_syn, cfg.theta,
                          cfg.spiking)
        if n + 2 < T:
            for k, w in w_of.items():
                cfg.recurrences[k].add_forward(currents[k], s_l[n], w)


def _backward_compiled(cfg: _Config, u_all, g_s, g_u, d_j: list, w_of: dict) -> float:
    T, B, N = u_all.shape
    flat = _flat(cfg, w_of, N)
    a_u = torch.zeros((1, B * N) if flat else (B, N), dtype=u_all.dtype)
    scan = _scan_for(cfg, u_all, None, None, flat)
    if not w_of:
        g_s, g_u = (None if g is None else _rows(g.contiguous(), flat) for g in (g_s, g_u))
        scan.bind_backward(a_u, g_s, g_u, [_rows(dj, flat) for dj in d_j], *cfg.q_params())
        return scan.backward_all()
    ds = torch.empty((1, B, N), dtype=u_all.dtype)
    scan.bind_backward(a_u, ds, g_u, d_j, *cfg.q_params())
    gs_l = g_s.unbind(0) if g_s is not None else None
    dj_l = [dj.unbind(0) for dj in d_j]
    for n in range(T - 1, -1, -1):
        if gs_l is not None:
            ds[0].copy_(gs_l[n])
        else:
            ds.zero_()
        for k, w in w_of.items():
            cfg.recurrences[k].add_input_grad(ds[0], dj_l[k][n], w)
        scan.backward_step(n)
    return float("nan")


def _backward_torch(cfg: _Config, u_all, s_all, g_s, g_u, d_j: list, w_of: dict) -> None:
    T, B, N = u_all.shape
    like = dict(dtype=u_all.dtype, device=u_all.device)
    a_u = torch.zeros((B, N), **like)
    m, q = torch.empty((B, N), **like), torch.empty((B, N), **like)
    q0, q1 = cfg.q_params()
    shift = torch.full((B, N), q0, **like)
    ds = torch.empty((B, N), **like) if w_of else None
    u_l = u_all.unbind(0)
    s_l = s_all.unbind(0) if s_all is not None else None
    dj_l = [dj.unbind(0) for dj in d_j]
    gs_l = g_s.unbind(0) if g_s is not None else None
    gu_l = g_u.unbind(0) if g_u is not None else None
    for n in range(T - 1, -1, -1):
        dsn = gs_l[n] if gs_l is not None else None
        if w_of:
            if gs_l is not None:
                ds.copy_(gs_l[n])
            else:
                ds.zero_()
            for k, w in w_of.items():
                cfg.recurrences[k].add_input_grad(ds, dj_l[k][n], w)
            dsn = ds
        _ops.backward_step(n, a_u, m, q, shift, u_l, s_l, dsn, gu_l, dj_l, cfg.lambda_mem, cfg.lambdas_syn,
                           cfg.theta, cfg.spiking, q1)


class _LIFScan(torch.autograd.Function):
    """Autograd function of :func:`lif_scan`: inputs ``(cfg, *J_k, *V_r)``, outputs ``(S, U)``
    (``U`` alone in mode "free")."""

    @staticmethod
    def forward(ctx, cfg: _Config, *tensors: Tensor):  # type: ignore[override]
        ctx.set_materialize_grads(False)
        n_in = sum(cfg.has_input)
        inputs, weights = tensors[:n_in], tensors[n_in:]
        T, B, N = inputs[0].shape
        like = dict(dtype=inputs[0].dtype, device=inputs[0].device)
        u_all = torch.empty((T, B, N), **like)
        u_all[0].zero_()
        s_all = torch.empty((T, B, N), **like) if cfg.spiking else None
        it = iter(inputs)
        j_of = {k: next(it) for k, has in enumerate(cfg.has_input) if has}
        w_of = {k: weights[i] for i, k in enumerate(cfg.rec_index)}
        ctx.cfg = cfg
        ctx.save_for_backward(u_all, s_all, *weights)
        if _cpu.usable(inputs[0], *weights):
            _forward_compiled(cfg, u_all, s_all, j_of, w_of)
            if cfg.spiking and not w_of:  # the whole-loop backward kernel fills it
                cfg.extras.probe = torch.zeros(1, dtype=torch.float64)
        else:
            _forward_torch(cfg, u_all, s_all, j_of, w_of)
        return (s_all, u_all) if cfg.spiking else u_all

    @staticmethod
    def backward(ctx, *grads: Tensor | None):  # type: ignore[override]
        cfg: _Config = ctx.cfg
        g_s, g_u = grads if cfg.spiking else (None, grads[0])
        u_all, s_all, *weights = ctx.saved_tensors
        T, B, N = u_all.shape
        w_of = {k: weights[i] for i, k in enumerate(cfg.rec_index)}
        d_j = [torch.empty((T, B, N), dtype=u_all.dtype, device=u_all.device) for _ in cfg.lambdas_syn]
        for dj in d_j:
            dj[T - 1].zero_()
        if _cpu.usable(u_all, *weights):
            total = _backward_compiled(cfg, u_all, g_s, g_u, d_j, w_of)
            if cfg.extras.probe is not None and g_s is not None:
                cfg.extras.probe += total
        else:
            _backward_torch(cfg, u_all, s_all, g_s, g_u, d_j, w_of)
        grads_in = [d_j[k] for k, has in enumerate(cfg.has_input) if has]
        grads_in = [g if ctx.needs_input_grad[1 + i] else None for i, g in enumerate(grads_in)]
        s_flat = None if s_all is None else s_all.view(T * B, N)
        grads_w = []
        for i, k in enumerate(cfg.rec_index):
            if ctx.needs_input_grad[1 + len(grads_in) + i]:
                grads_w.append(cfg.recurrences[k].weight_grad(d_j[k].view(T * B, N), s_flat, w_of[k]))
            else:
                grads_w.append(None)
        return (None, *grads_in, *grads_w)


def lif_scan(
    currents: Sequence[Tensor | None],
    lambdas_syn: Sequence[float],
    recurrences: Sequence,
    *,
    lambda_mem: float | Tensor,
    theta: float,
    spiking: bool,
    beta: float,
    rescaled: bool,
) -> tuple[Tensor | None, Tensor, ScanExtras]:
    """Run the LIF recurrence over time with the fused forward and backward passes.

    Arguments:
        currents: per component, ``J_k`` ``(T, B, N)`` (time-major, neurons flattened) or None.
        lambdas_syn: per component ``exp(-dt/tau_syn_k)``.
        recurrences: per component a recurrence of sim.projections (its ``weight`` enters as an
            autograd input) or None.
        lambda_mem: float or ``(N,)`` tensor.  theta: threshold.  spiking: mode "reset" (else
            "free").  beta, rescaled: the surrogate (eqs. 28-29).

    Returns:
        ``(S, U, extras)``; ``S``, ``U`` ``(T, B, N)``, ``U[0] = 0``; ``S`` None when not spiking.
    """
    inputs = [j for j in currents if j is not None]
    recs = tuple(r if spiking else None for r in recurrences)
    rec_index = [k for k, r in enumerate(recs) if r is not None]
    cfg = _Config(lambda_mem, tuple(float(x) for x in lambdas_syn), recs, tuple(j is not None for j in currents),
                  float(theta), bool(spiking), float(beta), bool(rescaled), rec_index)
    out = _LIFScan.apply(cfg, *inputs, *[recs[k].weight for k in rec_index])
    s, u = out if spiking else (None, out)
    return s, u, cfg.extras


class _EventScan(torch.autograd.Function):
    """A feed-forward single-current layer whose input current ``W x`` is added from input
    events inside the compiled scan: ``J`` and ``dJ`` are never stored, the weight gradient is
    accumulated from the events in the backward scan.  The input gets no gradient."""

    @staticmethod
    def forward(ctx, inp, weight: Tensor, params: tuple, extras: ScanExtras):  # type: ignore[override]
        ctx.set_materialize_grads(False)
        lam_m, lam_s, theta, spiking, beta, rescaled = params
        s, u, counts = _cpu.events_forward(inp, weight, lam_m, lam_s, theta, spiking)
        ctx.inp, ctx.params, ctx.extras = inp, params, extras
        extras.counts = counts
        extras.probe = torch.zeros(1, dtype=torch.float64) if spiking else None
        ctx.save_for_backward(u, weight)  # S = H(U - theta) is recomputed in the backward scan
        return (s, u) if spiking else u

    @staticmethod
    def backward(ctx, *grads):  # type: ignore[override]
        lam_m, lam_s, theta, spiking, beta, rescaled = ctx.params
        g_s, g_u = grads if spiking else (None, grads[0])
        if not ctx.needs_input_grad[1] or (g_s is None and g_u is None):
            return None, None, None, None
        u, weight = ctx.saved_tensors
        c = (beta * abs(theta) + 1.0) ** 2 if rescaled else 1.0
        dw, abs_sum = _cpu.events_backward(ctx.inp, weight, u, g_s, g_u, lam_m, lam_s, theta, spiking,
                                           1.0 / math.sqrt(c), beta / math.sqrt(c))
        if ctx.extras.probe is not None:
            ctx.extras.probe += abs_sum
        return None, dw, None, None


def event_scan(inp, weight: Tensor, *, lambda_mem: float, lambda_syn: float, theta: float, spiking: bool,
               beta: float, rescaled: bool) -> tuple[Tensor | None, Tensor, ScanExtras]:
    """Feed-forward LIF layer with event input fused into the compiled scan.

    ``inp``: :class:`~fluctinit.sim._core.compiled.EventInput` of logical shape ``(T, B, n_in)``;
    ``weight``: ``(N, n_in)`` CPU float tensor.  Returns ``(S, U, extras)`` as :func:`lif_scan`,
    with the same values and weight gradient as :func:`lif_scan` on ``J = W x``.
    """
    extras = ScanExtras()
    params = (float(lambda_mem), float(lambda_syn), float(theta), bool(spiking), float(beta), bool(rescaled))
    out = _EventScan.apply(inp, weight, params, extras)
    s, u = out if spiking else (None, out)
    return s, u, extras
