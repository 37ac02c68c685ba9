"""Compiled CPU kernels of the fast core (numba): the neuron's step and adjoint, written once.

The update of paper eqs. 10-11 (sim.neuron) and its adjoint appear here exactly once, as
inlined per-neuron functions (numba inlines ``@njit(inline="always")`` functions into their
callers, so sharing them costs nothing):

    _step        S[n] = H(U[n] - theta);  U[n+1] = (lm U[n] + (1 - lm) I[n]) (1 - S[n])
    _current     I_k[n+1] = ls_k I_k[n] + J_k[n]
    _adjoint     m = (1 - S[n]) a_U[n+1];  a_U[n] = lm m + h(U[n] - theta) dS[n] + g_U[n]
    _current_adj a_Ik[n] = ls_k a_Ik[n+1] + (1 - lm) m      (dJ_k[n] = a_Ik[n+1])

with ``h = 1/q^2``, ``q = q0 + q1 |U - theta|`` the SuperSpike surrogate (eq. 28, or eq. 29
rescaled) and ``S[n]`` recomputed from ``U[n]`` in the backward pass.  In the free mode
(``spiking=False``) there are no spikes: no threshold, no reset, no surrogate term.

The kernels around them differ only in how the input current reaches the neuron:

* :func:`_scan_fwd` / :func:`_scan_bwd`: currents ``J_k`` given as ``(T, B, N)`` arrays (dense
  or event-driven products, convolutions; several currents for Dale's law), steps ``[n0, n1)``:
  the whole loop in one call without recurrence, one step per call with it (the recurrent
  products run in torch between the steps);
* :func:`_events_fwd` / :func:`_events_bwd`: a feed-forward layer whose input arrives as events
  (CSR rows): each step adds the weight rows of its events to the current, and the backward
  pass accumulates the weight gradient from the events; ``J`` is never stored.

Loop order: time outside, then batch rows, each row a contiguous, vectorizable loop over
neurons (walking time inside a row strides by ``batch * neurons`` and was 4x slower).
Threads: the whole-loop kernels split the batch rows over ``torch.get_num_threads()`` Python
threads (the kernels release the GIL; one hand-off per call).  numba's own parallel loops were
tried and dropped: a parallel region per step beside torch's OpenMP threads was 30x slower on
2 cores.  States below the smallest normal float are flushed to zero inside the kernels (what
``torch.set_flush_denormal(True)`` does for the torch path, sim.denormal).

The spiking whole-loop kernels also return by-products for free: the spike counts
``sum_n S[n]`` (forward) and ``sum |dL/dS|`` of the gradient they receive (backward), which
:mod:`fluctinit.sim.activity` hands to the regularizers and the gradient recorder.

numba is optional at import: without it (or with ``FLUCTINIT_NUMBA=0``) :data:`AVAILABLE` is
False and the fast core runs its torch-op loop (sim._core.torchops), on CPU and CUDA alike.
The kernels compile on first use (a few seconds, cached on disk by numba afterwards).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor

__all__ = ["AVAILABLE", "usable", "Scan", "EventInput", "events_forward", "events_backward"]

try:  # pragma: no cover - exercised by whichever environment runs the tests
    from numba import njit

    AVAILABLE = os.environ.get("FLUCTINIT_NUMBA", "1").strip().lower() not in ("0", "false", "no", "off")
except ImportError:  # pragma: no cover
    AVAILABLE = False


def usable(*tensors: Tensor | None) -> bool:
    """Whether the compiled kernels apply: numba present and enabled, CPU float32/float64."""
    if not AVAILABLE:
        return False
    for t in tensors:
        if t is None:
            continue
        if t.device.type != "cpu" or t.dtype not in (torch.float32, torch.float64):
            return False
    return True


if AVAILABLE:
    _opts = dict(nogil=True, cache=True, boundscheck=False, error_model="numpy")

    # ----------------------------------------------------------- the neuron, once
    @njit(inline="always")
    def _flush(v, tn, zero):
        return zero if abs(v) < tn else v

    @njit(inline="always")
    def _step(x, itot, lm, th, spiking, one, zero):
        """Spike of one neuron at step n and its membrane at n + 1 (before flushing)."""
        sp = spiking and x > th
        v = lm * x + (one - lm) * itot
        if sp:
            v = zero
        return sp, v

    @njit(inline="always")
    def _current(c, ls, j):
        return ls * c + j

    @njit(inline="always")
    def _adjoint(a_next, x, ds, gu, lm, th, spiking, q0, q1, zero):
        """``(m, a_U[n])`` of one neuron from ``a_U[n+1]``, ``U[n]``, ``dS[n]``, ``g_U[n]``."""
        m = a_next
        a = zero
        if spiking:
            if x > th:  # S[n] = H(U[n] - theta), recomputed: one stream less
                m = zero
            q = q0 + q1 * abs(x - th)
            a = ds / (q * q)
        return m, lm * m + a + gu

    @njit(inline="always")
    def _current_adj(ai, m, ls, lm, one):
        return ls * ai + (one - lm) * m

    # ------------------------------------------------- currents given as (T, B, N)
    # js[k]: J_k (T, B, N), or a (1, 1, 1) dummy where component k has no input (jmask);
    # s, cnt: S (T, B, N) and counts (B, N), or dummies when not spiking.

    @njit(inline="always")
    def _fwd_row(u, s, cnt, cur, js, jmask, lm, ls, th, spiking, tn, n, b, last, upd):
        one, zero = u.dtype.type(1.0), u.dtype.type(0.0)
        K = cur.shape[0]
        un = u[n, b]
        for i in range(un.shape[0]):
            itot = cur[0, b, i]
            for k in range(1, K):
                itot += cur[k, b, i]
            sp, v = _step(un[i], itot, lm[i], th, spiking, one, zero)
            if spiking:
                s[n, b, i] = one if sp else zero
                if sp:
                    cnt[b, i] += one
            if not last:
                u[n + 1, b, i] = _flush(v, tn, zero)
        if upd:
            for k in range(K):
                ck = cur[k, b]
                lk = ls[k]
                if jmask[k]:
                    jn = js[k][n, b]
                    for i in range(ck.shape[0]):
                        ck[i] = _flush(_current(ck[i], lk[i], jn[i]), tn, zero)
                else:
                    for i in range(ck.shape[0]):
                        ck[i] = _flush(_current(ck[i], lk[i], zero), tn, zero)

    @njit(**_opts)
    def _scan_fwd(u, s, cnt, cur, js, jmask, lam_m, lam_s, theta, spiking, tiny, n0, n1, b0, b1):
        """Steps [n0, n1) of the forward scan on batch rows [b0, b1)."""
        T = u.shape[0]
        th, tn = u.dtype.type(theta), u.dtype.type(tiny)
        for n in range(n0, n1):
            for b in range(b0, b1):
                _fwd_row(u, s, cnt, cur, js, jmask, lam_m, lam_s, th, spiking, tn, n, b, n + 1 >= T, n + 2 < T)

    @njit(inline="always")
    def _bwd_row(a_u, u, ds, nd, gu, ng, djs, lm, ls, th, spiking, q0, q1, tn, n, b):
        # ds[nd, b]: dS[n] (nd = n for the whole loop, 0 for the one-step buffer); gu[ng, b]: g_U[n]
        one, zero = u.dtype.type(1.0), u.dtype.type(0.0)
        K = len(djs)
        au, un, dsn, gun = a_u[b], u[n, b], ds[nd, b], gu[ng, b]
        acc = 0.0
        for i in range(un.shape[0]):
            m, a = _adjoint(au[i], un[i], dsn[i], gun[i], lm[i], th, spiking, q0, q1, zero)
            if n >= 1:
                for k in range(K):
                    djs[k][n - 1, b, i] = _flush(_current_adj(djs[k][n, b, i], m, ls[k][i], lm[i], one), tn, zero)
            au[i] = _flush(a, tn, zero)
            acc += abs(dsn[i])
        return acc

    @njit(**_opts)
    def _scan_bwd(a_u, u, ds, ds_t, gu, gu_t, djs, lam_m, lam_s, theta, spiking, q0, q1, tiny, n1, n0, b0, b1):
        """Steps n1-1 down to n0 of the backward scan on rows [b0, b1); returns sum |dS| read.
        ``ds_t``/``gu_t``: 1 if ``ds``/``gu`` hold every step, 0 for a one-step buffer/dummy."""
        dt = u.dtype.type
        th, tn, r0, r1 = dt(theta), dt(tiny), dt(q0), dt(q1)
        acc = 0.0
        for n in range(n1 - 1, n0 - 1, -1):
            for b in range(b0, b1):
                acc += _bwd_row(a_u, u, ds, n * ds_t, gu, n * gu_t, djs, lam_m, lam_s, th, spiking, r0, r1, tn, n, b)
        return acc

    # ----------------------------------------- a feed-forward layer with event input
    # Events are CSR rows r = n * rs_n + b * rs_b; ptr[r]..ptr[r+1] index cols/vals.

    @njit(**_opts)
    def _events_fwd(u, s, cnt, cur, wt, ptr, cols, vals, has_vals, rs_n, rs_b, lam_m, lam_s, theta, spiking,
                    tiny, b0, b1):
        T, N = u.shape[0], u.shape[2]
        one, zero = u.dtype.type(1.0), u.dtype.type(0.0)
        th, tn = u.dtype.type(theta), u.dtype.type(tiny)
        for n in range(T):
            last, upd = n + 1 >= T, n + 2 < T
            for b in range(b0, b1):
                un, c0 = u[n, b], cur[b]
                for i in range(N):
                    sp, v = _step(un[i], c0[i], lam_m[i], th, spiking, one, zero)
                    if spiking:
                        s[n, b, i] = one if sp else zero
                        if sp:
                            cnt[b, i] += one
                    if not last:
                        u[n + 1, b, i] = _flush(v, tn, zero)
                if upd:
                    for i in range(N):
                        c0[i] = _current(c0[i], lam_s[i], zero)
                    r = n * rs_n + b * rs_b
                    for e in range(ptr[r], ptr[r + 1]):  # the input projection: J[n] = W x[n]
                        w = wt[cols[e]]
                        xv = u.dtype.type(vals[e]) if has_vals else one
                        for i in range(N):
                            c0[i] += xv * w[i]
                    for i in range(N):
                        c0[i] = _flush(c0[i], tn, zero)

    @njit(nogil=True, cache=True, boundscheck=False, fastmath=True)
    def _row_abs_sum(row):
        # sum |row|, vectorized (fastmath: free summation order); a call, not inlined, so the
        # caller's loops keep strict IEEE semantics
        r = 0.0
        for i in range(row.shape[0]):
            r += abs(row[i])
        return r

    @njit(**_opts)
    def _events_bwd(a_u, a_i, u, gs, gs_t, gu, gu_t, dwt, ptr, cols, vals, has_vals, rs_n, rs_b, lam_m,
                    lam_s, theta, spiking, q0, q1, tiny, b0, b1):
        # a_u, a_i: (B, N) adjoint states (zero at the start); dwt: (n_in, N) this thread's
        # weight-gradient accumulator (transposed: row = input unit); gs, gu: g_S, g_U (T, B, N),
        # or one zero step (1, B, N) with time stride gs_t, gu_t = 0; returns sum |g_S|
        T, N = u.shape[0], u.shape[2]
        one, zero = u.dtype.type(1.0), u.dtype.type(0.0)
        th, tn = u.dtype.type(theta), u.dtype.type(tiny)
        r0, r1 = u.dtype.type(q0), u.dtype.type(q1)
        acc = 0.0
        for n in range(T - 1, -1, -1):
            for b in range(b0, b1):
                un, ai, au = u[n, b], a_i[b], a_u[b]
                gsn, gun = gs[n * gs_t, b], gu[n * gu_t, b]
                r = n * rs_n + b * rs_b
                for e in range(ptr[r], ptr[r + 1]):  # dW += x_e dJ[n], dJ[n] = a_I[n+1]
                    g = dwt[cols[e]]
                    xv = u.dtype.type(vals[e]) if has_vals else one
                    for i in range(N):
                        g[i] += xv * ai[i]
                for i in range(N):
                    m, a = _adjoint(au[i], un[i], gsn[i], gun[i], lam_m[i], th, spiking, r0, r1, zero)
                    ai[i] = _flush(_current_adj(ai[i], m, lam_s[i], lam_m[i], one), tn, zero)
                    au[i] = _flush(a, tn, zero)
                if gs_t:
                    acc += _row_abs_sum(gsn)
        return acc


# Whole-loop kernels split the batch rows over a few Python threads (the kernels release the
# GIL): one hand-off per call, not per step.  Below this many state elements (T * B * N) the
# hand-off costs more than it saves.
_MIN_THREADED = 1 << 20
_pool: dict = {}


def _executor(n: int):
    from concurrent.futures import ThreadPoolExecutor

    ex = _pool.get(n)
    if ex is None:
        ex = _pool[n] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="fluctinit-scan")
    return ex


def _chunks(B: int, size: int) -> list[tuple[int, int]]:
    """Batch-row ranges, one per thread (``torch.get_num_threads()``; one range when small)."""
    n = min(torch.get_num_threads(), B)
    if n <= 1 or size < _MIN_THREADED:
        return [(0, B)]
    bounds = [B * i // n for i in range(n + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(n)]


def _run(fn, ranges: list) -> list:
    """``fn(b0, b1)`` for each range (the first in this thread, the others in the pool); results."""
    if len(ranges) == 1:
        return [fn(*ranges[0])]
    futures = [_executor(len(ranges)).submit(fn, *r) for r in ranges[1:]]
    first = fn(*ranges[0])
    return [first] + [f.result() for f in futures]


def _np(t: Tensor) -> np.ndarray:
    return t.detach().numpy()


def _contig(t: Tensor) -> np.ndarray:
    return np.ascontiguousarray(_np(t))


def _vec(x, n: int, like: Tensor) -> np.ndarray:
    """A float or ``(n,)`` tensor as a contiguous ``(n,)`` array of ``like``'s dtype."""
    if isinstance(x, Tensor):
        a = x.detach().to(dtype=like.dtype, device="cpu").reshape(-1)
        if a.numel() != n:
            a = a.expand(n)
        return np.ascontiguousarray(a.numpy())
    return np.full(n, float(x), dtype=_np(like).dtype)


def _tiny(t: Tensor) -> float:
    return float(torch.finfo(t.dtype).tiny)


def _dummy(like: np.ndarray, dims: int) -> np.ndarray:
    return np.zeros((1,) * dims, dtype=like.dtype)


class Scan:
    """One scan with currents given as ``(T, B, N)`` arrays, run by the compiled kernels.

    The arrays are bound once; :meth:`forward` / :meth:`backward` run a range of steps, so a
    recurrent layer calls them once per step from Python (its recurrent products run in
    torch in between) and a layer without recurrence once for the whole loop (split over
    threads).  ``lam_m``: float or ``(N,)``; ``lam_s``: per component a float or ``(N,)``;
    ``jmask``: per component whether a feed-forward current enters.
    """

    def __init__(self, u_all: Tensor, s_all: Tensor | None, counts: Tensor | None, lam_m, lam_s: list,
                 jmask: list, theta: float, spiking: bool):
        N = u_all.shape[-1]
        self.u = _np(u_all)
        self.s = _dummy(self.u, 3) if s_all is None else _np(s_all)
        self.cnt = _dummy(self.u, 2) if counts is None else _np(counts)
        self.lam_m = _vec(lam_m, N, u_all)
        self.lam_s = np.stack([_vec(x, N, u_all) for x in lam_s])
        self.jmask = np.array(jmask, dtype=np.bool_)
        self.theta, self.spiking, self.tiny = float(theta), bool(spiking), _tiny(u_all)

    def bind_forward(self, currents: Tensor, js: list) -> None:
        """``currents``: ``(K, B, N)`` state, zero at the start; ``js``: per component ``J_k`` or None."""
        self.cur = _np(currents)
        self.js = tuple(_contig(j) if j is not None else _dummy(self.u, 3) for j in js)

    def forward(self, n0: int, n1: int, threaded: bool = False) -> None:
        args = (self.u, self.s, self.cnt, self.cur, self.js, self.jmask, self.lam_m, self.lam_s, self.theta,
                self.spiking, self.tiny, n0, n1)
        B = self.u.shape[1]
        ranges = _chunks(B, self.u.size) if threaded else [(0, B)]
        _run(lambda b0, b1: _scan_fwd(*args, b0, b1), ranges)

    def bind_backward(self, a_u: Tensor, ds: Tensor | None, gu: Tensor | None, djs: list, q0: float, q1: float):
        """``a_u``: ``(B, N)`` adjoint state (zero); ``ds``: ``g_S`` ``(T, B, N)``, a one-step
        ``(1, B, N)`` buffer holding ``dS[n]``, or None; ``gu``: ``g_U`` ``(T, B, N)`` or None;
        ``djs``: per component ``(T, B, N)`` outputs ``dJ_k[n] = a_Ik[n+1]``."""
        self.a_u = _np(a_u)
        zeros = np.zeros((1, *self.u.shape[1:]), dtype=self.u.dtype)  # an absent gradient: one zero step
        self.ds = zeros if ds is None else (_contig(ds) if ds.shape[0] > 1 else _np(ds))
        self.ds_t = 1 if ds is not None and ds.shape[0] > 1 else 0
        self.gu = zeros if gu is None else _contig(gu)
        self.gu_t = 0 if gu is None else 1
        self.djs = tuple(_np(d) for d in djs)
        self.q = (float(q0), float(q1))

    def backward(self, n1: int, n0: int, threaded: bool = False) -> float:
        """Steps ``n1 - 1`` down to ``n0``; returns ``sum |dS|`` read (meaningful for ``g_S``)."""
        args = (self.a_u, self.u, self.ds, self.ds_t, self.gu, self.gu_t, self.djs, self.lam_m, self.lam_s,
                self.theta, self.spiking, *self.q, self.tiny, n1, n0)
        B = self.u.shape[1]
        ranges = _chunks(B, self.u.size) if threaded else [(0, B)]
        return float(sum(_run(lambda b0, b1: _scan_bwd(*args, b0, b1), ranges)))


class EventInput:
    """Input spikes as CSR rows for the event-input kernels.

    ``ptr`` ``(T*B + 1,)``, ``cols``/``vals`` ``(nnz,)`` (``vals`` None: every event is 1);
    row of step ``n``, sample ``b``: ``n * rs_n + b * rs_b`` (time layout ``rs_n = B``,
    ``rs_b = 1``; batch layout ``rs_n = 1``, ``rs_b = T``).
    """

    def __init__(self, ptr: Tensor, cols: Tensor, vals: Tensor | None, shape: tuple, layout: str):
        T, B, _ = shape
        self.ptr = _contig(ptr.to(torch.int64))
        self.cols = _contig(cols.to(torch.int64))
        self.vals = None if vals is None else vals.detach()
        self.shape = tuple(shape)
        self.rs_n, self.rs_b = (B, 1) if layout == "time" else (1, T)

    @classmethod
    def from_events(cls, ev) -> "EventInput":
        """From a :class:`~fluctinit.sim.events.SpikeEvents` (its per-row offsets)."""
        nnz = torch.tensor([ev.nnz], dtype=torch.int64, device=ev.offsets.device)
        return cls(torch.cat([ev.offsets, nnz]), ev.cols, ev.values, ev.shape, ev.layout)

    def _vals(self, like: np.ndarray) -> tuple[np.ndarray, bool]:
        if self.vals is None:
            return np.zeros(1, dtype=like.dtype), False
        return _contig(self.vals.to(dtype=torch.from_numpy(like[:0]).dtype)), True


def events_forward(inp: EventInput, weight: Tensor, lam_m, lam_s, theta: float, spiking: bool):
    """Forward scan of a feed-forward layer whose input current ``W x`` comes from events.

    Returns ``(S, U, counts)``: ``S``, ``U`` time-major ``(T, B, N)``, ``counts = sum_n S[n]``
    ``(B, N)`` (``S``, ``counts`` None when not spiking); ``weight`` ``(N, n_in)``.
    """
    T, B, _ = inp.shape
    N = weight.shape[0]
    dtype = weight.dtype
    u = torch.empty((T, B, N), dtype=dtype)
    u[0].zero_()
    s = torch.empty((T, B, N), dtype=dtype) if spiking else None
    counts = torch.zeros((B, N), dtype=dtype) if spiking else None
    cur = torch.zeros((B, N), dtype=dtype)
    un = _np(u)
    vals, has_vals = inp._vals(un)
    args = (un, _dummy(un, 3) if s is None else _np(s), _dummy(un, 2) if counts is None else _np(counts), _np(cur),
            _contig(weight.detach().t()), inp.ptr, inp.cols, vals, has_vals, inp.rs_n, inp.rs_b,
            _vec(lam_m, N, u), _vec(lam_s, N, u), float(theta), bool(spiking), _tiny(u))
    _run(lambda b0, b1: _events_fwd(*args, b0, b1), _chunks(B, u.numel()))
    return s, u, counts


def events_backward(inp: EventInput, weight: Tensor, u: Tensor, g_s, g_u, lam_m, lam_s, theta: float,
                    spiking: bool, q0: float, q1: float) -> tuple[Tensor, float]:
    """``(dL/dW (N, n_in), sum |g_S|)`` of :func:`events_forward` for the output gradients
    ``g_s``, ``g_u`` (``(T, B, N)`` or None)."""
    T, B, N = u.shape
    n_in = weight.shape[1]
    un = _np(u)
    zeros = np.zeros((1, B, N), dtype=un.dtype)  # an absent gradient: one zero step
    gs = zeros if g_s is None else _contig(g_s)
    gu = zeros if g_u is None else _contig(g_u)
    a_u = np.zeros((B, N), dtype=un.dtype)
    a_i = np.zeros((B, N), dtype=un.dtype)
    ranges = _chunks(B, u.numel())
    dwt = np.zeros((len(ranges), n_in, N), dtype=un.dtype)
    vals, has_vals = inp._vals(un)
    lm, ls = _vec(lam_m, N, u), _vec(lam_s, N, u)
    index = {r: i for i, r in enumerate(ranges)}

    def work(b0, b1):
        return _events_bwd(a_u, a_i, un, gs, int(g_s is not None), gu, int(g_u is not None), dwt[index[(b0, b1)]],
                           inp.ptr, inp.cols, vals, has_vals, inp.rs_n, inp.rs_b, lm, ls, float(theta),
                           bool(spiking), float(q0), float(q1), _tiny(u), b0, b1)

    sums = _run(work, ranges)
    return torch.from_numpy(dwt.sum(axis=0).T.copy()), float(sum(sums))
