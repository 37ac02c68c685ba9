"""Where a sweep's cells run: the :class:`Engine` settings and the Dask cluster they open.

* a :class:`distributed.LocalCluster` on this machine by default: worker processes (their
  nannies replace a worker that dies), each running one cell at a time (one Dask thread) with
  ``threads_per_worker`` torch threads; for CUDA one worker per GPU offering the resource
  ``GPU=1``;
* an existing Dask cluster by its scheduler's address (``scheduler``);
* a ``dask_jobqueue.SLURMCluster`` with adaptive scaling (``slurm``, :func:`slurm_cluster`;
  dask-jobqueue imported only then: ``pip install fluctinit[cluster]``).

The clusters this opens run with Dask's ``allowed-failures`` set to :attr:`Engine.allowed_failures`
(a task whose worker died runs again) and ``worker-saturation`` 1 (a worker holds only the
tasks it runs, so a dying worker loses no queued cell).
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Iterator

from fluctinit.errors import Integer, ParameterError, check, conflict

__all__ = ["Engine", "ENGINE_CONSTRAINTS", "SLURM_OPTIONS", "default_workers", "parse_slurm", "slurm_cluster",
           "slurm_layout", "open_client"]


#: ranges of the engine settings
ENGINE_CONSTRAINTS = {"workers": Integer(1), "threads_per_worker": Integer(1), "allowed_failures": Integer(0)}
#: the ``--slurm`` options: key -> (SLURMCluster argument or None for ours, what it takes)
SLURM_OPTIONS = {
    "queue": ("queue", "a partition name"), "account": ("account", "an account name"),
    "walltime": ("walltime", "a time limit, e.g. 02:00:00"), "cores": (None, "CPU cores per job, an integer >= 1"),
    "memory": ("memory", "memory per job, e.g. 16GB"), "gpus": (None, "GPUs per job, an integer >= 1"),
    "jobs": (None, "the most jobs at once, an integer >= 1"), "interface": ("interface", "a network interface"),
    "log_directory": ("log_directory", "a folder for the job logs"),
    "local_directory": ("local_directory", "a scratch folder on the nodes"),
}
#: seconds to wait for the scheduler of ``Engine.scheduler`` to answer
SCHEDULER_TIMEOUT_S = 20


@dataclass(frozen=True)
class Engine:
    """Where the cells run.

    Attributes:
        workers: worker processes (local: default cores // threads_per_worker, or one per GPU;
            SLURM: the most workers at once, default one per task).
        threads_per_worker: torch threads of each cell (each worker runs one cell at a time).
        scheduler: address of a running Dask scheduler (``tcp://host:8786``) instead of a local cluster.
        slurm: ``dask_jobqueue.SLURMCluster`` options (:data:`SLURM_OPTIONS`) instead of a local cluster.
        processes: local cluster with worker processes (False: threads of this process, for tests).
        allowed_failures: how often a task may lose its worker before its cells fail (Dask's
            ``distributed.scheduler.allowed-failures``; clusters this sweep starts).
    """

    workers: int | None = None
    threads_per_worker: int = 1
    scheduler: str | None = None
    slurm: dict[str, Any] | None = None
    processes: bool = True
    allowed_failures: int = 3

    def __post_init__(self) -> None:
        for name in ("workers", "threads_per_worker", "allowed_failures"):
            if getattr(self, name) is not None:
                check(name, getattr(self, name), ENGINE_CONSTRAINTS[name])
        if self.scheduler is not None and self.slurm is not None:
            raise conflict("choose one cluster: an existing one (`scheduler`) or SLURM jobs (`slurm`)",
                           scheduler=self.scheduler, slurm=self.slurm)
        if self.scheduler is not None and self.workers is not None:
            raise ParameterError(f"`workers` does not apply to an existing cluster (`scheduler`); got {self.workers!r}",
                                 ["workers"], [self.workers])

    @property
    def kind(self) -> str:
        return "scheduler" if self.scheduler else "slurm" if self.slurm else "local"

    def record(self) -> dict[str, Any]:
        return {"cluster": self.kind, **asdict(self)}


def default_workers(threads_per_worker: int, device: str = "cpu") -> int:
    """Local workers by default: one per GPU for ``device="cuda"``, else the usable cores //
    ``threads_per_worker`` (at least one)."""
    if device == "cuda":
        import torch

        return max(1, torch.cuda.device_count())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // threads_per_worker)


# ----------------------------------------------------------------------------- SLURM
def parse_slurm(text: str) -> dict[str, Any]:
    """``"queue=gpu,walltime=02:00:00,cores=4,memory=16GB,gpus=1"`` -> a dict (:data:`SLURM_OPTIONS`).

    Raises:
        ParameterError: not KEY=VALUE pairs, an unknown key (the known ones listed), a count
            that is no integer >= 1.
    """
    out: dict[str, Any] = {}
    for part in str(text).split(","):
        key, eq, value = (s.strip() for s in part.partition("="))
        if not eq or not key or not value:
            raise ParameterError(f"`slurm` must be KEY=VALUE pairs separated by commas; got {text!r}", ["slurm"], [text])
        if key not in SLURM_OPTIONS:
            raise ParameterError(f"`slurm` key must be one of {', '.join(SLURM_OPTIONS)}; got {key!r}", ["slurm"], [key])
        if key in ("cores", "gpus", "jobs"):
            if not value.isdigit() or int(value) < 1:
                raise ParameterError(f"`slurm` {key} must be {SLURM_OPTIONS[key][1]}; got {value!r}", ["slurm"], [value])
            value = int(value)
        out[key] = value
    return out


def _jobqueue():
    try:
        import dask_jobqueue
    except ImportError:
        raise ParameterError("`slurm` needs dask-jobqueue, which is not installed: pip install fluctinit[cluster]",
                             ["slurm"], [None]) from None
    return dask_jobqueue


def slurm_cluster(options: dict[str, Any], *, threads_per_worker: int = 1, device: str = "cpu"):
    """A ``dask_jobqueue.SLURMCluster`` for sweep cells (no job submitted until it is scaled).

    Each job books ``cores`` CPUs (default ``threads_per_worker``) and runs
    ``cores // threads_per_worker`` workers of one Dask thread each (one cell at a time, its
    torch threads set by the task).  With ``gpus`` (or ``device="cuda"``) each job asks for
    ``--gres=gpu:G``, runs one worker per GPU and each worker offers the resource ``GPU=1``.

    Raises:
        ParameterError: dask-jobqueue missing (``pip install fluctinit[cluster]``), ``cores``
            below ``threads_per_worker``.
    """
    jq = _jobqueue()
    kwargs = {arg: options[key] for key, (arg, _) in SLURM_OPTIONS.items() if arg and key in options}
    processes, cores, gpus = slurm_layout(options, threads_per_worker=threads_per_worker, device=device)
    if gpus:
        kwargs["job_extra_directives"] = [f"--gres=gpu:{gpus}"]
        kwargs["worker_extra_args"] = ["--resources", "GPU=1"]
    kwargs.setdefault("memory", f"{4 * processes}GB")
    # the scheduler (on this machine) serves HTTP on any free port, as the local cluster does
    return jq.SLURMCluster(cores=processes, processes=processes, job_cpu=cores,
                           scheduler_options={"dashboard_address": ":0"}, **kwargs)


def slurm_layout(options: dict[str, Any], *, threads_per_worker: int = 1, device: str = "cpu") -> tuple[int, int, int]:
    """``(workers per job, CPUs per job, GPUs per job)`` of :func:`slurm_cluster`."""
    gpus = options.get("gpus", 1 if device == "cuda" else 0)
    if gpus:
        return gpus, options.get("cores", gpus * threads_per_worker), gpus
    cores = options.get("cores", threads_per_worker)
    if cores < threads_per_worker:
        raise conflict("each job needs at least `threads_per_worker` cores", cores=cores,
                       threads_per_worker=threads_per_worker)
    return cores // threads_per_worker, cores, 0


# ----------------------------------------------------------------------------- the cluster
@contextmanager
def open_client(engine: Engine, *, device: str = "cpu", n_tasks: int = 1) -> Iterator[tuple[Any, int]]:
    """A Dask client of the engine's cluster and the number of workers it will have (0 where
    it scales itself); the cluster this opens is closed at the end.

    Raises:
        ParameterError: a scheduler address that does not answer; dask-jobqueue missing.
    """
    import dask
    from distributed import Client, LocalCluster

    settings = {"distributed.scheduler.allowed-failures": engine.allowed_failures,
                # a worker gets one task per thread and no more: a dying worker loses only the cells it runs
                "distributed.scheduler.worker-saturation": 1.0}
    with dask.config.set(settings):
        if engine.scheduler is not None:
            try:
                client = Client(engine.scheduler, timeout=f"{SCHEDULER_TIMEOUT_S}s")
            except (OSError, TimeoutError, ValueError) as err:
                raise ParameterError(f"`scheduler` must be the address of a running Dask scheduler; got "
                                     f"{engine.scheduler!r} ({str(err).splitlines()[0] if str(err) else type(err).__name__})",
                                     ["scheduler"], [engine.scheduler]) from None
            with client:
                yield client, len(client.scheduler_info().get("workers", {}))
            return
        if engine.slurm is not None:
            cluster = slurm_cluster(engine.slurm, threads_per_worker=engine.threads_per_worker, device=device)
            per_job = slurm_layout(engine.slurm, threads_per_worker=engine.threads_per_worker, device=device)[0]
            most = engine.workers or n_tasks
            if "jobs" in engine.slurm:
                most = min(most, engine.slurm["jobs"] * per_job)
            with cluster, Client(cluster) as client:
                cluster.adapt(minimum=0, maximum=max(1, most))
                yield client, 0
            return
        workers = engine.workers or default_workers(engine.threads_per_worker, device)
        workers = max(1, min(workers, n_tasks))
        kwargs = {"resources": {"GPU": 1}} if device == "cuda" else {}
        # the scheduler's HTTP server on any free port: two sweeps on one machine do not collide
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=engine.processes, dashboard_address=":0",
                          silence_logs=logging.CRITICAL, **kwargs) as cluster, Client(cluster) as client:
            yield client, workers
