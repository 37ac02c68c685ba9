"""Grid-batched training: the cells of a parameter grid trained together as one model.

A parameter sweep trains many cells that share their data, architecture, optimizer settings
and seed, and differ only in the initialization (the config's ``init`` section: a grid of
``init.mu_w`` x ``init.sigma_w`` with method ``"normal"``, a grid of ``init.sigma_u``, ...).
:func:`train_batched` trains K such cells as one :class:`~fluctinit.training.stacked.StackedNetworks`
model: the shared input is projected once for all K first hidden layers, the later layers
and readouts are grouped products, and the loss is the sum of the K cells' losses (eqs.
20-25, each with its own regularizers): the networks share no parameter, so each gets the
gradient of its own loss, and the elementwise optimizer (SMORMS3, Adam, SGD) makes each
cell's update exactly the update of its separate run.

Every cell writes what :func:`~fluctinit.training.train_experiment` writes for it -- its
checkpoint ``<run>.ckpt`` after every epoch (the ordinary model's and optimizer's state
dicts, so ``train_experiment(..., resume=True)`` continues it) and its results ``<run>.json``
-- and the results equal those of separate runs up to rounding (tests/test_train_batched.py:
1e-8 in float64).  The one difference: a cell's ``elapsed_s`` and ``time_s`` are its share
(1/K) of the batched model's wall time.

What batches (:func:`batch_key`): dense feed-forward networks with any number of hidden
layers, without Dale's law, skip connections or recurrence.  Recurrent networks are not
batched: block-diagonal ``K H x K H`` recurrent weights would cost K times the memory and
arithmetic of the K separate recurrences; their cells train one by one.  Neither is a
convolutional network (its own kind of layer).

:func:`max_batch_cells` says how many cells fit in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any, Callable

import torch

from fluctinit.errors import ParameterError

from .checkpoint import run_differences
from .data import Splits, load_data, warn_if_silent
from .experiments import n_steps
from .loop import (
    _end_epoch_,
    _epoch_generator,
    _evaluate_all,
    _final_evaluation,
    _finish_,
    _objective,
    _open_run,
    _Run,
    _Schedule,
    _Step,
    _train_epoch_,
    resolve_config,
)
from .losses import spike_counts
from .optim import make_optimizer
from .recording import firing_rates_from_counts
from .runs import plan_run, read_results, run_name
from .stacked import CellGradients, StackedNetworks, cell_block

__all__ = ["batch_key", "train_batched", "max_batch_cells"]

#: config sections that do not enter the batch key: what cells of one batch differ in, and labels
NOT_IN_KEY = ("init", "name", "description", "paper", "source")


def _unbatchable(config: dict[str, Any]) -> str | None:
    """Why the network of a (resolved) config cannot train in a batch, or None if it can."""
    net = config["network"]
    for key, why in (("dale", "Dale's law"), ("recurrent", "recurrent"), ("skip", "skip connections")):
        if net.get(key):
            return f"network.{key} is true ({why})"
    if net["kind"] != "dense":
        return f"network.kind is {net['kind']!r} (only 'dense' networks batch)"
    return None


def batch_key(config: dict[str, Any], seed: int) -> str | None:
    """A key such that cells with equal non-None keys may train together in :func:`train_batched`.

    The key is a digest of the resolved config (:func:`~fluctinit.training.resolve_config`)
    without the sections :data:`NOT_IN_KEY` (``init``, ``name``, ``description``, ``paper``,
    ``source``), together with the seed (it draws the data order, which cells of one batch share).

    Args:
        config: an experiment config as :func:`~fluctinit.training.train_experiment` takes it.
        seed: the run's seed.

    Returns:
        A hex string, or None where the network cannot be batched (not a
        dense network, Dale's law, recurrence or skip connections).

    Raises:
        ParameterError: an invalid config or seed (as :func:`~fluctinit.training.resolve_config`).
    """
    config, seed = resolve_config(config, seed=seed)
    if _unbatchable(config) is not None:
        return None
    shared = {k: v for k, v in config.items() if k not in NOT_IN_KEY}
    text = json.dumps({"config": shared, "seed": seed}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def train_batched(
    configs: list[dict[str, Any]],
    *,
    seed: int,
    outs: list[str | os.PathLike],
    resume: bool = False,
    overwrite: bool = False,
    data: Splits | None = None,
    data_root: str | os.PathLike = ".",
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Train K cells as one batched model (see the module doc); write each cell's files.

    Args:
        configs: the K cells' experiment configs (one :func:`batch_key`).
        seed: their seed.  outs: each cell's output folder (K of them; folders may repeat).
        resume, overwrite: as :func:`~fluctinit.training.train_experiment`, per cell: finished
            cells are returned as stored, cells with a checkpoint continue from it (cells
            whose checkpoints lag behind the others first train, batched, up to them), others
            start.  Without either, a cell already in its folder is refused.
        data: pre-loaded :class:`~fluctinit.training.Splits` (else loaded from ``configs[0]``).
        data_root, device, dtype, progress, log: as :func:`~fluctinit.training.train_experiment`
            (one progress bar for the batch, one log line per cell and epoch).

    Returns:
        The K results dicts, in the order of ``configs`` (as ``train_experiment`` returns them).

    Raises:
        ParameterError: ``len(outs) != len(configs)``, no configs, two cells writing the same
            files, configs that cannot be batched or do not share one batch key (naming the
            settings that differ), or any refusal of ``train_experiment`` for a cell -- all
            before any data are loaded.

    Like ``train_experiment``, this function does not lock the output folders.
    """
    configs = _check_cells(configs, outs, seed, device)
    plans = [plan_run(c, seed, out, resume=resume, overwrite=overwrite) for c, out in zip(configs, outs)]
    results: list[dict[str, Any] | None] = [read_results(p.results) if p.action == "done" else None for p in plans]
    todo = [k for k, p in enumerate(plans) if p.action != "done"]
    if not todo:
        return results
    if data is None:
        data = load_data(configs[0], data_root, dtype=dtype, device=device)
    runs = [_open_run(configs[k], seed, plans[k], data, dtype=dtype, device=device) for k in todo]
    schedule = _Schedule.of(configs[0])
    if min(r.state.epoch for r in runs) < schedule.total_epochs:
        warn_if_silent(data.train, f"experiment {configs[0]['name']!r}")
    for group, stop in _catch_up_plan(runs, schedule.total_epochs):
        _train_together_(group, schedule, data, stop, progress=progress, log=log)
    stacked = StackedNetworks([r.model for r in runs])
    finals = _final_evaluation(stacked.readouts, len(runs), data, schedule.batch_size)
    for k, run, final in zip(todo, runs, finals):
        results[k] = _finish_(run, schedule, final)
    return results


def _check_cells(configs, outs, seed: int, device: str) -> list[dict[str, Any]]:
    """The cells' resolved configs, after checking that they form one batch writing distinct files."""
    configs, outs = list(configs), list(outs)
    if not configs or len(outs) != len(configs):
        raise ParameterError(
            f"`outs` must name one output folder per config ({len(configs)}, at least one); got {len(outs)}",
            ["outs", "configs"], [len(outs), len(configs)],
        )
    resolved = [resolve_config(c, seed=seed, device=device)[0] for c in configs]
    for k, c in enumerate(resolved):
        why = _unbatchable(c)
        if why is not None:
            raise ParameterError(f"`configs[{k}]` must be a network that batches; its {why}: train it with "
                                 "train_experiment", [f"configs[{k}]"], [c["name"]])
    strip = lambda c: {k: v for k, v in c.items() if k not in NOT_IN_KEY}  # noqa: E731
    for k, c in enumerate(resolved[1:], 1):
        diff = run_differences(strip(resolved[0]), seed, strip(c), seed, epochs=True)
        if diff:
            raise ParameterError(
                f"`configs` must share one batch_key (differ in `init` alone); configs[0] and configs[{k}] differ: "
                f"{'; '.join(diff[:4])}{'; ...' if len(diff) > 4 else ''}", ["configs"], [k],
            )
    files = [(os.path.realpath(out), run_name(c, seed)) for c, out in zip(resolved, outs)]
    if len(set(files)) != len(files):
        dup = next(f for f in files if files.count(f) > 1)
        raise ParameterError(f"`configs` must be distinct runs; two write {dup[1]} into {dup[0]!r}",
                             ["configs", "outs"], [dup[1], dup[0]])
    return resolved


def _catch_up_plan(runs: list[_Run], total: int) -> list[tuple[list[_Run], int]]:
    """``(runs, stop)`` phases: the runs furthest behind train (together) up to the next
    epoch any run has reached, until all are at one epoch; then all train to ``total``.

    Runs resumed from checkpoints of different epochs (a kill between two cells' saves) are so
    brought level; batched training equals separate training, so they end as if never apart.
    """
    epochs = sorted({r.state.epoch for r in runs} | {max(total, max(r.state.epoch for r in runs))})
    return [([r for r in runs if r.state.epoch <= start], stop) for start, stop in zip(epochs, epochs[1:])]


def _train_together_(runs: list[_Run], schedule: _Schedule, data: Splits, stop: int, *, progress: bool,
                     log) -> None:
    """Train ``runs`` (all at one epoch) as one stacked model up to epoch ``stop``: each epoch
    books every run's record and checkpoint (:func:`~fluctinit.training.loop._end_epoch_`)."""
    seed, start, k = runs[0].seed, runs[0].state.epoch, len(runs)
    models, optimizers = [r.model for r in runs], [r.optimizer for r in runs]
    stacked = StackedNetworks(models)
    tr = runs[0].config["training"]
    optimizer = make_optimizer(tr["optimizer"], stacked.parameters(), tr["lr"])
    stacked.load_optimizer_(optimizer, models, optimizers)
    step = lambda x, y, priming: _stacked_step_(stacked, optimizer, x, y, schedule, priming)  # noqa: E731
    for epoch in range(start, stop):
        t0 = time.perf_counter()
        generator = _epoch_generator(seed, epoch)
        steps = _train_epoch_(step, k, data.train, generator, schedule, epoch, progress=progress)
        valid = _evaluate_all(stacked.readouts, data.valid, schedule.batch_size, k)
        test = _evaluate_all(stacked.readouts, data.test, schedule.batch_size, k)
        seconds = (time.perf_counter() - t0) / k  # each cell's share
        stacked.write_back_(optimizer, models, optimizers)
        for run, s, v, t in zip(runs, steps, valid, test):
            _end_epoch_(run, schedule, epoch, s, v, t, seconds, generator, log)


def _stacked_step_(stacked: StackedNetworks, optimizer, x, y, schedule: _Schedule, priming: bool) -> list[_Step]:
    """One training step of every network of ``stacked`` on the batch ``(x, y)``: the sum of
    their objectives (:func:`~fluctinit.training.loop._objective`), one backward pass, one
    optimizer step; one :class:`~fluctinit.training.loop._Step` record per network."""
    n, sizes = stacked.n, stacked.sizes
    spikes, u = stacked(x)
    counts = [spike_counts(s) for s in spikes]
    recorder = CellGradients(spikes + [u], sizes, n)
    cell_counts = [[cell_block(c, k, h) for c, h in zip(counts, sizes)] for k in range(n)]
    objectives = [_objective(schedule, cell_block(u, k, sizes[-1]), cell_counts[k], y, priming) for k in range(n)]
    before = [w.detach().clone() for w in stacked.weights]
    optimizer.zero_grad(set_to_none=True)
    sum(loss for loss, _ in objectives).backward()
    optimizer.step()
    dw, sg = stacked.update_magnitudes(before), recorder.magnitudes()
    t = spikes[0].shape[1]
    return [_Step({key: float(v) for key, v in terms.items()},
                  firing_rates_from_counts(cell_counts[k], t, schedule.dt), sg[k], dw[k], list(stacked.groups))
            for k, (_, terms) in enumerate(objectives)]


# ----------------------------------------------------------------------------- memory
#: values per (sample, step) and neuron of a training step: states, spikes, currents and their
#: gradients (measured on randman-ff, float32, batch 400: 25 bytes per cell, sample, step and
#: unit = 6.3 values, the slope of the peak resident size from K = 1 to 16 cells in
#: benchmarks/sweep_batched.py; rounded up)
_UNIT_ITEMS = 8
#: share of the available memory (CPU) or free GPU memory the batch may take
MEMORY_SHARE = {"cpu": 0.5, "cuda": 0.8}


def cell_bytes(config: dict[str, Any], dtype: torch.dtype = torch.float32) -> int:
    """Estimated bytes one cell adds to a batched training step of ``config``: its units'
    ``batch x time`` buffers and its weights with their gradient, optimizer state and snapshot."""
    net, tr = config["network"], config["training"]
    item = torch.empty((), dtype=dtype).element_size()
    units = sum(net["hidden"]) + net["n_out"]
    sizes = [net["n_in"], *net["hidden"], net["n_out"]]
    weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
    return item * (tr["batch_size"] * n_steps(config) * units * _UNIT_ITEMS + 8 * weights)


#: The most cells a sweep batches on a CPU when not told (``--batch-cells``): none.  There the
#: neuron update over batch x time x neurons dominates a step and costs the same per cell
#: batched or separate: benchmarks/batched_per_cell.py, 1 thread, CPU time per cell-epoch of
#: randman-ff, batched / separate = 1.09 (K = 1), 0.96 (K = 4), 0.98 (K = 16); the earlier
#: 64-cell measurement, before the per-cell gradient sums were made cache-friendly, was 0.65x
#: (benchmarks/sweep_batched.py).  Batching is for GPUs, where a step of one small network
#: leaves the device idle (not yet measured: no GPU was available); ``--batch-cells K`` asks
#: for it anywhere.
CPU_BATCH_CELLS = 1


def max_batch_cells(config: dict[str, Any], *, memory_bytes: int | None = None, device: str = "cpu",
                    dtype: torch.dtype = torch.float32) -> int:
    """How many cells of ``config`` fit one batched model in memory (at least 1).

    ``memory_bytes // cell_bytes(config)``, where ``memory_bytes`` defaults to a safe share
    (:data:`MEMORY_SHARE`) of the memory available to this process (CPU:
    :func:`fluctinit._resources.available_memory`) or of the GPU's free memory (``"cuda"``).

    Raises:
        ParameterError: an invalid config, device or ``memory_bytes``.
    """
    from fluctinit._resources import available_memory
    from fluctinit.errors import Integer, check

    config, _ = resolve_config(config, device=device)
    if memory_bytes is None:
        free = torch.cuda.mem_get_info()[0] if device == "cuda" else available_memory()
        memory_bytes = int(MEMORY_SHARE[device] * free) if free is not None else 2**30
    memory_bytes = check("memory_bytes", memory_bytes, Integer(0))
    return max(1, memory_bytes // cell_bytes(config, dtype))

