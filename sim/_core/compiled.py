"""Compiled CPU kernels of the fast core (numba): the neuron's step and adjoint, written once.

The update of paper eqs. 10-11 (sim.neuron) and its adjoint appear here exactly once, as
inlined per-neuron functions (numba inlines ``@njit(inline="always")`` functions into their
callers, so sharing them costs nothing):

    _spike       S[n] = H(U[n] - theta)
    _membrane    U[n+1] = (lm U[n] + (1 - lm) I[n]) (1 - S[n])
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
    def _spike(x, th, spiking):
        """S[n] of one neuron from U[n] (never in the free mode)."""
        return (x > th) & spiking  # no short-circuit: a branch keeps the row loops from vectorizing

    @njit(inline="always")
    def _membrane(x, itot, lm, sp, one, zero):
        """U[n+1] of one neuron from U[n], its total current I[n] and its spike S[n] (before flushing)."""
        return zero if sp else lm * x + (one - lm) * itot

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

    @njit(nogil=True, cache=True, boundscheck=False, fastmath=True)
    def _row_abs_sum(row):
        # sum |row|, vectorized (fastmath: free summation order); a call, not inlined, so the
        # caller's loops keep strict IEEE semantics
        r = 0.0
        for i in range(row.shape[0]):
            r += abs(row[i])
        return r

    # ------------------------------------------------- currents given as (T, B, N)
    # js[k]: J_k (T, B, N), or a (1, 1, 1) dummy where component k has no input (jmask);
    # s, cnt: S (T, B, N) and counts (B, N); without spikes a (1, B, N) and a (B, N) scratch
    # (s_t = 0).  One component (every layer but Dale's) runs in one pass per row; the
    # sum |dS| of the probe is a separate vectorized pass (a strict float sum in the main loop
    # would keep it from vectorizing).

    @njit(inline="always")
    def _add_row(acc, row):
        # the spike counts: a separate pass (a conditional add in the step loop cost 20-40 %)
        for i in range(row.shape[0]):
            acc[i] += row[i]

    @njit(inline="always")
    def _fwd_row1(un, up, sn, cn, c0, jn, lm, l0, th, spiking, count, tn, last, upd):
        one, zero = un.dtype.type(1.0), un.dtype.type(0.0)
        for i in range(un.shape[0]):
            sp = _spike(un[i], th, spiking)
            sn[i] = one if sp else zero  # (a scratch row without spikes)
            if not last:
                up[i] = _flush(_membrane(un[i], c0[i], lm[i], sp, one, zero), tn, zero)
            if upd:
                c0[i] = _flush(_current(c0[i], l0[i], jn[i]), tn, zero)
        if count:
            _add_row(cn, sn)

    @njit(inline="always")
    def _fwd_rowk(un, up, sn, cn, cur, js, jmask, lm, ls, th, spiking, count, tn, n, b, last, upd):
        one, zero = un.dtype.type(1.0), un.dtype.type(0.0)
        K = cur.shape[0]
        for i in range(un.shape[0]):
            itot = cur[0, b, i]
            for k in range(1, K):
                itot += cur[k, b, i]
            sp = _spike(un[i], th, spiking)
            sn[i] = one if sp else zero
            if not last:
                up[i] = _flush(_membrane(un[i], itot, lm[i], sp, one, zero), tn, zero)
        if count:
            _add_row(cn, sn)
        if upd:
            for k in range(K):
                ck, lk = cur[k, b], ls[k]
                if jmask[k]:
                    jn = js[k][n, b]
                    for i in range(ck.shape[0]):
                        ck[i] = _flush(_current(ck[i], lk[i], jn[i]), tn, zero)
                else:
                    for i in range(ck.shape[0]):
                        ck[i] = _flush(_current(ck[i], lk[i], zero), tn, zero)

    @njit(**_opts)
    def _scan_fwd(u, s, s_t, cnt, count, cur, js, jmask, lam_m, lam_s, theta, spiking, tiny, n0, n1, b0, b1):
        """Steps [n0, n1) of the forward scan on batch rows [b0, b1); ``count``: add the spikes to ``cnt``."""
        T = u.shape[0]
        th, tn = u.dtype.type(theta), u.dtype.type(tiny)
        K = cur.shape[0]
        for n in range(n0, n1):
            last, upd = n + 1 >= T, n + 2 < T
            nu = n if last else n + 1
            for b in range(b0, b1):
                if K == 1:
                    _fwd_row1(u[n, b], u[nu, b], s[n * s_t, b], cnt[b], cur[0, b], js[0][n, b], lam_m, lam_s[0], th,
                              spiking, count, tn, last, upd)
                else:
                    _fwd_rowk(u[n, b], u[nu, b], s[n * s_t, b], cnt[b], cur, js, jmask, lam_m, lam_s, th, spiking,
                              count, tn, n, b, last, upd)

    @njit(inline="always")
    def _bwd_row1(au, un, dsn, gun, djn, djp, first, lm, l0, th, spiking, q0, q1, tn):
        one, zero = un.dtype.type(1.0), un.dtype.type(0.0)
        for i in range(un.shape[0]):
            m, a = _adjoint(au[i], un[i], dsn[i], gun[i], lm[i], th, spiking, q0, q1, zero)
            if not first:
                djp[i] = _flush(_current_adj(djn[i], m, l0[i], lm[i], one), tn, zero)
            au[i] = _flush(a, tn, zero)

    @njit(inline="always")
    def _bwd_rowk(au, un, dsn, gun, djs, n, b, lm, ls, th, spiking, q0, q1, tn):
        one, zero = un.dtype.type(1.0), un.dtype.type(0.0)
        if n >= 1:  # the current adjoints first: they need a_U[n+1], which the last loop replaces
            for k in range(len(djs)):
                djn, djp, lk = djs[k][n, b], djs[k][n - 1, b], ls[k]
                for i in range(un.shape[0]):
                    m, _ = _adjoint(au[i], un[i], dsn[i], gun[i], lm[i], th, spiking, q0, q1, zero)
                    djp[i] = _flush(_current_adj(djn[i], m, lk[i], lm[i], one), tn, zero)
        for i in range(un.shape[0]):
            _, a = _adjoint(au[i], un[i], dsn[i], gun[i], lm[i], th, spiking, q0, q1, zero)
            au[i] = _flush(a, tn, zero)

    @njit(**_opts)
    def _scan_bwd(a_u, u, ds, ds_t, gu, gu_t, djs, lam_m, lam_s, theta, spiking, q0, q1, tiny, n1, n0, b0, b1):
        """Steps n1-1 down to n0 of the backward scan on rows [b0, b1); returns sum |dS| read
        (when ``ds`` holds every step: ``ds_t`` 1; ``ds_t``/``gu_t`` 0 for a one-step buffer)."""
        dt = u.dtype.type
        th, tn, r0, r1 = dt(theta), dt(tiny), dt(q0), dt(q1)
        K = len(djs)
        acc = 0.0
        for n in range(n1 - 1, n0 - 1, -1):
            p = n - 1 if n >= 1 else 0
            for b in range(b0, b1):
                dsn, gun = ds[n * ds_t, b], gu[n * gu_t, b]
                if K == 1:
                    _bwd_row1(a_u[b], u[n, b], dsn, gun, djs[0][n, b], djs[0][p, b], n == 0, lam_m, lam_s[0], th,
                              spiking, r0, r1, tn)
                else:
                    _bwd_rowk(a_u[b], u[n, b], dsn, gun, djs, n, b, lam_m, lam_s, th, spiking, r0, r1, tn)
                if spiking and ds_t:
                    acc += _row_abs_sum(dsn)
        return acc

    # ----------------------------------------- a feed-forward layer with event input
    # Events are CSR rows r = n * rs_n + b * rs_b; ptr[r]..ptr[r+1] index cols/vals.

    @njit(inline="always")
    def _event_rows(e0, e1, cols, vals, has_vals, table, vec, gather):
        """The input projection of events ``e0 .. e1-1`` (one row of events): ``gather``:
        ``vec += x_e table[col_e]`` (the current, forward); else ``table[col_e] += x_e vec``
        (the weight gradient, backward: ``table`` is ``dW^T``, ``vec`` is ``dJ[n]``).
        Valued and unit events take separate loops: a merged loop loaded ``vals[e]``
        speculatively (out of bounds of the dummy when there are none), and garbage
        denormals there slowed it 5x at random."""
        for e in range(e0, e1):
            row = table[cols[e]]
            if has_vals:
                xv = vec.dtype.type(vals[e])
                if gather:
                    for i in range(vec.shape[0]):
                        vec[i] += xv * row[i]
                else:
                    for i in range(vec.shape[0]):
                        row[i] += xv * vec[i]
            elif gather:
                for i in range(vec.shape[0]):
                    vec[i] += row[i]
            else:
                for i in range(vec.shape[0]):
                    row[i] += vec[i]

    @njit(**_opts)
    def _events_fwd(u, s, s_t, cnt, cur, wt, ptr, cols, vals, has_vals, rs_n, rs_b, lam_m, lam_s, theta, spiking,
                    tiny, b0, b1):
        T, N = u.shape[0], u.shape[2]
        one, zero = u.dtype.type(1.0), u.dtype.type(0.0)
        th, tn = u.dtype.type(theta), u.dtype.type(tiny)
        for n in range(T):
            last, upd = n + 1 >= T, n + 2 < T
            for b in range(b0, b1):
                un, c0 = u[n, b], cur[b]
                sn, cn = s[n * s_t, b], cnt[b]
                for i in range(N):
                    x = un[i]
                    sp = _spike(x, th, spiking)
                    sn[i] = one if sp else zero  # (a scratch row without spikes)
                    if sp:
                        cn[i] += one
                    if not last:
                        u[n + 1, b, i] = _flush(_membrane(x, c0[i], lam_m[i], sp, one, zero), tn, zero)
                if upd:
                    for i in range(N):
                        c0[i] = _current(c0[i], lam_s[i], zero)
                    r = n * rs_n + b * rs_b
                    _event_rows(ptr[r], ptr[r + 1], cols, vals, has_vals, wt, c0, True)  # J[n] = W x[n]
                    for i in range(N):
                        c0[i] = _flush(c0[i], tn, zero)

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
                _event_rows(ptr[r], ptr[r + 1], cols, vals, has_vals, dwt, ai, False)  # dW += x_e dJ[n]
                for i in range(N):
                    m, a = _adjoint(au[i], un[i], gsn[i], gun[i], lam_m[i], th, spiking, r0, r1, zero)
                    ai[i] = _flush(_current_adj(ai[i], m, lam_s[i], lam_m[i], one), tn, zero)
                    au[i] = _flush(a, tn, zero)
                if gs_t:
                    acc += _row_abs_sum(gsn)
        return acc


    # ------------------------------------------------------- events of a dense tensor
    @njit(**_opts)
    def _count_rows(x2, counts):
        # x2: (rows, n) contiguous; counts[r]: non-zero entries of row r
        for r in range(x2.shape[0]):
            c = 0
            row = x2[r]
            for j in range(row.shape[0]):
                if row[j] != 0:
                    c += 1
            counts[r] = c

    @njit(**_opts)
    def _fill_rows(x2, ptr, cols, vals):
        for r in range(x2.shape[0]):
            k = ptr[r]
            row = x2[r]
            for j in range(row.shape[0]):
                v = row[j]
                if v != 0:
                    cols[k] = j
                    vals[k] = v
                    k += 1


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
        scratch = (1, *self.u.shape[1:])  # not spiking: nothing is written to S or the counts
        self.s = np.zeros(scratch, dtype=self.u.dtype) if s_all is None else _np(s_all)
        self.s_t = 0 if s_all is None else 1
        self.cnt = np.zeros(scratch[1:], dtype=self.u.dtype) if counts is None else _np(counts)
        self.count = counts is not None
        self.lam_m = _vec(lam_m, N, u_all)
        self.lam_s = np.stack([_vec(x, N, u_all) for x in lam_s])
        self.jmask = np.array(jmask, dtype=np.bool_)
        self.theta, self.spiking, self.tiny = float(theta), bool(spiking), _tiny(u_all)

    def bind_forward(self, currents: Tensor, js: list) -> None:
        """``currents``: ``(K, B, N)`` state, zero at the start; ``js``: per component ``J_k`` or None."""
        js = tuple(_contig(j) if j is not None else _dummy(self.u, 3) for j in js)
        self._f = (self.u, self.s, self.s_t, self.cnt, self.count, _np(currents), js, self.jmask, self.lam_m,
                   self.lam_s, self.theta, self.spiking, self.tiny)

    def forward_all(self) -> None:
        """The whole loop, batch rows split over threads."""
        T, B = self.u.shape[:2]
        _run(lambda b0, b1: _scan_fwd(*self._f, 0, T, b0, b1), _chunks(B, self.u.size))

    def forward_step(self, n: int) -> None:
        """Step ``n`` (one thread: called once per step, between the recurrent products)."""
        _scan_fwd(*self._f, n, n + 1, 0, self.u.shape[1])

    def bind_backward(self, a_u: Tensor, ds: Tensor | None, gu: Tensor | None, djs: list, q0: float, q1: float):
        """``a_u``: ``(B, N)`` adjoint state (zero); ``ds``: ``g_S`` ``(T, B, N)``, a one-step
        ``(1, B, N)`` buffer holding ``dS[n]``, or None; ``gu``: ``g_U`` ``(T, B, N)`` or None;
        ``djs``: per component ``(T, B, N)`` outputs ``dJ_k[n] = a_Ik[n+1]``."""
        zeros = np.zeros((1, *self.u.shape[1:]), dtype=self.u.dtype)  # an absent gradient: one zero step
        ds_a = zeros if ds is None else (_contig(ds) if ds.shape[0] > 1 else _np(ds))
        gu_a = zeros if gu is None else _contig(gu)
        self._b = (_np(a_u), self.u, ds_a, int(ds is not None and ds.shape[0] > 1), gu_a, int(gu is not None),
                   tuple(_np(d) for d in djs), self.lam_m, self.lam_s, self.theta, self.spiking, float(q0),
                   float(q1), self.tiny)

    def backward_all(self) -> float:
        """The whole loop backwards, rows split over threads; returns ``sum |g_S|`` read."""
        T, B = self.u.shape[:2]
        return float(sum(_run(lambda b0, b1: _scan_bwd(*self._b, T, 0, b0, b1), _chunks(B, self.u.size))))

    def backward_step(self, n: int) -> None:
        """Step ``n`` of the backward pass (its ``dS[n]`` in the one-step buffer)."""
        _scan_bwd(*self._b, n + 1, n, 0, self.u.shape[1])


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

    @classmethod
    def from_dense(cls, x: Tensor, *, max_density: float | None = None) -> "EventInput | None":
        """From a dense batch-first ``(B, T, n)`` CPU tensor, in two passes over its memory
        (count the non-zeros of each ``(sample, step)`` row, then list them): the input's own
        batch layout, no sort.  ``None`` when the density exceeds ``max_density``."""
        B, T, n = x.shape
        x2 = _contig(x.reshape(B * T, n))
        counts = np.empty(B * T, dtype=np.int64)
        _count_rows(x2, counts)
        ptr = np.zeros(B * T + 1, dtype=np.int64)
        np.cumsum(counts, out=ptr[1:])
        nnz = int(ptr[-1])
        if max_density is not None and nnz > max_density * max(1, x2.size):
            return None
        cols = np.empty(nnz, dtype=np.int64)
        vals = np.empty(nnz, dtype=x2.dtype)
        _fill_rows(x2, ptr, cols, vals)
        values = None if nnz == 0 or bool((vals == 1).all()) else torch.from_numpy(vals)
        return cls(torch.from_numpy(ptr), torch.from_numpy(cols), values, (T, B, n), "batch")

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
    # not spiking: S and the counts are a scratch row (allocated only then: an unused extra
    # block of this size perturbs glibc's reuse of the freed state buffers, page faults follow)
    scratch = np.zeros((1, B, N), dtype=un.dtype) if s is None else None
    args = (un, scratch if s is None else _np(s), 0 if s is None else 1, scratch[0] if counts is None else _np(counts), _np(cur),
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
