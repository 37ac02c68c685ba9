"""Spike events: the non-zero entries of a spike tensor, listed once per batch.

Data sets stored as events (SHD, Randman, DVS-Gesture) reach the simulator in this form:
:meth:`SpikeEvents.from_event_batch` turns a data loader's
:class:`~fluctinit.datasets.EventBatch` into it, and the fast core adds the weight rows of
each event inside its time loop instead of forming a dense ``(batch, time, n_in)`` tensor
(SHD: about 3 % of the 2 ms bins hold a spike).  Re-exported by :mod:`fluctinit.datasets`.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["SpikeEvents", "batch_major"]


class SpikeEvents:
    """The non-zero entries of a spike tensor of logical shape ``(time, batch, n_in)``.

    Attributes:
        rows: ``(nnz,)`` int64 row of each event, ascending: ``b * time + t`` when
            ``layout == "batch"`` (events of a batch-first tensor), ``t * batch + b`` when
            ``layout == "time"``.
        cols: ``(nnz,)`` int64, the input unit of each event.
        values: ``(nnz,)`` floating tensor, or ``None`` when every event has value 1
            (binary spikes; the common case, saves the per-event multiply).
        shape: ``(time, batch, n_in)`` whatever the layout.
        dense: the dense tensor the events came from, when it requires grad (else ``None``):
            kept so that gradients w.r.t. the presynaptic spikes can flow (``dx = dJ W``).

    Build with :meth:`from_dense` or :meth:`from_indices`; a data loader can build them once
    per batch (SHD is stored as events) and call :meth:`prepare`, so the training step never
    scans a dense tensor.
    """

    def __init__(
        self,
        rows: Tensor,
        cols: Tensor,
        values: Tensor | None,
        shape: tuple,
        dense: Tensor | None = None,
        layout: str = "time",
    ):
        if layout not in ("time", "batch"):
            raise ValueError(f"`layout` must be one of 'time', 'batch'; got {layout!r}")
        self.rows = rows
        self.cols = cols
        self.values = values
        self.shape = tuple(int(s) for s in shape)
        self.dense = dense
        self.layout = layout
        n_rows = self.shape[0] * self.shape[1]
        counts = torch.bincount(rows, minlength=n_rows)
        self.offsets = torch.zeros(n_rows, dtype=torch.int64, device=rows.device)
        if n_rows > 1:
            torch.cumsum(counts[:-1], 0, out=self.offsets[1:])
        self._by_col: dict | None = None
        self.dense_time_major = True
        self.source: Tensor | None = None

    @property
    def nnz(self) -> int:
        return int(self.rows.numel())

    @property
    def density(self) -> float:
        """Fraction of non-zero entries, ``nnz / (time * batch * n_in)``."""
        t, b, n = self.shape
        return self.nnz / max(1, t * b * n)

    @property
    def device(self) -> torch.device:
        return self.rows.device

    @classmethod
    def from_dense(cls, x: Tensor, *, time_major: bool = True) -> "SpikeEvents":
        """Events of a dense spike tensor ``x``: ``(time, batch, n_in)`` if ``time_major``
        else ``(batch, time, n_in)``.  Values other than 1 are kept as event weights.

        One pass over the memory in its own order (a flat ``nonzero``), so a batch-first
        tensor gives batch-layout rows and a time-first one time-layout rows."""
        first, second, n = x.shape
        xd = x.detach()
        if xd.is_contiguous():
            flat = xd.reshape(-1)
            layout = "time" if time_major else "batch"
            src = xd
        else:  # e.g. a transposed view: read the memory in its own order
            src = xd.transpose(0, 1)
            if not src.is_contiguous():
                src = src.contiguous()
            flat = src.reshape(-1)
            layout = "batch" if time_major else "time"
        idx = flat.nonzero().squeeze(1)
        rows = torch.div(idx, n, rounding_mode="floor")
        cols = idx - rows * n
        values = None
        if x.dtype != torch.bool:
            vals = flat[idx]
            if not bool((vals == 1).all()):
                values = vals
        t, b = (first, second) if time_major else (second, first)
        ev = cls(rows, cols, values, (t, b, n), dense=x if x.requires_grad else None, layout=layout)
        ev.dense_time_major = time_major
        ev.source = x.detach()  # a reference (no copy) for the dense fallback
        return ev

    @classmethod
    def from_indices(
        cls,
        batch_index: Tensor,
        time_index: Tensor,
        unit_index: Tensor,
        shape: tuple,
        values: Tensor | None = None,
    ) -> "SpikeEvents":
        """Events from index lists (e.g. binned SHD spike times).

        ``shape`` is ``(batch, time, n_in)`` (the library's usual order); the indices are
        ``(nnz,)`` integer tensors in any order; ``values`` optional event weights (a unit
        that spikes twice in one bin can be listed twice or once with value 2).
        """
        b, t, n = (int(s) for s in shape)
        rows = batch_index.long() * t + time_index.long()
        key = rows * n + unit_index.long()
        order = torch.argsort(key)
        rows = rows[order]
        cols = unit_index.long()[order]
        vals = None if values is None else values[order]
        return cls(rows, cols, vals, (t, b, n), layout="batch")

    @classmethod
    def from_event_batch(cls, batch) -> "SpikeEvents":
        """From a data loader's :class:`~fluctinit.datasets.EventBatch` (``SpikeDataset.batches(...,
        form="events")``): its entries are sorted by (sample, step, unit), so the rows come out
        ascending in the batch layout without a sort; bin counts other than 1 become values."""
        b, t, n = (int(v) for v in batch.shape)
        rows = batch.sample * t + batch.step
        vals = batch.count
        values = None if vals.numel() == 0 or bool((vals == 1).all()) else vals
        return cls(rows, batch.unit.long(), values, (t, b, n), layout="batch")

    def time_rows(self) -> Tensor:
        """Each event's row in the time-major layout, ``t * batch + b``."""
        if self.layout == "time":
            return self.rows
        t, b, _ = self.shape
        bi = torch.div(self.rows, t, rounding_mode="floor")
        return (self.rows - bi * t) * b + bi

    def by_column(self, n_out: int = 128) -> tuple[Tensor, Tensor, Tensor | None, int]:
        """The events grouped for the weight gradient: ``(rows, offsets, values, n_chunks)``,
        rows in the time-major layout of ``dJ``.

        Rows are split into chunks of about 512 KiB of ``dJ`` (``chunk * n_out`` floats) and
        the events are grouped by ``(chunk, column)``, rows ascending, so each embedding-bag
        sum reads a cache-resident block of ``dJ`` (4-8x faster than one pass per column);
        the per-chunk partial gradients are summed afterwards.  Computed once per chunk size
        (a stable sort) and cached.
        """
        chunk = self.chunk_rows(n_out)
        cached = self._by_col.get(chunk) if self._by_col else None
        if cached is None:
            t, b, n_in = self.shape
            n_chunks = (t * b + chunk - 1) // chunk
            trows = self.time_rows()
            key = torch.div(trows, chunk, rounding_mode="floor") * n_in + self.cols
            key = key.to(torch.int32) if n_chunks * n_in < 2**31 else key
            perm = torch.sort(key, stable=True).indices
            rows = trows[perm]
            counts = torch.bincount(key.long(), minlength=n_chunks * n_in)
            offsets = torch.zeros(n_chunks * n_in, dtype=torch.int64, device=self.device)
            if n_chunks * n_in > 1:
                torch.cumsum(counts[:-1], 0, out=offsets[1:])
            vals = None if self.values is None else self.values[perm]
            cached = (rows, offsets, vals, n_chunks)
            self._by_col = dict(self._by_col or {})
            self._by_col[chunk] = cached
        return cached

    def is_prepared(self, n_out: int) -> bool:
        """Whether the weight-gradient grouping for ``n_out`` outputs is already built."""
        return bool(self._by_col) and self.chunk_rows(n_out) in self._by_col

    def chunk_rows(self, n_out: int) -> int:
        """Rows per weight-gradient chunk: ``dJ`` block of about 512 KiB (CPU caches); one
        chunk on CUDA."""
        if self.device.type == "cuda":
            return self.shape[0] * self.shape[1]
        return max(64, (1 << 17) // max(1, n_out))

    def prepare(self, n_out: int = 128) -> "SpikeEvents":
        """Build the weight-gradient grouping for ``n_out`` output units now (e.g. in a data
        loader, outside the timed training step); returns ``self``."""
        self.by_column(n_out)
        return self

    def to_dense(self, dtype: torch.dtype = torch.float32) -> Tensor:
        """The dense time-major tensor ``(time, batch, n_in)``."""
        t, b, n = self.shape
        out = torch.zeros(t * b, n, dtype=dtype, device=self.device)
        vals = torch.ones(self.nnz, dtype=dtype, device=self.device) if self.values is None else self.values.to(dtype)
        out.index_put_((self.time_rows(), self.cols), vals, accumulate=True)
        return out.view(t, b, n)


def batch_major(x):
    """``x`` as a dense batch-major tensor ``(batch, time, ...)``: spike events (logical shape
    ``(time, batch, n_in)``) densified and transposed, a tensor as it is."""
    return x.to_dense().transpose(0, 1) if isinstance(x, SpikeEvents) else x
