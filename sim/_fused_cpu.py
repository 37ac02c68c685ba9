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

__all__ = ["AVAILABLE", "usable", "LIFKernel", "readout_forward", "readout_backward"]

try:  # pragma: no cover - exercised by whichever environment runs the tests
    import numba
    from numba import njit

    AVAILABLE = os.environ.get("FLUCTINIT_NUMBA", "1").strip().lower() not in ("0", "false", "no", "off")
except ImportError:  # pragma: no cover
    numba = None
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
    def _bwd_row1(au, un, sn, dsn, has_ds, gun, has_gu, djn, djp, first, lm, l0, th, reset, q0, q1, tn):
        one, zero = un.dtype.type(1.0), un.dtype.type(0.0)
        for i in range(un.shape[0]):
            m = au[i]
            if reset:
                m = m * (one - sn[i])
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
    def _bwd_one(n, a_u, u, s, ds, has_ds, gu, has_gu, djs, lam_m, lam_s, th, reset, q0, q1, tn, b0, b1):
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
                _bwd_row1(a_u[b], u[n, b], s[n, b], ds[b * sd], has_ds, gu[ng, b * sg],
                          has_gu, dj[n, b], dj[p, b], first, lam_m, lam_s[0], th, reset, q0, q1, tn)
        else:
            for b in range(b0, b1):
                au = a_u[b]
                sn = s[n, b]
                if not first:
                    for k in range(K):
                        djn = djs[k][n, b]
                        djp = djs[k][p, b]
                        lk = lam_s[k]
                        for i in range(au.shape[0]):
                            m = au[i]
                            if reset:
                                m = m * (one - sn[i])
                            d = lk[i] * djn[i] + (one - lam_m[i]) * m
                            djp[i] = zero if abs(d) < tn else d
                # the a_U update of the one-component row with no current adjoint to write
                _bwd_row1(au, u[n, b], sn, ds[b * sd], has_ds, gu[ng, b * sg],
                          has_gu, au, au, True, lam_m, lam_s[0], th, reset, q0, q1, tn)

    @njit(**_opts)
    def _bwd_all(a_u, u, s, gs, has_gs, gu, has_gu, djs, lam_m, lam_s, theta, reset, q0, q1, tiny, b0, b1):
        T = u.shape[0]
        th, tn = u.dtype.type(theta), u.dtype.type(tiny)
        r0, r1 = u.dtype.type(q0), u.dtype.type(q1)
        for n in range(T - 1, -1, -1):
            _bwd_one(n, a_u, u, s, gs[n * (1 if has_gs else 0)], has_gs, gu, has_gu, djs, lam_m, lam_s, th, reset,
                     r0, r1, tn, b0, b1)

    @njit(**_opts)
    def _bwd_step(n, a_u, u, s, ds, has_ds, gu, has_gu, djs, lam_m, lam_s, theta, reset, q0, q1, tiny):
        dt = u.dtype.type
        _bwd_one(n, a_u, u, s, ds, has_ds, gu, has_gu, djs, lam_m, lam_s, dt(theta), reset, dt(q0), dt(q1),
                 dt(tiny), 0, u.shape[1])

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


def _over_rows(kernel, args: tuple) -> None:
    """Run ``kernel(*args, b0, b1)`` over all batch rows, in torch.get_num_threads() chunks."""
    u = args[1] if kernel is _bwd_all else args[0]
    T, B = u.shape[0], u.shape[1]
    n = min(torch.get_num_threads(), B)
    if n <= 1 or u.size < _MIN_THREADED:
        kernel(*args, 0, B)
        return
    bounds = [B * i // n for i in range(n + 1)]
    futures = [_executor(n).submit(kernel, *args, bounds[i], bounds[i + 1]) for i in range(1, n)]
    kernel(*args, bounds[0], bounds[1])  # this thread takes the first chunk
    for f in futures:
        f.result()


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
        _over_rows(_fwd_all, self._fwd)

    def forward_step(self, n: int) -> None:
        _fwd_step(n, *self._fwd)

    def bind_backward(self, a_u: Tensor, u_all: Tensor, s_all: Tensor, ds, gu, djs: list,
                      q0: float, q1: float) -> None:
        """``a_u``: ``(B, N)`` adjoint state (zero at the start); ``ds``: ``g_S`` ``(T, B, N)``
        (for :meth:`backward_all`), a ``(B, N)`` buffer holding ``dS[n]`` (for
        :meth:`backward_step`) or ``None``; ``gu``: ``g_U`` ``(T, B, N)`` or ``None``;
        ``djs``: per component ``(T, B, N)`` outputs ``dJ_k[n] = a_Ik[n+1]``."""
        if ds is None:
            ds_a = self.dummy
        else:
            ds_a = _contig(ds) if ds.dim() == 3 else _np(ds)
        gu_a = self.dummy if gu is None else _contig(gu)
        self._bwd = (_np(a_u), _np(u_all), _np(s_all), ds_a, ds is not None, gu_a, gu is not None,
                     tuple(_np(d) for d in djs), self.lam_m, self.lam_s, self.theta, self.reset,
                     float(q0), float(q1), self.tiny)

    def backward_all(self) -> None:
        _over_rows(_bwd_all, self._bwd)

    def backward_step(self, n: int) -> None:
        a = self._bwd
        ds = a[3] if a[4] else a[3][0]
        _bwd_step(n, a[0], a[1], a[2], ds, *a[4:])


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
