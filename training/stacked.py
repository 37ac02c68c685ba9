"""K feed-forward dense networks side by side as one model, for grid-batched training.

The cells of a parameter grid (:func:`~fluctinit.training.train_batched`) share their data,
architecture and optimizer settings and differ only in their initial weights.
:class:`StackedNetworks` runs K such networks as one, from the weights of their ordinary
models (:func:`~fluctinit.training.build_model` + :func:`~fluctinit.training.initialize_model`):

* the first hidden layer is one LIF layer of ``K * H_1`` neurons, the K weight matrices
  stacked, run by :func:`fluctinit.sim.lif_dense` (through :func:`~fluctinit.sim.dispatch`,
  so the fast core's event-input scan takes the shared input as it comes from the loader);
* every later layer gets its current from a grouped product, ``J_k = S_k W_k^T`` for each
  network ``k`` (:class:`_GroupedProduct`: no ``K H x K H`` block-diagonal matrix, the spikes
  read where the fast core wrote them), and is a current-driven LIF layer of ``K * H_l``
  neurons (:func:`fluctinit.sim.lif_current`);
* the readout is the free membrane of the same neuron with ``tau_mem = tau_out``:
  :func:`fluctinit.sim.readout` on ``x`` with ``W`` is :func:`~fluctinit.sim.lif_current` on
  ``J = x W^T`` in mode ``"free"`` (tests/test_train_batched.py checks both, gradients
  included).

Every parameter is a ``(K, n_out, n_in)`` tensor: network ``k``'s weight matrix is ``[k]``,
so an elementwise optimizer (SMORMS3, Adam, SGD) on the stacked parameters is K independent
optimizers, and :meth:`StackedNetworks.write_back_` / :meth:`~StackedNetworks.load_optimizer_`
move the weights and the optimizer state between the stacked model and the K ordinary
models and optimizers (whose checkpoints are the ones :func:`~fluctinit.training.train_experiment`
writes).  Tensors of the stacked model are ``(batch, time, K * n)``, network ``k`` owning
the ``k``-th block of ``n`` neurons (:func:`cell_block`).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from .recording import parameter_groups

__all__ = ["StackedNetworks", "cell_block", "CellGradients"]


def cell_block(t: torch.Tensor, k: int, n: int) -> torch.Tensor:
    """Network ``k``'s block of ``n`` units of a stacked tensor ``(..., K * n)`` (a view)."""
    return t[..., k * n:(k + 1) * n]


class _GroupedProduct(torch.autograd.Function):
    """``J[r, k] = S[r, k] W_k^T`` for rows ``r`` of ``S`` ``(R, K * n_in)`` (network ``k``'s block
    ``S[r, k]``) and ``W`` ``(K, n_out, n_in)``; returns ``J`` ``(R, K * n_out)``.

    Written out because the obvious forms are slow on the CPU: einsum (and bmm on
    ``(R, K, n_in)``) copies ``S`` into block-major order first, and a product of a strided
    block copies it too.  Here every product reads ``S`` where it lies: ``J^T = W_k S_k^T``
    (``S_k^T`` is a plain column-major operand), ``dS_k = dJ_k W_k`` written into ``dS``'s block,
    ``dW_k = dJ_k^T S_k``.  Measured (process time, one thread, 40 000 rows, K = 8 blocks of 128
    spikes, 10 outputs): forward 47 ms, backward 211 ms; einsum 109 and 627 ms; K separate
    contiguous products (separate runs) 35 and 123 ms.
    """

    @staticmethod
    def forward(ctx, s: torch.Tensor, w: torch.Tensor):  # type: ignore[override]
        k, n_out, n_in = w.shape
        blocks = s.view(-1, k, n_in)
        ctx.save_for_backward(s, w)
        return torch.bmm(w, blocks.permute(1, 2, 0)).permute(2, 0, 1).reshape(-1, k * n_out)

    @staticmethod
    def backward(ctx, d_j: torch.Tensor):  # type: ignore[override]
        s, w = ctx.saved_tensors
        k, n_out, n_in = w.shape
        d_j = d_j.contiguous()
        d_s = d_w = None
        if ctx.needs_input_grad[0]:
            d_s = torch.empty_like(s)
            for i in range(k):
                torch.mm(d_j[:, i * n_out:(i + 1) * n_out], w[i], out=d_s[:, i * n_in:(i + 1) * n_in])
        if ctx.needs_input_grad[1]:
            d_w = torch.bmm(d_j.view(-1, k, n_out).permute(1, 2, 0), s.view(-1, k, n_in).transpose(0, 1))
        return d_s, d_w


def _grouped_current(spikes: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``J_k = S_k W_k^T`` for every network: spikes ``(B, T, K * n_in)``, weight ``(K, n_out, n_in)``
    -> ``(B, T, K * n_out)``, stored time-major as the fast core reads it (no copy there)."""
    tm = spikes.transpose(0, 1)  # the core's spikes are time-major underneath: a plain view
    t, b, n = tm.shape
    j = _GroupedProduct.apply(tm.reshape(t * b, n), weight)
    return j.view(t, b, -1).transpose(0, 1)


class StackedNetworks(nn.Module):
    """K feed-forward dense networks of one architecture as one module (see the module doc).

    Args:
        models: the K ordinary models (:class:`~fluctinit.training.SNNModel`) of one dense,
            feed-forward architecture without skip connections, Dale's law or encoder; their
            current weights are copied in.

    ``forward(x)`` takes the shared input ``(batch, time, n_in)`` (or
    :class:`~fluctinit.sim.SpikeEvents`) and returns ``(spikes, readout)``: each hidden
    layer's stacked spikes ``(batch, time, K * H_l)`` and the stacked readout membranes
    ``(batch, time, K * n_out)``.

    Raises:
        ValueError: models that are not K copies of one such architecture.
    """

    def __init__(self, models: Sequence[nn.Module]):
        super().__init__()
        from fluctinit.sim import NeuronParams

        models = list(models)
        first = models[0].network
        self.n = len(models)
        self.layers = [(layer.params, layer.surrogate) for layer in first.hidden]
        self.sizes = [layer.n_out for layer in first.hidden] + [first.readout.n_out]
        ro = first.readout.params
        self.readout_params = NeuronParams(tau_mem=ro.tau_out, tau_syn=ro.tau_syn, dt=ro.dt, mode="free")
        #: the ordinary models' parameter names, one per stacked parameter (in its order)
        self.names = [f"network.hidden.{i}.weight" for i in range(len(first.hidden))] + ["network.readout.weights.0"]
        #: their layer groups (the names of ``dw_magnitude``, :func:`~fluctinit.training.parameter_groups`)
        self.groups = list(parameter_groups(models[0]))
        for m in models:
            if [n for n, _ in m.named_parameters()] != self.names or len(self.groups) != len(self.names):
                raise ValueError(f"StackedNetworks needs models with the parameters {self.names}; got "
                                 f"{[n for n, _ in m.named_parameters()]}")
        with torch.no_grad():
            self.weights = nn.ParameterList(
                [nn.Parameter(torch.stack([dict(m.named_parameters())[name].detach() for m in models]))
                 for name in self.names]
            )

    def forward(self, x) -> tuple[list[torch.Tensor], torch.Tensor]:
        from fluctinit.sim import dispatch

        (params, surrogate), w = self.layers[0], self.weights[0]
        s, _ = dispatch("lif_dense")(x, w.reshape(-1, w.shape[2]), params=params, surrogate=surrogate)
        spikes = [s]
        for (params, surrogate), w in zip(self.layers[1:], self.weights[1:-1]):
            s, _ = dispatch("lif_current")(_grouped_current(s, w), params=params, surrogate=surrogate)
            spikes.append(s)
        _, u = dispatch("lif_current")(_grouped_current(s, self.weights[-1]), params=self.readout_params)
        return spikes, u

    def readouts(self, x) -> list[torch.Tensor]:
        """Each network's readout membrane ``(batch, time, n_out)`` for the input ``x``."""
        _, u = self(x)
        return [cell_block(u, k, self.sizes[-1]) for k in range(self.n)]

    @torch.no_grad()
    def update_magnitudes(self, before: Sequence[torch.Tensor]) -> list[list[float]]:
        """Per network, the mean ``|w_after - w_before|`` of each layer group (the numbers of
        :func:`~fluctinit.training.weight_update_magnitudes`); ``before``: the stacked
        parameters' values before the step."""
        per_group = [(w.detach() - b).abs().reshape(self.n, -1).mean(1).tolist() for w, b in zip(self.weights, before)]
        return [list(row) for row in zip(*per_group)]

    # ------------------------------------------------------------------ the ordinary models
    @torch.no_grad()
    def write_back_(self, optimizer: torch.optim.Optimizer, models: Sequence[nn.Module],
                    optimizers: Sequence[torch.optim.Optimizer]) -> None:
        """Copy network ``k``'s weights into ``models[k]`` and its share of the optimizer state
        (``optimizer`` runs on this module's parameters) into ``optimizers[k]``."""
        for k, (model, opt) in enumerate(zip(models, optimizers)):
            params = dict(model.named_parameters())
            for name, w in zip(self.names, self.weights):
                p = params[name]
                p.copy_(w[k])
                state = optimizer.state.get(w)
                if state:
                    opt.state[p] = {key: _cell_value(v, w, k) for key, v in state.items()}

    @torch.no_grad()
    def load_optimizer_(self, optimizer: torch.optim.Optimizer, models: Sequence[nn.Module],
                        optimizers: Sequence[torch.optim.Optimizer]) -> None:
        """Set ``optimizer``'s state (on this module's parameters) from the K ordinary
        optimizers' states, e.g. restored from checkpoints at the same epoch.

        Raises:
            ValueError: the K states do not fit together (some empty, or different step counts).
        """
        for name, w in zip(self.names, self.weights):
            states = [opt.state.get(dict(m.named_parameters())[name]) for m, opt in zip(models, optimizers)]
            if not any(states):
                continue
            if not all(states) or any(set(s) != set(states[0]) for s in states):
                raise ValueError(f"the optimizer states of {name} do not fit together (some cells have none)")
            optimizer.state[w] = {key: _stacked_value([s[key] for s in states], w, name, key) for key in states[0]}


def _per_element(v: Any, shape: torch.Size) -> bool:
    return isinstance(v, torch.Tensor) and v.shape == shape


def _cell_value(v: Any, w: torch.Tensor, k: int) -> Any:
    """Network ``k``'s share of one optimizer-state entry of the stacked parameter ``w``."""
    if _per_element(v, w.shape):
        return v[k].clone()
    return v.clone() if isinstance(v, torch.Tensor) else v


def _stacked_value(values: list, w: torch.Tensor, name: str, key: str) -> Any:
    """One optimizer-state entry of the stacked parameter ``w`` from the K networks' entries."""
    if _per_element(values[0], w.shape[1:]):
        return torch.stack(values)
    first = values[0]
    for v in values[1:]:
        same = torch.equal(v, first) if isinstance(v, torch.Tensor) else v == first
        if not same:
            raise ValueError(f"the optimizer states of {name} differ in {key!r} ({first!r} and {v!r}): "
                             "cells at different steps cannot train together")
    return first.clone() if isinstance(first, torch.Tensor) else first


class CellGradients:
    """Per network, the mean absolute gradient of the loss with respect to stacked outputs:
    the surrogate-gradient magnitudes of :class:`~fluctinit.training.GradientRecorder`, one
    row per network.

    Usage: ``rec = CellGradients(spikes + [readout], sizes, K)`` before backward, then
    ``rec.magnitudes()`` -> ``K`` lists (one value per tensor).  A hook on each stacked tensor
    sums ``|dL/dX|`` per network block (the fast core's gradient probe sums all K together).
    """

    def __init__(self, tensors: Sequence[torch.Tensor], sizes: Sequence[int], n: int):
        self._n = n
        self._sums: list[torch.Tensor | None] = [None] * len(tensors)
        self._numels = [t.numel() // n for t in tensors]
        for i, (t, size) in enumerate(zip(tensors, sizes)):
            if t.requires_grad:
                t.register_hook(_block_sums(self._sums, i, n, size))
        # no reference back to the tensors (see GradientRecorder: a tensor -> hook -> tensor
        # cycle is never collected)

    def magnitudes(self) -> list[list[float]]:
        rows = [[0.0] * len(self._sums) for _ in range(self._n)]
        for i, (s, numel) in enumerate(zip(self._sums, self._numels)):
            if s is not None:
                for k, v in enumerate(s.tolist()):
                    rows[k][i] = v / max(1, numel)
        return rows


#: elements of one chunk of rows summed at a time (1 MiB of float32, within the L2 cache):
#: torch's one-thread reductions over a whole ``(T * B, K * n)`` gradient leave the cache and
#: ran at a tenth of the memory bandwidth (randman-ff, K = 4 blocks of 128, 40 000 rows: 58 ms
#: per step as per-row 1-norms, 7 ms in chunks, benchmarks/batched_per_cell.py; the separate
#: runs' fast core sums the same numbers inside its backward scan for free)
_CHUNK_ELEMENTS = 1 << 18


def _block_sums(sums: list, i: int, n: int, size: int):
    def hook(grad: torch.Tensor):
        g = grad.detach()
        if not g.is_contiguous() and g.transpose(0, 1).is_contiguous():
            g = g.transpose(0, 1)  # time-major underneath, as the fast core stores it
        rows = g.reshape(-1, n * size)  # a view for (either) contiguous order
        # on a GPU one pass (a chunk loop would be many small kernel launches)
        step = max(1, _CHUNK_ELEMENTS // (n * size)) if g.device.type == "cpu" else rows.shape[0]
        acc = torch.zeros(n * size, dtype=torch.float64, device=g.device)
        for r in range(0, rows.shape[0], step):
            acc += rows[r:r + step].abs().sum(0)
        sums[i] = acc.view(n, size).sum(1)
        return None

    return hook
