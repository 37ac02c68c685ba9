"""Running a sweep's cells on Dask: the cluster, the tasks, faults, progress and the results table.

:func:`run_sweep` takes a :class:`SweepJob` (the cells and how to run them; built by
:func:`~fluctinit.training.train_sweep` or the membrane-statistics sweep of ``fluctinit
sweep validate``) and an :class:`Engine` (where to run them):

* the cluster: a local one by default, an existing one, or SLURM jobs
  (:mod:`fluctinit.training.sweep_cluster`);
* one Dask task per batch of cells; a task whose worker dies is run again (Dask's
  ``allowed-failures``) and its cells continue from their last epoch checkpoint, a cell that
  raises fails alone (its error in one line) and the others go on, a batch that fails is
  split into single cells;
* ``DIR/results.csv`` rewritten atomically whenever a cell starts or ends (one row per cell,
  always), ``DIR/sweep.json`` with what was swept and how, the folder locked for the whole
  sweep (:class:`~fluctinit._io.FolderLock`);
* one tqdm bar over the cells on a terminal and one line per finished cell (plain lines only
  where the stream is no terminal: a log gets no bar redraws).
"""

from __future__ import annotations

import csv
import io
import os
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from fluctinit._io import FolderLock, atomic_write_json, atomic_write_text, remove_stale_temps

from .sweep import (
    CELLS_DIR, STATUSES, SWEEP_FILE, TABLE_FILE, Cell, check_sweep_folder, error_line, format_value, read_record,
)
from .sweep_cluster import Engine, open_client

__all__ = ["Task", "SweepJob", "SweepSummary", "run_sweep", "announce_start", "cell_environment"]

#: the Dask event topic the tasks announce their start on (per session: a uuid is appended)
TOPIC = "fluctinit-sweep"
#: the results table is rewritten at most this often (seconds), and at the end
WRITE_INTERVAL_S = 0.5


# ----------------------------------------------------------------------------- jobs and tasks
@dataclass
class Task:
    """One Dask task: ``fn(*args)`` runs the cells ``cells`` (names) and returns one outcome per
    cell (``{"name", "status": "done" | "failed", "result", "error", "warnings"}``), or
    ``{"batch_error": line}`` for a batch that failed as a whole (then ``split`` runs instead)."""

    fn: Callable[..., Any]
    args: tuple
    cells: list[str]
    resources: dict[str, float] | None = None
    split: list["Task"] = field(default_factory=list)


@dataclass
class SweepJob:
    """A sweep ready to run: what it is (compared on resume), its cells and how to run them.

    Attributes:
        kind: ``"train"`` or ``"validate"``.  base: the config (or options) every cell starts from.
        grid: key -> values.  seeds: the seeds.  cells: the :class:`~fluctinit.training.sweep.Cell` list.
        columns: the result columns of a cell (after the grid keys, ``seed`` and ``status``).
        inspect: reads a cell's folder at the start (sets status ``"done"`` and its result, or
            its start epoch); called under the folder's lock.
        tasks: ``tasks(pending_cells, engine, n_workers, topic) -> [Task]`` (``topic``: the Dask
            event topic the tasks announce their start on).
        describe: one line of a finished cell's result (``"train 91.0% ... test 87.5%"``).
        settings: kind-specific settings recorded in ``sweep.json`` (device, batch cells, ...).
        prepare: called once before the tasks are made, after the folder checks (data checks).
    """

    kind: str
    base: dict[str, Any]
    grid: dict[str, list[Any]]
    seeds: list[int]
    cells: list[Cell]
    columns: list[str]
    inspect: Callable[[Cell], None]
    tasks: Callable[[list[Cell], "Engine", int, str], list[Task]]
    describe: Callable[[Cell], str]
    settings: dict[str, Any] = field(default_factory=dict)
    prepare: Callable[[], None] | None = None

    def record(self, engine: Engine) -> dict[str, Any]:
        from .sweep import sweep_record

        return sweep_record(self.kind, self.base, self.grid, self.seeds, self.cells,
                            {**engine.record(), **self.settings})


@dataclass
class SweepSummary:
    """How a sweep ended: cell counts by status (``pending``: not finished, after an
    interruption), restarts seen (cell -> times it started again after its worker died), the
    table's path, and how many cells were stored already when it started."""

    total: int
    done: int
    failed: int
    pending: int
    restarts: dict[str, int]
    table: Path
    stored: int = 0


# ----------------------------------------------------------------------------- table and progress
def _table_text(job: SweepJob) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*job.grid, "seed", "status", *job.columns, "error", "folder"])
    for c in job.cells:
        res = [("" if c.result.get(k) is None else format_value(c.result[k])) for k in job.columns]
        writer.writerow([*(format_value(c.values[k]) for k in job.grid), c.seed, c.status, *res, c.error,
                         f"{CELLS_DIR}/{c.name}"])
    return buf.getvalue()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class _Progress:
    """The bar (terminal only) and the lines (per finished cell; none with ``quiet``)."""

    def __init__(self, total: int, finished: int, stream, *, quiet: bool):
        from tqdm import tqdm

        self.stream, self.quiet, self.total = stream, quiet, total
        self.t0, self.finished0 = time.monotonic(), finished
        tty = bool(getattr(stream, "isatty", lambda: False)())
        self.bar = None
        if tty and not quiet:
            self.bar = tqdm(total=total, initial=finished, unit="cell", desc="sweep", file=stream, dynamic_ncols=True,
                            leave=True)

    def eta(self, finished: int) -> str:
        new = finished - self.finished0
        if new <= 0 or finished >= self.total:
            return ""
        return _duration((time.monotonic() - self.t0) / new * (self.total - finished))

    def refresh(self, n: dict[str, int]) -> None:
        if self.bar is not None:
            self.bar.set_postfix(done=n["done"], failed=n["failed"], running=n["running"], refresh=True)

    def line(self, text: str, counts: dict[str, int] | None = None, *, advance: bool = False) -> None:
        if advance and self.bar is not None:
            self.bar.update(1)
        if self.quiet:
            return
        if counts is not None and self.bar is None:  # no bar: the counts ride on the line
            n = counts
            left = self.eta(n["done"] + n["failed"])
            text += (f"  [{n['done'] + n['failed']}/{self.total}: {n['done']} done, {n['failed']} failed, "
                     f"{n['running']} running{', about ' + left + ' left' if left else ''}]")
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)
        if counts is not None:
            self.refresh(counts)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _State:
    """The cells' statuses, shared by the result loop and the start events (one lock); the
    counts kept as they change, the table written at most every :data:`WRITE_INTERVAL_S`
    seconds (a thread writes what is left)."""

    def __init__(self, job: SweepJob, out: Path, progress: _Progress):
        self.job, self.out, self.progress = job, out, progress
        self.by_name = {c.name: c for c in job.cells}
        self.lock = threading.RLock()
        self.starts: dict[str, int] = {}
        self.warned: set[str] = set()
        self.counts = {s: 0 for s in STATUSES}
        for c in job.cells:
            self.counts[c.status] += 1
        self.dirty, self.last_write = False, 0.0
        self.stop = threading.Event()
        self.flusher = threading.Thread(target=self._flush, name="sweep-table", daemon=True)

    def _set(self, cell: Cell, status: str) -> None:
        self.counts[cell.status] -= 1
        self.counts[status] += 1
        cell.status = status

    def write(self, force: bool = False) -> None:
        with self.lock:
            if force or time.monotonic() - self.last_write >= WRITE_INTERVAL_S:
                atomic_write_text(self.out / TABLE_FILE, _table_text(self.job))
                self.dirty, self.last_write = False, time.monotonic()
            else:
                self.dirty = True

    def _flush(self) -> None:
        while not self.stop.wait(WRITE_INTERVAL_S / 2):
            if self.dirty:
                self.write()

    def started(self, names: Sequence[str]) -> None:
        with self.lock:
            for name in names:
                cell = self.by_name.get(name)
                if cell is None or cell.status in ("done", "failed"):
                    continue
                self.starts[name] = self.starts.get(name, 0) + 1
                if self.starts[name] > 1:
                    self.progress.line(f"{name}: started again (attempt {self.starts[name]}; its worker died), "
                                       "continuing from its last checkpoint")
                self._set(cell, "running")
            self.write()
            self.progress.refresh(self.counts)

    def finished(self, outcome: dict[str, Any]) -> None:
        with self.lock:
            cell = self.by_name[outcome["name"]]
            if cell.status in ("done", "failed"):  # a second result of one cell is never listed twice
                return
            self._set(cell, outcome["status"])
            cell.result = outcome.get("result") or {}
            cell.error = _one_line(outcome.get("error", ""))
            for w in outcome.get("warnings") or ():
                if w not in self.warned:
                    self.warned.add(w)
                    self.progress.line(f"warning: {w}")
            self.write()
            what = self.job.describe(cell) if cell.status == "done" else f"FAILED: {cell.error}"
            self.progress.line(f"{cell.name}: {what}", self.counts, advance=True)

    def failed(self, names: Sequence[str], error: str) -> None:
        for name in names:
            self.finished({"name": name, "status": "failed", "error": error})

    def interrupted(self) -> None:
        """The running cells back to pending (their checkpoints stay for ``resume``)."""
        with self.lock:
            for c in self.job.cells:
                if c.status == "running":
                    self._set(c, "pending")


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= 500 else text[:497] + "..."


def _error_line(err: BaseException) -> str:
    from distributed import KilledWorker

    if isinstance(err, KilledWorker):
        return "its worker died on every attempt (Dask's allowed-failures reached; out of memory?)"
    return error_line(err)


# ----------------------------------------------------------------------------- running
def run_sweep(job: SweepJob, out: str | os.PathLike, *, engine: Engine = Engine(), resume: bool = False,
              quiet: bool = False, stream=None) -> SweepSummary:
    """Run the cells of ``job`` not finished yet into ``out``; write the table and the record.

    Args:
        job: the sweep (:func:`~fluctinit.training.train_sweep`).  out: the sweep folder.
        engine: where the cells run.  resume: continue the sweep ``out`` holds (the very same
            one: refused otherwise, naming what differs).
        quiet: no bar and no lines.  stream: where the bar and lines go (default stderr).

    Returns:
        A :class:`SweepSummary`.

    Raises:
        ParameterError: ``out`` holds a sweep and ``resume`` is not given, or another sweep;
            another process holds ``out``; a cluster that cannot be reached -- all before any cell runs.
    """
    out = Path(os.path.abspath(out))
    stream = sys.stderr if stream is None else stream
    header = [*job.grid, "seed", "status", *job.columns, "error", "folder"]
    if len(set(header)) != len(header):
        raise ValueError(f"the results table would repeat a column: {header}")
    record = job.record(engine)
    check_sweep_folder(out, record, resume=resume)  # refusals before the lock, which creates the folder
    with FolderLock(out, name="out"):
        remove_stale_temps(out)
        again = check_sweep_folder(out, record, resume=resume)  # another process may have written meanwhile
        sessions = read_record(out / SWEEP_FILE).get("sessions", []) if again else []
        if again:
            for cell in job.cells:
                job.inspect(cell)
        if job.prepare is not None:
            job.prepare()
        pending = [c for c in job.cells if c.status != "done"]
        progress = _Progress(len(job.cells), len(job.cells) - len(pending), stream, quiet=quiet)
        state = _State(job, out, progress)
        state.flusher.start()
        sessions.append({"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "engine": record["engine"],
                         "code_version": record["code_version"]})

        def start() -> None:  # the record and the table, once the cluster is there
            (out / CELLS_DIR).mkdir(parents=True, exist_ok=True)
            atomic_write_json(out / SWEEP_FILE, {**record, "sessions": sessions})
            state.write(force=True)
            stored, partial = len(job.cells) - len(pending), sum(bool(c.note) for c in pending)
            if stored or partial:
                progress.line(f"{out}: {stored} of {len(job.cells)} cells stored, {partial} continue from a "
                              f"checkpoint, {len(pending) - partial} start")

        try:
            if pending:
                _execute(job, state, pending, engine, start)
            else:
                start()
        finally:
            state.stop.set()
            state.interrupted()
            if (out / SWEEP_FILE).exists():
                state.write(force=True)
            progress.close()
    n = state.counts
    return SweepSummary(len(job.cells), n["done"], n["failed"], n["pending"] + n["running"],
                        {k: v - 1 for k, v in state.starts.items() if v > 1}, out / TABLE_FILE,
                        len(job.cells) - len(pending))


def _execute(job: SweepJob, state: _State, pending: list[Cell], engine: Engine, start: Callable[[], None]) -> None:
    """Submit the tasks of ``pending`` and record every outcome; ``start()`` once the cluster is up."""
    from distributed import as_completed

    topic = f"{TOPIC}-{uuid.uuid4().hex[:12]}"
    device = job.settings.get("device", "cpu")
    with open_client(engine, device=device, n_tasks=len(pending)) as (client, n_workers):
        start()
        tasks = job.tasks(pending, engine, n_workers or len(pending), topic)
        client.subscribe_topic(topic, lambda event: state.started(event[1].get("started", ())))
        futures: dict[Any, Task] = {}

        def submit(task: Task) -> Any:
            key = f"{job.kind}-cell-{task.cells[0]}-{uuid.uuid4().hex[:8]}"
            future = client.submit(task.fn, *task.args, key=key, pure=False, resources=task.resources or None)
            futures[future] = task
            return future

        completed = as_completed([submit(t) for t in tasks])
        for future in completed:
            task = futures.pop(future)
            try:
                outcome = future.result()
            except Exception as err:  # the task itself broke (or lost its worker too often)
                outcome = {"batch_error": _error_line(err)} if task.split else None
                if outcome is None:
                    state.failed(task.cells, _error_line(err))
            future.release()
            if isinstance(outcome, dict) and "batch_error" in outcome:
                state.progress.line(f"batch of {len(task.cells)} cells failed ({outcome['batch_error']}); "
                                    "running them one by one")
                for single in task.split:
                    completed.add(submit(single))
            elif outcome is not None:
                for o in outcome:
                    state.finished(o)


# ----------------------------------------------------------------------------- on the worker
def announce_start(topic: str, names: list[str]) -> None:
    """Tell the client the cells started (a Dask event; nothing outside a worker)."""
    try:
        from distributed import get_worker

        get_worker().log_event(topic, {"started": names})
    except (ImportError, ValueError):
        pass


@contextmanager
def cell_environment(settings: dict[str, Any]):
    """What a task sets up on its worker around its cells: torch on ``settings["threads"]``
    threads (restored after it), glibc's memory setting (:func:`fluctinit.sim.memory.keep_freed_memory`)
    in a worker process of its own (not in the client's, ``settings["client_pid"]``), and the
    worker's own GPU for ``settings["device"] == "cuda"``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(settings["threads"])
    if os.getpid() != settings.get("client_pid"):  # a worker process of its own
        from fluctinit.sim.memory import keep_freed_memory

        keep_freed_memory()
    if settings["device"] == "cuda":
        torch.cuda.set_device(_gpu_index())
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _gpu_index() -> int:
    """The GPU of this worker: its name's trailing number (LocalCluster names workers 0, 1, ...;
    dask-jobqueue ``<job>-<i>``) modulo the GPUs it sees."""
    import re

    import torch

    try:
        from distributed import get_worker

        match = re.search(r"(\d+)$", str(get_worker().name))
    except (ImportError, ValueError):
        match = None
    return int(match.group(1)) % max(1, torch.cuda.device_count()) if match else 0
