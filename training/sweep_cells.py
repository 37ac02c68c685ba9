"""Training sweeps: the job of ``fluctinit sweep EXPERIMENT`` and the task its workers run.

:func:`train_sweep` builds the :class:`~fluctinit.training.sweep_engine.SweepJob` of a
training sweep (every cell's config validated up front, see
:func:`~fluctinit.training.sweep.train_cells`); :func:`~fluctinit.training.sweep_engine.run_sweep`
runs it.  Each Dask task runs :func:`run_train_task` on a worker: one cell through
:func:`~fluctinit.training.train_experiment` (``resume=True`` into the cell's folder, so a task
run again after its worker died continues from the last epoch checkpoint, and a finished
cell is read back, not trained twice), or a batch of cells that share
``batch_key(config, seed)`` through ``train_batched`` (:mod:`fluctinit.training.batched`),
``K`` at a time.  A worker holds each cell folder's lock while it trains the cell (a second
attempt at the same cell waits for the first), keeps the last data sets it loaded for the
next cells, and runs torch on ``threads_per_worker`` threads.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import warnings
from collections import OrderedDict
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Sequence

from fluctinit.errors import Integer, ParameterError, check

from .sweep import TRAIN_COLUMNS, Cell, error_line, inspect_train_cell, rate_columns, train_cells, train_row
from .sweep_cluster import Engine
from .sweep_engine import SweepJob, Task, announce_start, cell_environment

__all__ = ["train_sweep", "run_train_task", "batch_tasks", "BATCH_CONSTRAINTS"]

BATCH_CONSTRAINTS = {"batch_cells": Integer(1)}
#: data sets a worker keeps loaded (cells of one sweep mostly share one)
_KEEP_DATA = 2
_data_cache: "OrderedDict[str, Any]" = OrderedDict()
_data_lock = threading.Lock()


def train_sweep(
    config: dict[str, Any], grid: dict[str, list[Any]], seeds: Sequence[int], out: str | os.PathLike, *,
    epochs: int | None = None, device: str = "cpu", data_root: str | os.PathLike = ".", strict: bool = False,
    batch_cells: int | None = None, check_cuda: bool = True, check_files: bool = True,
) -> SweepJob:
    """The sweep of ``config`` over ``grid`` times ``seeds`` into ``out``, ready for
    :func:`~fluctinit.training.sweep_engine.run_sweep`.

    Args:
        config: the experiment (:func:`~fluctinit.training.load_experiment`).
        grid: dotted key -> values (:func:`~fluctinit.training.sweep.parse_grid`).  seeds: e.g. ``range(3)``.
        out: the sweep folder.  epochs: override ``training.epochs``.  device: "cpu" or "cuda"
            (one GPU per worker).  data_root, strict: as ``fluctinit train``.
        batch_cells: cells trained together by ``train_batched`` (1: none; None: as
            ``max_batch_cells`` says, at most ``CPU_BATCH_CELLS`` on a CPU and the cells of a
            group over the workers).
        check_cuda, check_files: check CUDA and the data files here (off for a remote cluster,
            whose machines may differ).

    Raises:
        ParameterError: any cell's config refused (naming the key, value and range), bad
            seeds or ``batch_cells`` -- all before any work.
    """
    seeds = [check("seeds", s, Integer(0)) for s in seeds]
    if not seeds:
        raise ParameterError("`seeds` must hold at least one seed; got []", ["seeds"], [[]])
    if batch_cells is not None:
        check("batch_cells", batch_cells, BATCH_CONSTRAINTS["batch_cells"])
    cells = train_cells(config, grid, seeds, out, epochs=epochs, device=device, check_cuda=check_cuda)
    base = {k: v for k, v in config.items() if k != "source"}
    if epochs is not None:
        base = json.loads(json.dumps(base))
        base["training"]["epochs"] = epochs
    settings = {"device": device, "data_root": os.path.abspath(data_root), "strict": bool(strict),
                "batch_cells": batch_cells, "source": config.get("source")}

    def prepare() -> None:
        from .experiments import check_data_files

        if check_files:
            for cfg in {json.dumps(c.payload["data"], sort_keys=True): c.payload for c in cells}.values():
                check_data_files(cfg, data_root)

    return SweepJob(
        kind="train", base=base, grid=grid, seeds=seeds, cells=cells, columns=[*TRAIN_COLUMNS, *rate_columns(cells)],
        inspect=inspect_train_cell, describe=_describe,
        tasks=lambda pending, engine, n_workers, topic: batch_tasks(pending, engine, n_workers, topic, settings),
        settings=settings, prepare=prepare,
    )


def _describe(cell: Cell) -> str:
    r = cell.result
    pct = lambda k: "-" if r.get(k) is None else f"{100 * r[k]:.1f}%"  # noqa: E731
    return (f"train {pct('train_accuracy')}  valid {pct('valid_accuracy')}  test {pct('test_accuracy')}  "
            f"({r.get('time_s') or 0:.0f} s)")


def batch_tasks(cells: list[Cell], engine: Engine, n_workers: int, topic: str, settings: dict[str, Any]) -> list[Task]:
    """One task per batch of ``cells``: cells whose configs share ``batch_key(config, seed)``
    (not None) and start epoch go together, ``K`` at a time (``settings["batch_cells"]``, or
    ``max_batch_cells(config)``, on a CPU at most :data:`~fluctinit.training.batched.CPU_BATCH_CELLS`,
    and no more than spreads the group over ``n_workers``); a
    batch's ``split`` holds its cells one by one (run if the batch fails as a whole)."""
    device = settings["device"]
    task_settings = {**{k: settings[k] for k in ("device", "data_root", "strict")},
                     "threads": engine.threads_per_worker, "topic": topic, "client_pid": os.getpid()}
    resources = {"GPU": 1} if device == "cuda" else None
    spec = lambda c: {"name": c.name, "config": c.payload, "seed": c.seed, "folder": str(c.folder)}  # noqa: E731
    single = lambda c: Task(run_train_task, ([spec(c)], task_settings), [c.name], resources)  # noqa: E731
    order = {c.name: i for i, c in enumerate(cells)}
    from .batched import CPU_BATCH_CELLS, batch_key, max_batch_cells

    k_given = settings.get("batch_cells")
    if k_given == 1:
        return [single(c) for c in cells]
    tasks, groups = [], OrderedDict()
    for c in cells:
        key = batch_key(c.payload, c.seed)
        if key is None:
            tasks.append(single(c))
        else:
            groups.setdefault((key, c.start_epoch), []).append(c)
    for members in groups.values():
        cap = CPU_BATCH_CELLS if device == "cpu" else len(members)
        k = k_given or min(max_batch_cells(members[0].payload, device=device), cap,
                           math.ceil(len(members) / max(1, n_workers)))
        for i in range(0, len(members), max(1, k)):
            chunk = members[i:i + max(1, k)]
            if len(chunk) == 1:
                tasks.append(single(chunk[0]))
            else:
                tasks.append(Task(run_train_task, ([spec(c) for c in chunk], task_settings), [c.name for c in chunk],
                                  resources, split=[single(c) for c in chunk]))
    return sorted(tasks, key=lambda t: order[t.cells[0]])


# ----------------------------------------------------------------------------- on the worker
def run_train_task(cells: list[dict[str, Any]], settings: dict[str, Any]) -> list[dict[str, Any]] | dict[str, str]:
    """Train ``cells`` (``[{"name", "config", "seed", "folder"}]``, one seed) on this worker.

    One cell: :func:`~fluctinit.training.train_experiment` into its folder with ``resume=True``;
    several: ``train_batched``.  Returns one outcome per cell (``{"name", "status": "done",
    "result": <table columns>, "warnings"}`` or ``{"name", "status": "failed", "error": one
    line}``), or ``{"batch_error": line}`` when a batch failed as a whole (the sweep then runs
    its cells one by one)."""
    announce_start(settings["topic"], [c["name"] for c in cells])
    with ExitStack() as stack:
        stack.enter_context(cell_environment(settings))
        for c in sorted(cells, key=lambda c: c["folder"]):
            _hold(Path(c["folder"]), stack)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                results = _train(cells, settings)
            except Exception as err:  # noqa: BLE001 - a cell that raises fails alone
                line = error_line(err)
                if len(cells) > 1:
                    return {"batch_error": line}
                return [{"name": cells[0]["name"], "status": "failed", "error": line}]
        seen = list(dict.fromkeys(str(w.message) for w in caught if _reported(w)))
    return [{"name": c["name"], "status": "done", "result": train_row(r), "warnings": seen}
            for c, r in zip(cells, results)]


def _reported(w) -> bool:
    from .data import SilentDataWarning

    return issubclass(w.category, (SilentDataWarning, RuntimeWarning))


def _train(cells: list[dict[str, Any]], settings: dict[str, Any]) -> list[dict[str, Any]]:
    from .loop import train_experiment

    device, root, strict = settings["device"], settings["data_root"], settings["strict"]
    data = _data(cells[0]["config"], root, device, strict)
    if len(cells) == 1:
        c = cells[0]
        return [train_experiment(c["config"], seed=c["seed"], device=device, data_root=root, out=c["folder"],
                                 resume=True, progress=False, data=data)]
    from .batched import train_batched

    return train_batched([c["config"] for c in cells], seed=cells[0]["seed"], outs=[c["folder"] for c in cells],
                         resume=True, data=data, data_root=root, device=device, progress=False)


def _hold(folder: Path, stack: ExitStack, poll_s: float = 1.0) -> None:
    """Hold the cell folder's lock; wait while another attempt at the cell holds it (it ends, or
    its process dies and the kernel drops the lock), then continue from what it left."""
    from .runs import hold_output

    while True:
        try:
            stack.enter_context(hold_output(folder))
            return
        except ParameterError as err:
            if "in use" not in str(err):
                raise
            time.sleep(poll_s)


def _data(config: dict[str, Any], root: str, device: str, strict: bool):
    """The cell's data set, loaded once per worker for the cells that share it."""
    from .data import load_data

    key = json.dumps([config["data"], config["network"]["kind"], root, device, strict], sort_keys=True)
    with _data_lock:
        if key in _data_cache:
            _data_cache.move_to_end(key)
            return _data_cache[key]
    data = load_data(config, root, device=device, strict=strict)
    with _data_lock:
        _data_cache[key] = data
        while len(_data_cache) > _KEEP_DATA:
            _data_cache.popitem(last=False)
    return data
