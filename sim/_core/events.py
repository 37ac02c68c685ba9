"""Event-driven input projections ``J = x W^T`` for sparse spike tensors.

When presynaptic activity is sparse (SHD: about 3 % of the 2 ms input bins hold a spike), the
input current of paper eq. 11, ``J[n]_i = sum_j w_ij x_j[n]``, is a sum of the weight columns
of the *active* inputs only.  With the non-zero entries of ``x`` listed once per batch
(:class:`SpikeEvents`), both products of a training step become gathers:

* forward: ``J[r] = sum_{e in row r} x_e W[:, col_e]`` -- an embedding-bag sum of rows of
  ``W^T`` (one bag per (time, batch) row), cost ``nnz * n_out`` instead of
  ``rows * n_in * n_out``;
* weight gradient: ``dW[:, j] = sum_{e in column j} x_e dJ[row_e]`` -- the same embedding-bag
  sum over rows of ``dJ``, with the events grouped by input column.

The dense product is the fallback; :func:`choose_projection` picks the cheaper path from the
measured density with a simple cost model (constants measured on the project's 2-core CPU
machine, see benchmarks/bench_core.py).  Rows are time-major: ``row = t * batch + b``.
"""

from __future__ import annotations


import torch
from torch import Tensor

from ..events import SpikeEvents

__all__ = ["choose_projection", "project", "PROJECTION_MODES"]

PROJECTION_MODES = ("auto", "dense", "sparse")


# Cost model (seconds per unit of work), from profiles of one SHD-sized step (140000 rows,
# 700 inputs, 128 outputs, 3 % density) on one core of the project's shared CPU machine:
# one dense multiply-accumulate (the floor's two products), scanning one dense element for
# events (flat nonzero + index arithmetic), grouping one event for the weight gradient (sort,
# gathers), one float gathered in an embedding-bag sum, and one output float of the forward
# embedding bag (its per-bag overhead, about 0.3 us per (time, batch) row of 128 outputs).
# Only the ratios matter.
_COST_CPU = {"mac": 3.7e-11, "scan": 8.5e-9, "sort": 1.7e-7, "gather": 3.0e-10, "out": 2.5e-9}
# On CUDA the dense product is so fast that only pre-built events pay off.
_COST_CUDA = {"mac": 2e-14, "scan": 5e-11, "sort": 2e-9, "gather": 2e-11, "out": 1e-11}


def choose_projection(
    density: float,
    n_rows: int,
    n_in: int,
    n_out: int,
    *,
    device: torch.device | str = "cpu",
    have_events: bool = False,
    prepared: bool = False,
) -> str:
    """Return ``"sparse"`` or ``"dense"``: the cheaper way to compute ``J = x W^T`` and its
    weight gradient for an input with the given measured ``density`` (fraction of non-zero
    entries) and sizes (``n_rows = time * batch``).  ``have_events``: the events are already
    listed (no dense scan); ``prepared``: their weight-gradient grouping is built too.

    Cost model: dense ``2 rows n_in n_out c_mac``; sparse ``2 nnz n_out c_gather +
    rows n_out c_out`` plus
    ``nnz c_sort`` (unless prepared) plus ``rows n_in c_scan`` (unless events given)."""
    cost = _COST_CUDA if torch.device(device).type == "cuda" else _COST_CPU
    dense = 2.0 * n_rows * n_in * n_out * cost["mac"]
    nnz = density * n_rows * n_in
    sparse = 2.0 * nnz * n_out * cost["gather"] + n_rows * n_out * cost["out"]
    if not prepared:
        sparse += nnz * cost["sort"]
    if not have_events:
        sparse += n_rows * n_in * cost["scan"]
    return "sparse" if sparse < dense else "dense"


class _EventProject(torch.autograd.Function):
    @staticmethod
    def forward(ctx, events: SpikeEvents, weight: Tensor, dense_x: Tensor | None):  # type: ignore[override]
        t, b, n_in = events.shape
        wt = weight.t().contiguous()
        psw = None if events.values is None else events.values.to(weight.dtype)
        j = torch.nn.functional.embedding_bag(events.cols, wt, events.offsets, mode="sum", per_sample_weights=psw)
        ctx.events = events
        ctx.save_for_backward(weight)
        if events.layout == "batch":
            return j.view(b, t, weight.shape[0]).transpose(0, 1)
        return j.view(t, b, weight.shape[0])

    @staticmethod
    def backward(ctx, d_j: Tensor):  # type: ignore[override]
        events: SpikeEvents = ctx.events
        (weight,) = ctx.saved_tensors
        t, b, n_in = events.shape
        dj2 = d_j.contiguous().view(t * b, -1)  # time-major rows
        d_w = d_x = None
        if ctx.needs_input_grad[1]:
            n_out = dj2.shape[1]
            rows, offsets, vals, n_chunks = events.by_column(n_out)
            psw = None if vals is None else vals.to(dj2.dtype)
            part = torch.nn.functional.embedding_bag(rows, dj2, offsets, mode="sum", per_sample_weights=psw)
            d_w = part.view(n_chunks, n_in, n_out).sum(0).t() if n_chunks > 1 else part.t()
        if ctx.needs_input_grad[2]:
            d_x = dj2.mm(weight).view(t, b, n_in)
            if not events.dense_time_major:
                d_x = d_x.transpose(0, 1)
        return None, d_w, d_x


def _sample_density(x: Tensor, rows: int = 2048) -> float:
    """Density of ``x`` estimated from about ``rows`` evenly spaced (time, batch) rows: a
    full count would cost as much as the scan the estimate is meant to avoid."""
    t, b, _ = x.shape
    step_t = max(1, (t * b) // max(1, rows * b))
    sample = x[::step_t]
    if sample.shape[0] * b > 4 * rows:
        sample = sample[:, :: max(1, (sample.shape[0] * b) // rows)]
    return float(torch.count_nonzero(sample)) / max(1, sample.numel())


def project(x: Tensor | SpikeEvents, weight: Tensor, *, mode: str = "auto") -> Tensor:
    """Input current ``J[t, b, i] = sum_j W[i, j] x[t, b, j]`` (paper eq. 11, W term).

    Arguments:
        x: presynaptic spikes, time-major ``(time, batch, n_in)``, dense or as
            :class:`SpikeEvents`.
        weight: ``(n_out, n_in)``.
        mode: ``"auto"`` (cheaper path from the measured density), ``"dense"`` or
            ``"sparse"`` (event-driven gathers).

    Returns:
        ``(time, batch, n_out)``; differentiable w.r.t. ``weight`` and (dense ``x``) ``x``.
    """
    if isinstance(x, SpikeEvents):
        t, b, n_in = x.shape
        if mode == "dense" or (
            mode == "auto"
            and choose_projection(
                x.density,
                t * b,
                n_in,
                weight.shape[0],
                device=weight.device,
                have_events=True,
                prepared=x.is_prepared(weight.shape[0]),
            )
            == "dense"
        ):
            if x.dense is not None or x.source is not None:
                src = x.dense if x.dense is not None else x.source
                dense = src if x.dense_time_major else src.transpose(0, 1)
                dense = dense if dense.dtype == weight.dtype else dense.to(weight.dtype)
            else:
                x.source, x.dense_time_major = x.to_dense(weight.dtype), True  # built once
                dense = x.source
            return torch.matmul(dense, weight.t())
        return _EventProject.apply(x, weight, x.dense)
    t, b, n_in = x.shape
    if mode == "auto":
        n_rows = t * b
        # cheap screen first: the count pass costs about as much as one scan
        if choose_projection(0.0, n_rows, n_in, weight.shape[0], device=x.device) == "dense":
            mode = "dense"
        else:
            mode = choose_projection(_sample_density(x), n_rows, n_in, weight.shape[0], device=x.device)
    if mode == "dense":
        return torch.matmul(x, weight.t())
    ev = SpikeEvents.from_dense(x, time_major=True)
    return _EventProject.apply(ev, weight, x if x.requires_grad else None)
