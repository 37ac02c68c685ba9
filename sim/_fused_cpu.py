"""Compiled CPU kernels for the fused LIF and readout scans (numba).

On the CPU the time loop of :mod:`._fused_lif` written as torch operations costs a handful of
small elementwise ops per step (``gt``, ``lerp``, ``addcmul``, ``add`` ...), each a separate
pass over the ``(batch, neurons)`` state with its own dispatch overhead; for the paper's
shapes this per-step work, not the input products, dominated a training step
(benchmarks/bench_core.py).  The kernels here run the same recursions with one pass over the
state per step and, for layers without recurrence, the whole time loop in one call.

Threads: the whole-loop kernels split the batch rows over ``torch.get_num_threads()`` Python
threads (the kernels release the GIL; each thread runs all time steps on its rows, one
hand-off per call).  numba's own parallel loops were tried and dropped: one parallel region
per time step beside torch's OpenMP threads on the 2-core machine made the forward pass 30x
slower (850 ms instead of 25 ms for 350 x 400 x 128; threads wait for each other at every
step).  The single-step kernels of recurrent layers run on one thread.

The recursions are exactly those of :mod:`._fused_lif` (docstring there):

    forward   S[n] = H(U[n] - theta);  U[n+1] = lm U[n] + (1 - lm) sum_k I_k[n],  times (1 - S[n])
              I_k[n+1] = ls_k I_k[n] + J_k[n]                      (+ recurrence, added by torch)
    backward  m = (1 - S[n]) a_U[n+1];  a_Ik[n] = ls_k a_Ik[n+1] + (1 - lm) m
              a_U[n] = g_U[n] + h(U[n]) dS[n] + lm m,   h = 1/q^2,  q = q0 + q1 |U[n] - theta|

Recurrent layers call the single-step kernels from a Python loop and add the recurrent
currents (``V S[n]``) and their adjoints with torch products between the steps.

States below the smallest normal float are flushed to zero inside the kernels, which is what
``torch.set_flush_denormal(True)`` does for the torch path (sim.lif): decaying states would
otherwise become denormal in long silent stretches and slow the CPU down many times.

numba is optional at import: without it (or with ``FLUCTINIT_NUMBA=0`` in the environment)
:data:`AVAILABLE` is False and the fused core uses its torch-op loop, on CPU and CUDA alike.
The kernels compile on first use (a few seconds, cached on disk by numba afterwards).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor

__all__ = ["AVAILABLE", "usable", "LIFKernel", "EventInput", "lif_events_forward", "lif_events_backward",
           "readout_forward", "readout_backward"]

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


def _np(t: Tensor) -> np.ndarray:
    return t.detach().numpy()


if AVAILABLE:
    _opts = dict(nogil=True, cache=True, boundscheck=False, error_model="numpy")

    # Loop order matters: time outside, then the batch rows, each row a contiguous,
    # vectorizable loop over neurons.  Walking time inside a row instead strides by
    # batch * neurons per step and was 4x slower (measured: TLB and prefetch misses).

    # ------------------------------------------------------------------------- LIF forward
    @njit(inline="always")
    def _fwd_row1(un, sn, up, c0, jn, has_j, lm, l0, th, reset, tn, last, upd):
        # one component: spike, membrane update, current update of one batch row
        one, zero = un.dtype.type(1.0), un.dtype.type(0.0)
        for i in range(un.shape[0]):
            x = un[i]
            sp = x > th
            sn[i] = one if sp else zero
            if not last:
                v = lm[i] * x + (one - lm[i]) * c0[i]
                if reset and sp:
                    v = zero
                up[i] = zero if abs(v) < tn else v
                if upd:
                    c = l0[i] * c0[i]
                    if has_j:
                        c += jn[i]
                    c0[i] = zero if abs(c) < tn else c

    @njit(inline="always")
    def _fwd_rowk(un, sn, up, cr, lm, th, reset, tn, last):
        # several components: spike and membrane update from the summed currents cr (K, N)
        one, zero = un.dtype.type(1.0), un.dtype.type(0.0)
        K = cr.shape[0]
        for i in range(un.shape[0]):
            x = un[i]
            sp = x > th
            sn[i] = one if sp else zero
            if not last:
                itot = cr[0, i]
                for k in range(1, K):
                    itot += cr[k, i]
                v = lm[i] * x + (one - lm[i]) * itot
                if reset and sp:
                    v = zero
                up[i] = zero if abs(v) < tn else v

    @njit(inline="always")
    def _cur_row(ck, jn, has_j, lk, tn):
        zero = ck.dtype.type(0.0)
        for i in range(ck.shape[0]):
            c = lk[i] * ck[i]
            if has_j:
                c += jn[i]
            ck[i] = zero if abs(c) < tn else c

    @njit(inline="always")
    def _fwd_one(n, u, s, cur, js, jmask, lam_m, lam_s, th, reset, tn, b0, b1):
        T = u.shape[0]
        K = cur.shape[0]
        last = n + 1 >= T
        upd = n + 2 < T
        nn = n + 1 if not last else n
        if K == 1:
            jj = js[0]
            has_j = jmask[0]
            jn_i = n if has_j else 0
            jb = 1 if has_j else 0  # row stride into the current (0: the dummy)
            for b in range(b0, b1):
                _fwd_row1(u[n, b], s[n, b], u[nn, b], cur[0, b], jj[jn_i, b * jb], has_j,
                          lam_m, lam_s[0], th, reset, tn, last, upd)
        else:
            for b in range(b0, b1):
                _fwd_rowk(u[n, b], s[n, b], u[nn, b], cur[:, b, :], lam_m, th, reset, tn, last)
                if upd:
                    for k in range(K):
                        hk = jmask[k]
                        sk = 1 if hk else 0
                        _cur_row(cur[k, b], js[k][n * sk, b * sk], hk, lam_s[k], tn)

    @njit(**_opts)
    def _fwd_all(u, s, cur, js, jmask, lam_m, lam_s, theta, reset, tiny, b0, b1):
        # batch rows [b0, b1) through all steps; threads take disjoint row ranges
        th, tn = u.dtype.type(theta), u.dtype.type(tiny)
        for n in range(u.shape[0]):
            _fwd_one(n, u, s, cur, js, jmask, lam_m, lam_s, th, reset, tn, b0, b1)

    @njit(**_opts)
    def _fwd_step(n, u, s, cur, js, jmask, lam_m, lam_s, theta, reset, tiny):
        _fwd_one(n, u, s, cur, js, jmask, lam_m, lam_s, u.dtype.type(theta), reset, u.dtype.type(tiny), 0,
                 u.shape[1])

    # ------------------------------------------------------------------------ LIF backward
    @njit(inline="always")
    def _bwd_row1(au, un, dsn, has_ds, gun, has_gu, djn, djp, first, lm, l0, th, reset, q0, q1, tn):
        one, zero = un.dtype.type(1.0), un.dtype.type(0.0)
        for i in range(un.shape[0]):
            m = au[i]
            if reset and un[i] > th:  # S[n] = H(U[n] - theta), recomputed: one stream less
                m = zero
            if not first:
                d = l0[i] * djn[i] + (one - lm[i]) * m
                djp[i] = zero if abs(d) < tn else d
            a = lm[i] * m
            if has_ds:
                q = q0 + q1 * abs(un[i] - th)
                a += dsn[i] / (q * q)
            if has_gu:
                a += gun[i]
            au[i] = zero if abs(a) < tn else a

    @njit(inline="always")
    def _bwd_one(n, a_u, u, ds, has_ds, gu, has_gu, djs, lam_m, lam_s, th, reset, q0, q1, tn, b0, b1):
        K = len(djs)
        first = n == 0
        p = n - 1 if n >= 1 else 0
        one, zero = u.dtype.type(1.0), u.dtype.type(0.0)
        sd = 1 if has_ds else 0  # row strides (0: the dummy arrays)
        sg = 1 if has_gu else 0
        ng = n * sg
        if K == 1:
            dj = djs[0]
            for b in range(b0, b1):
                _bwd_row1(a_u[b], u[n, b], ds[b * sd], has_ds, gu[ng, b * sg],
                          has_gu, dj[n, b], dj[p, b], first, lam_m, lam_s[0], th, reset, q0, q1, tn)
        else:
            for b in range(b0, b1):
                au = a_u[b]
                un = u[n, b]
                if not first:
                    for k in range(K):
                        djn = djs[k][n, b]
                        djp = djs[k][p, b]
                        lk = lam_s[k]
                        for i in range(au.shape[0]):
                            m = au[i]
                            if reset and un[i] > th:  # S[n] = H(U[n] - theta), recomputed
                                m = zero
                            d = lk[i] * djn[i] + (one - lam_m[i]) * m
                            djp[i] = zero if abs(d) < tn else d
                # the a_U update of the one-component row with no current adjoint to write
                _bwd_row1(au, un, ds[b * sd], has_ds, gu[ng, b * sg],
                          has_gu, au, au, True, lam_m, lam_s[0], th, reset, q0, q1, tn)

    @njit(**_opts)
    def _bwd_all(a_u, u, gs, has_gs, gu, has_gu, djs, lam_m, lam_s, theta, reset, q0, q1, tiny, b0, b1):
        T = u.shape[0]
        th, tn = u.dtype.type(theta), u.dtype.type(tiny)
        r0, r1 = u.dtype.type(q0), u.dtype.type(q1)
        for n in range(T - 1, -1, -1):
            _bwd_one(n, a_u, u, gs[n * (1 if has_gs else 0)], has_gs, gu, has_gu, djs, lam_m, lam_s, th, reset,
                     r0, r1, tn, b0, b1)

    @njit(**_opts)
    def _bwd_step(n, a_u, u, ds, has_ds, gu, has_gu, djs, lam_m, lam_s, theta, reset, q0, q1, tiny):
        dt = u.dtype.type
        _bwd_one(n, a_u, u, ds, has_ds, gu, has_gu, djs, lam_m, lam_s, dt(theta), reset, dt(q0), dt(q1),
                 dt(tiny), 0, u.shape[1])

    # ------------------------------------------- feed-forward layer with event input, fused
    # The input current J[n] = W x[n] is never stored: each step adds the weight rows of the
    # row's input events to the synaptic current, and the backward pass adds
    # x_e * dJ[n] (dJ[n] = a_I[n+1], a rolling state) to the weight gradient's rows.
    # Events are CSR rows r = n * rs_n + b * rs_b; ptr[r]..ptr[r+1] index cols/vals.

    @njit(**_opts)
    def _ev_fwd_all(u, s, cnt, cur, wt, ptr, cols, vals, has_vals, rs_n, rs_b, lam_m, lam_s, theta, reset, tiny,
                    b0, b1):
        # cnt: (B, N) spike counts sum_n S[n] (zero at the start), a by-product for the regularizers
        T = u.shape[0]
        N = u.shape[2]
        one, zero = u.dtype.type(1.0), u.dtype.type(0.0)
        th, tn = u.dtype.type(theta), u.dtype.type(tiny)
        for n in range(T):
            last = n + 1 >= T
            upd = n + 2 < T
            for b in range(b0, b1):
                un = u[n, b]
                sn = s[n, b]
                c0 = cur[b]
                cb = cnt[b]
                for i in range(N):
                    x = un[i]
                    sp = x > th
                    sn[i] = one if sp else zero
                    if sp:
                        cb[i] += one
                    if not last:
                        v = lam_m[i] * x + (one - lam_m[i]) * c0[i]
                        if reset and sp:
                            v = zero
                        u[n + 1, b, i] = zero if abs(v) < tn else v
                if upd:
                    for i in range(N):
                        c0[i] = lam_s[i] * c0[i]
                    r = n * rs_n + b * rs_b
                    for e in range(ptr[r], ptr[r + 1]):
                        w = wt[cols[e]]
                        if has_vals:
                            xv = u.dtype.type(vals[e])
                            for i in range(N):
                                c0[i] += xv * w[i]
                        else:
                            for i in range(N):
                                c0[i] += w[i]
                    for i in range(N):
                        if abs(c0[i]) < tn:
                            c0[i] = zero

    @njit(nogil=True, cache=True, boundscheck=False, fastmath=True)
    def _row_abs_sum(row):
        # sum |row|, vectorized (fastmath: free summation order); a call, not inlined, so the
        # caller's loops keep strict IEEE semantics
        r = 0.0
        for i in range(row.shape[0]):
            r += abs(row[i])
        return r

    @njit(**_opts)
    def _ev_bwd_all(a_u, a_i, u, gs, has_gs, gc, has_gc, gu, has_gu, dwt, ptr, cols, vals, has_vals, rs_n,
                    rs_b, lam_m, lam_s, theta, reset, q0, q1, tiny, b0, b1):
        # gc: (B, N) gradient of the spike counts, enters dS[n] at every step; returns
        # sum |dL/dS| over the rows (every route: g_S and the counts' gradient)
        # a_u, a_i: (B, N) adjoint states (zero at the start); dwt: (n_in, N) this thread's
        # weight-gradient accumulator (transposed: row = input unit)
        T = u.shape[0]
        N = u.shape[2]
        one, zero = u.dtype.type(1.0), u.dtype.type(0.0)
        th, tn = u.dtype.type(theta), u.dtype.type(tiny)
        r0, r1 = u.dtype.type(q0), u.dtype.type(q1)
        dsr = np.zeros(N, dtype=u.dtype)  # this row's total dL/dS
        acc = 0.0  # sum |dL/dS| over this thread's rows: the recorded surrogate-gradient magnitude
        any_ds = has_gs or has_gc
        for n in range(T - 1, -1, -1):
            for b in range(b0, b1):
                un = u[n, b]
                ai = a_i[b]  # holds a_I[n+1] = dJ[n]
                r = n * rs_n + b * rs_b
                for e in range(ptr[r], ptr[r + 1]):
                    g = dwt[cols[e]]
                    if has_vals:
                        xv = u.dtype.type(vals[e])
                        for i in range(N):
                            g[i] += xv * ai[i]
                    else:
                        for i in range(N):
                            g[i] += ai[i]
                au = a_u[b]
                for i in range(N):
                    m = au[i]
                    if reset and un[i] > th:  # S[n] = H(U[n] - theta), recomputed: one stream less
                        m = zero
                    d = lam_s[i] * ai[i] + (one - lam_m[i]) * m
                    ai[i] = zero if abs(d) < tn else d
                    a = lam_m[i] * m
                    if any_ds:
                        q = r0 + r1 * abs(un[i] - th)
                        ds = zero
                        if has_gs:
                            ds += gs[n, b, i]
                        if has_gc:
                            ds += gc[b, i]
                        dsr[i] = ds
                        a += ds / (q * q)
                    if has_gu:
                        a += gu[n, b, i]
                    au[i] = zero if abs(a) < tn else a
                if any_ds:
                    acc += _row_abs_sum(dsr)
        return acc

    # ----------------------------------------------------------------------------- readout
    @njit(**_opts)
    def _ro_fwd(u, j, lam_m, lam_s, tiny):
        # u, j: (T, M) with M = batch * units (small): one thread, time outside
        T, M = u.shape
        one, zero = u.dtype.type(1.0), u.dtype.type(0.0)
        lm, ls, tn = u.dtype.type(lam_m), u.dtype.type(lam_s), u.dtype.type(tiny)
        cur = np.zeros(M, dtype=u.dtype)
        u[0, :] = zero
        for n in range(T - 1):
            un, up, jn = u[n], u[n + 1], j[n]
            for i in range(M):
                v = lm * un[i] + (one - lm) * cur[i]
                up[i] = zero if abs(v) < tn else v
                c = ls * cur[i] + jn[i]
                cur[i] = zero if abs(c) < tn else c

    @njit(**_opts)
    def _ro_bwd(dj, gu, lam_m, lam_s, tiny):
        T, M = gu.shape
        one, zero = gu.dtype.type(1.0), gu.dtype.type(0.0)
        lm, ls, tn = gu.dtype.type(lam_m), gu.dtype.type(lam_s), gu.dtype.type(tiny)
        a_u = np.zeros(M, dtype=gu.dtype)
        dj[T - 1, :] = zero
        for n in range(T - 1, -1, -1):
            gn = gu[n]
            if n >= 1:
                djn, djp = dj[n], dj[n - 1]
                for i in range(M):
                    d = ls * djn[i] + (one - lm) * a_u[i]
                    djp[i] = zero if abs(d) < tn else d
            for i in range(M):
                a = gn[i] + lm * a_u[i]
                a_u[i] = zero if abs(a) < tn else a


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


def _run(fn, ranges: list) -> None:
    """``fn(i, b0, b1)`` for each range; the first in this thread, the others in the pool."""
    if len(ranges) == 1:
        fn(0, *ranges[0])
        return
    futures = [_executor(len(ranges)).submit(fn, i, *r) for i, r in enumerate(ranges) if i > 0]
    fn(0, *ranges[0])
    for f in futures:
        f.result()


def _over_rows(kernel, args: tuple, u: np.ndarray) -> None:
    """Run ``kernel(*args, b0, b1)`` over the batch rows of the state ``u`` ``(T, B, N)``, in
    torch.get_num_threads() chunks."""
    _run(lambda i, b0, b1: kernel(*args, b0, b1), _chunks(u.shape[1], u.size))


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


def _contig(t: Tensor) -> np.ndarray:
    return np.ascontiguousarray(_np(t))


class LIFKernel:
    """One fused LIF scan run by the compiled kernels: the arrays are bound once, so a step
    from a Python loop (recurrent layers) costs one kernel call.

    ``lam_m``: float or ``(N,)``; ``lam_s``: per component a float or ``(N,)``;
    ``jmask``: per component whether a feed-forward current enters.
    """

    def __init__(self, like: Tensor, lam_m, lam_s: list, jmask: list, theta: float, reset: bool):
        N = like.shape[-1]
        self.lam_m = _vec(lam_m, N, like)
        self.lam_s = np.stack([_vec(x, N, like) for x in lam_s])
        self.jmask = np.array(jmask, dtype=np.bool_)
        self.theta = float(theta)
        self.reset = bool(reset)
        self.tiny = _tiny(like)
        self.dummy = np.zeros((1, 1, 1), dtype=_np(like).dtype)

    def bind_forward(self, u_all: Tensor, s_all: Tensor, currents: Tensor, js: list) -> None:
        """``u_all``, ``s_all``: ``(T, B, N)`` contiguous outputs; ``currents``: ``(K, B, N)``
        state, zero at the start; ``js``: per component ``(T, B, N)`` current or ``None``."""
        js_a = tuple(_contig(j) if j is not None else self.dummy for j in js)
        self._fwd = (_np(u_all), _np(s_all), _np(currents), js_a, self.jmask, self.lam_m,
                     self.lam_s, self.theta, self.reset, self.tiny)

    def forward_all(self) -> None:
        _over_rows(_fwd_all, self._fwd, self._fwd[0])

    def forward_step(self, n: int) -> None:
        _fwd_step(n, *self._fwd)

    def bind_backward(self, a_u: Tensor, u_all: Tensor, ds, gu, djs: list, q0: float, q1: float) -> None:
        """``a_u``: ``(B, N)`` adjoint state (zero at the start); ``ds``: ``g_S`` ``(T, B, N)``
        (for :meth:`backward_all`), a ``(B, N)`` buffer holding ``dS[n]`` (for
        :meth:`backward_step`) or ``None``; ``gu``: ``g_U`` ``(T, B, N)`` or ``None``;
        ``djs``: per component ``(T, B, N)`` outputs ``dJ_k[n] = a_Ik[n+1]``."""
        if ds is None:
            ds_a = self.dummy
        else:
            ds_a = _contig(ds) if ds.dim() == 3 else _np(ds)
        gu_a = self.dummy if gu is None else _contig(gu)
        self._bwd = (_np(a_u), _np(u_all), ds_a, ds is not None, gu_a, gu is not None,
                     tuple(_np(d) for d in djs), self.lam_m, self.lam_s, self.theta, self.reset,
                     float(q0), float(q1), self.tiny)

    def backward_all(self) -> None:
        _over_rows(_bwd_all, self._bwd, self._bwd[1])

    def backward_step(self, n: int) -> None:
        a = self._bwd
        ds = a[2] if a[3] else a[2][0]  # the (B, N) buffer, or the dummy's (1, 1) slice
        _bwd_step(n, a[0], a[1], ds, *a[3:])


def readout_forward(j: Tensor, lam_m: float, lam_s: float) -> Tensor:
    """Readout membrane ``U`` ``(T, B, N)`` for input current ``j`` (time-major)."""
    T = j.shape[0]
    u = torch.empty(j.shape, dtype=j.dtype)
    _ro_fwd(_np(u).reshape(T, -1), _contig(j).reshape(T, -1), float(lam_m), float(lam_s), _tiny(j))
    return u


def readout_backward(g_u: Tensor, lam_m: float, lam_s: float) -> Tensor:
    """Adjoint of :func:`readout_forward`: ``dJ`` for the membrane gradient ``g_u``."""
    T = g_u.shape[0]
    dj = torch.empty(g_u.shape, dtype=g_u.dtype)
    _ro_bwd(_np(dj).reshape(T, -1), _contig(g_u).reshape(T, -1), float(lam_m), float(lam_s), _tiny(g_u))
    return dj


class EventInput:
    """Input spikes as CSR rows for the fused event-input kernels.

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
        """From a :class:`~fluctinit.sim._fused_events.SpikeEvents` (its per-row offsets)."""
        nnz = torch.tensor([ev.nnz], dtype=torch.int64, device=ev.offsets.device)
        return cls(torch.cat([ev.offsets, nnz]), ev.cols, ev.values, ev.shape, ev.layout)

    def _vals(self, like: np.ndarray) -> tuple[np.ndarray, bool]:
        if self.vals is None:
            return np.zeros(1, dtype=like.dtype), False
        return _contig(self.vals.to(dtype=torch.from_numpy(like[:0]).dtype)), True


def lif_events_forward(inp: EventInput, weight: Tensor, lam_m, lam_s, theta: float, reset: bool):
    """Forward scan of a feed-forward LIF layer whose input current is ``W x`` from events.

    Returns ``(S, U, counts)``: ``S``, ``U`` time-major ``(T, B, N)``, ``counts = sum_n S[n]``
    ``(B, N)``; ``weight`` ``(N, n_in)``.
    """
    T, B, _ = inp.shape
    N = weight.shape[0]
    dtype = weight.dtype
    u = torch.empty((T, B, N), dtype=dtype)
    s = torch.empty((T, B, N), dtype=dtype)
    u[0].zero_()
    cur = torch.zeros((B, N), dtype=dtype)
    counts = torch.zeros((B, N), dtype=dtype)
    wt = _contig(weight.detach().t())
    un = _np(u)
    vals, has_vals = inp._vals(un)
    args = (un, _np(s), _np(counts), _np(cur), wt, inp.ptr, inp.cols, vals, has_vals, inp.rs_n, inp.rs_b,
            _vec(lam_m, N, u), _vec(lam_s, N, u), float(theta), bool(reset), _tiny(u))
    _run(lambda i, b0, b1: _ev_fwd_all(*args, b0, b1), _chunks(B, u.numel()))
    return s, u, counts


def lif_events_backward(inp: EventInput, weight: Tensor, u: Tensor, g_s, g_u, lam_m, lam_s,
                        theta: float, reset: bool, q0: float, q1: float, g_c=None) -> tuple[Tensor, float]:
    """``(dL/dW (N, n_in), sum |dL/dS|)`` of :func:`lif_events_forward` for output gradients
    ``g_s``, ``g_u`` (``(T, B, N)`` or None) and ``g_c`` of the counts (``(B, N)`` or None);
    the second is the total gradient reaching the spikes by every route, summed over all
    entries (the recorded surrogate-gradient magnitude)."""
    T, B, N = u.shape
    n_in = weight.shape[1]
    un = _np(u)
    dummy = np.zeros((1, 1, 1), dtype=un.dtype)
    gs = dummy if g_s is None else _contig(g_s)
    gu = dummy if g_u is None else _contig(g_u)
    gc = dummy[0] if g_c is None else _contig(g_c)
    a_u = np.zeros((B, N), dtype=un.dtype)
    a_i = np.zeros((B, N), dtype=un.dtype)
    ranges = _chunks(B, u.numel())
    dwt = np.zeros((len(ranges), n_in, N), dtype=un.dtype)
    vals, has_vals = inp._vals(un)
    lm, ls = _vec(lam_m, N, u), _vec(lam_s, N, u)

    sums = [0.0] * len(ranges)

    def work(i, b0, b1):
        sums[i] = _ev_bwd_all(a_u, a_i, un, gs, g_s is not None, gc, g_c is not None, gu, g_u is not None, dwt[i], inp.ptr, inp.cols,
                    vals, has_vals, inp.rs_n, inp.rs_b, lm, ls, float(theta), bool(reset), float(q0), float(q1),
                    _tiny(u), b0, b1)

    _run(work, ranges)
    return torch.from_numpy(dwt.sum(axis=0).T.copy()), float(sum(sums))

