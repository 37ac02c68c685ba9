"""Subcommand ``sweep``: parameter sweeps on Dask -- training runs, or membrane statistics.

    fluctinit sweep EXPERIMENT --grid KEY=V1,V2,... [--grid KEY=...] [--seeds N] [--epochs N] --out DIR
                    [--device cpu|cuda] [--data-root DIR] [--strict] [--batch-cells K]
                    [--workers N] [--threads-per-worker N] [--scheduler ADDRESS | --slurm OPTIONS]
                    [--resume] [--quiet]
    fluctinit sweep validate poisson|randman|shd|fsdd [the options of fluctinit validate]
                    --grid KEY=V1,V2,... [--seeds N] --out DIR [the engine options above]

A training sweep trains EXPERIMENT (a name from ``fluctinit experiments`` or a .json config)
once per cell: the Cartesian product of the --grid values, times the seeds 0..N-1 (--seeds,
default 1: seed 0).  KEY is a dotted path into the experiment config (init.sigma_u,
init.mu_w, init.sigma_w, init.method, training.lr, training.lambda_upper, network.hidden,
data.split_mode, ...).  Values: a list split on top-level commas, each value parsed as JSON,
else taken as a string (init.sigma_u=0.5,1,2  'network.hidden=[128],[128,128]'
data.split_mode=stratified,pooled), or a range: linspace(a,b,n) and logspace(a,b,n) as numpy's
(logspace: 10**linspace), range(a,b[,step]) (integers), also inside a list
('init.sigma_w=0,logspace(-2,1,13)'); quote values with brackets or parentheses for the shell.
Hidden weights N(mu_w, sigma_w^2) as given: --grid init.method=normal --grid init.mu_w=0
--grid 'init.sigma_w=logspace(-2,0,9)'.  Every cell's config is checked before any work: an
unknown key or a value the schema refuses is one line naming the key, the value and its valid
range.

Each cell is an ordinary training run in its own folder DIR/cells/<name>/ (name from the grid
values and the seed, e.g. sigma_u=0.5_seed0): the checkpoint and results JSON of
``fluctinit train`` with the same settings and seed, and the same numbers on the same number
of torch threads (--threads-per-worker).  DIR/results.csv (rewritten atomically as cells start
and finish, at most twice a second) has one row per cell: one column per grid key (named as
given), seed, status (pending, running, done, failed), train_accuracy, valid_accuracy,
test_accuracy, best_valid_epoch, best_valid_test_accuracy, epochs_to_90, epochs_completed,
time_s, rate_hz_<layer> (the last epoch's hidden rates, Hz), error (one line, for failed
cells) and folder.  DIR/sweep.json records the config, the grid, the seeds, the code version
and the engine settings.

A membrane-statistics sweep (``sweep validate``, figure 2c/2f) makes one measurement of
``fluctinit validate`` per cell; KEY is one of its options (sigma_u, mu_u, xi, neurons, fan_in,
nu, duration, trials, poisson_mode, max_samples, batch_size, tau_mem, tau_syn, dt, mode,
init, alpha, fan_in_rec, n_inh, nu_inh, tau_syn_inh), the seeds set --seed.  results.csv has
the grid columns and the measured against predicted statistics (the data's measured rate as
nu_measured); each cell's whole report is DIR/cells/<name>/report.json.

Engine: Dask.  By default a local cluster of worker processes on this machine (--workers,
default cores / --threads-per-worker; each cell runs torch on --threads-per-worker threads,
default 1); --scheduler tcp://host:port uses a running Dask cluster (its workers need fluctinit
installed, and run as many cells at once as they have Dask threads); --slurm
queue=Q,walltime=HH:MM:SS,cores=C,memory=16GB[,gpus=G][,account=A][,jobs=J] submits SLURM jobs
that scale with the work (needs ``pip install fluctinit[cluster]``).  On another machine's
workers, DIR and --data-root must be paths they see (a shared file system).  --device cuda
gives every worker one GPU.  Cells whose configs differ only where the grid-batched trainer
allows (same architecture, data and seed) train together, --batch-cells K at a time (1: one
by one; default on a GPU: as many as fit, spread over the workers; on a CPU, where batching
measured no faster, one by one).

Faults lose nothing: a worker that dies is replaced and its cell continues from its last epoch
checkpoint; a cell that raises fails alone (its row says why) and the others go on; an
interrupted sweep (Ctrl-C, a killed job) continues with --resume, which runs only what is
missing (failed cells again) and finishes partial cells from their checkpoints.  A DIR
holding a sweep is refused without --resume, --resume with another grid, config or seeds is
refused naming what differs (but --epochs may grow: --resume --epochs N continues every cell
to N epochs), and one DIR serves one sweep at a time.

Progress: one bar over the cells on a terminal (done, failed, running, time left) and one
line per finished cell on stderr; where stderr is no terminal (a log), plain lines only.
--quiet: neither.  The last line (stdout) sums up.  Exit status 0 when every cell is done, 1
when a cell failed, 2 (one line on stderr, before any work) for bad input.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_parser", "run", "run_validate", "run_validate_task", "VALIDATE_GRID_KEYS"]

#: the options of ``fluctinit validate`` a membrane-statistics sweep may sweep (argparse dests)
VALIDATE_GRID_KEYS = ("sigma_u", "mu_u", "xi", "neurons", "fan_in", "nu", "duration", "trials", "poisson_mode",
                      "max_samples", "batch_size", "tau_mem", "tau_syn", "dt", "mode", "init", "alpha", "fan_in_rec",
                      "n_inh", "nu_inh", "tau_syn_inh")
#: the columns of a membrane-statistics cell: fluctinit.validation.TABLE_COLUMNS and a few more of
#: its report, the data's measured rate ``nu`` named ``nu_measured`` (``nu`` is a grid key)
_EXTRA_COLUMNS = ("mu_u_sem", "mu_u_predicted", "sigma_u_expected")
_RENAMED = {"nu": "nu_measured"}
#: options of ``validate`` that a sweep has no use for (it writes its own table)
_NOT_IN_SWEEP = {"sweep": None, "out": None, "hist": None, "hist_neurons": None, "json": False}


def _common(p) -> None:
    p.add_argument("--grid", action="append", default=None, metavar="KEY=V1,V2,...",
                   help="a key and its values (repeat for more keys); lists, JSON values, linspace(a,b,n), "
                        "logspace(a,b,n), range(a,b[,step])")
    p.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 for every combination (default 1: seed 0)")
    p.add_argument("--out", required=True, help="the sweep folder (results.csv, sweep.json, cells/)")
    p.add_argument("--workers", type=int, default=None,
                   help="local: worker processes (default cores / threads per worker); slurm: the most at once")
    p.add_argument("--threads-per-worker", type=int, default=1, dest="threads_per_worker",
                   help="torch threads of each cell (default 1)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--scheduler", default=None, metavar="ADDRESS", help="a running Dask scheduler, tcp://host:port")
    g.add_argument("--slurm", default=None, metavar="OPTIONS",
                   help="SLURM jobs: queue=...,walltime=...,cores=...,memory=...[,gpus=...,account=...,jobs=...]")
    p.add_argument("--resume", action="store_true", help="continue the sweep in --out (only what is missing)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no per-cell lines")


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="parameter sweeps on Dask: training runs, or `sweep validate` (figure 2)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("experiment", help="experiment name (see `fluctinit experiments`) or path to a .json config; "
                                      "`validate` for a membrane-statistics sweep")
    p.add_argument("--epochs", type=int, default=None, help="supervised epochs of every cell (default: the config's)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="cuda: one GPU per worker")
    p.add_argument("--data-root", default=None, dest="data_root",
                   help="folder holding the data files (default: the current folder; not for Randman)")
    p.add_argument("--strict", action="store_true", default=None,
                   help="SHD, FSDD: reject a file with non-finite spike times (default: drop those events, warn once)")
    p.add_argument("--batch-cells", type=int, default=None, dest="batch_cells",
                   help="cells trained together by the grid-batched trainer (1: none; default: "
                        "as many as fit on a GPU, none on a CPU)")
    _common(p)
    p.set_defaults(run=run)

    from fluctinit.cli import validate

    # `fluctinit sweep validate ...` is dispatched here (fluctinit.cli.NESTED)
    q = sub.add_parser("sweep-validate", prog="fluctinit sweep validate",  # unlisted: `sweep validate`
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    validate.add_measurement_options(q)
    _common(q)
    q.set_defaults(run=run_validate, prog_name="fluctinit sweep validate")


# ----------------------------------------------------------------------------- shared
def _engine(args):
    from fluctinit import training
    from fluctinit.errors import Integer, check

    check("seeds", args.seeds, Integer(1))
    slurm = training.parse_slurm(args.slurm) if args.slurm is not None else None
    return training.Engine(workers=args.workers, threads_per_worker=args.threads_per_worker,
                           scheduler=args.scheduler, slurm=slurm)


def _finish(summary, out) -> int:
    restarts = sum(summary.restarts.values())
    print(f"sweep {out}: {summary.done} of {summary.total} cells done, {summary.failed} failed"
          + (f", {summary.pending} not run" if summary.pending else "")
          + (f", {restarts} restarted after their worker died" if restarts else "") + f" -> {summary.table}")
    return 0 if summary.done == summary.total else 1


# ----------------------------------------------------------------------------- training sweeps
def run(args) -> int:
    if args.experiment == "validate":  # `fluctinit sweep validate` without the data set
        from fluctinit.cli.validate import DATA

        raise ValueError(f"`fluctinit sweep validate` needs the data: {', '.join(DATA[:-1])} or {DATA[-1]}")
    from fluctinit import training
    from fluctinit.cli import reject_inapplicable
    from fluctinit.errors import ParameterError

    engine = _engine(args)
    try:
        config = training.load_experiment(args.experiment)
    except ParameterError as err:  # config keys are not flags: keep the message as it is
        raise ParameterError(str(err)) from None
    if args.epochs is not None:
        from fluctinit.errors import check

        check("epochs", args.epochs, training.TRAIN_CONSTRAINTS["epochs"])
    grid = training.parse_grid(args.grid or [])
    job = training.train_sweep(
        config, grid, range(args.seeds), args.out, epochs=args.epochs, device=args.device,
        data_root=args.data_root or ".", strict=bool(args.strict), batch_cells=args.batch_cells,
        check_cuda=engine.kind == "local", check_files=engine.kind != "scheduler",
    )
    for what, names in training.inapplicable_options(job.cells[0].payload).items():
        reject_inapplicable(args, what, names)
    summary = training.run_sweep(job, args.out, engine=engine, resume=args.resume, quiet=args.quiet)
    return _finish(summary, args.out)


# ----------------------------------------------------------------------------- membrane statistics
def _option_types() -> dict[str, Any]:
    from fluctinit.cli import validate

    p = argparse.ArgumentParser(add_help=False)
    validate.add_measurement_options(p)
    return {a.dest: a.type for a in p._actions}


def _options(args) -> dict[str, Any]:
    """The measurement options of ``args`` (every option of ``fluctinit validate`` but its outputs)."""
    keep = set(_option_types())
    return {k: v for k, v in vars(args).items() if k in keep}


def run_validate(args) -> int:
    from fluctinit import training
    from fluctinit.cli import validate
    from fluctinit.errors import ParameterError

    engine = _engine(args)
    reserved = {"seed": "the seeds are --seeds", "data": "one data set per sweep", "path": "one file per sweep",
                "strict": "one file per sweep"}
    grid = training.parse_grid(args.grid or [], reserved=reserved)
    for key in grid:
        if key not in VALIDATE_GRID_KEYS:
            raise ParameterError(f"`grid` key must be one of {', '.join(VALIDATE_GRID_KEYS)}; got {key!r}",
                                 ["grid"], [key])
    if args.seed != 0:
        raise ParameterError(f"`seed` does not apply to a sweep (its seeds are 0..`seeds`-1); got {args.seed!r}",
                             ["seed"], [args.seed])
    types, base = _option_types(), _options(args)
    cells = training.grid_cells(grid, range(args.seeds), args.out)
    for cell in cells:
        options = {**base, "seed": cell.seed}
        for key, value in cell.values.items():
            options[key] = float(value) if types.get(key) is float and type(value) is int else value
        try:
            validate.check_measurement(argparse.Namespace(**options, **_NOT_IN_SWEEP))
        except ParameterError as err:
            raise ParameterError(f"{err} (grid cell {training.describe_values(cell.values, cell.seed)})",
                                 err.names, err.values) from None
        cell.payload = options
    from fluctinit import validation as V

    columns = [_RENAMED.get(k, k) for k in (*V.TABLE_COLUMNS, *_EXTRA_COLUMNS)]
    settings = {"device": "cpu"}
    job = training.SweepJob(
        kind="validate", base={k: v for k, v in base.items() if k != "seed"}, grid=grid, seeds=list(range(args.seeds)),
        cells=cells, columns=columns, inspect=lambda c: _inspect(c, columns), describe=_describe,
        tasks=lambda pending, eng, n, topic: [training.Task(run_validate_task, (_spec(c), {
            "threads": eng.threads_per_worker, "topic": topic, "device": "cpu", "client_pid": _pid(),
            "columns": columns}), [c.name]) for c in pending],
        settings=settings,
    )
    summary = training.run_sweep(job, args.out, engine=engine, resume=args.resume, quiet=args.quiet)
    return _finish(summary, args.out)


def _pid() -> int:
    import os

    return os.getpid()


def _spec(cell) -> dict[str, Any]:
    return {"name": cell.name, "options": cell.payload, "folder": str(cell.folder)}


def _describe(cell) -> str:
    r = cell.result
    return (f"sigma_u target {r['sigma_u_target']:.4g} measured {r['sigma_u_measured']:.4f} "
            f"(ratio {r['ratio']:.4f} +- {r['ratio_sem']:.4f}), predicted {r['sigma_u_predicted']:.4f}")


def _inspect(cell, columns) -> None:
    """A cell whose report.json holds the measurement of its very options is done."""
    from pathlib import Path

    path = Path(cell.folder) / "report.json"
    try:
        stored = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return
    if isinstance(stored, dict) and stored.get("options") == json.loads(json.dumps(cell.payload)):
        cell.status, cell.note = "done", "stored"
        cell.result = _columns(stored["report"], columns)


def run_validate_task(cell: dict[str, Any], settings: dict[str, Any]) -> list[dict[str, Any]]:
    """One membrane-statistics cell on a worker: the measurement of ``fluctinit validate`` with
    the cell's options, its report written atomically to ``<folder>/report.json``."""
    from pathlib import Path

    from fluctinit import training
    from fluctinit._io import atomic_write_json
    from fluctinit.cli import validate
    from fluctinit.provenance import code_version

    training.announce_start(settings["topic"], [cell["name"]])
    try:
        with training.cell_environment(settings):
            ns = argparse.Namespace(**cell["options"], **_NOT_IN_SWEEP)
            reports, warnings = validate.measure(ns, validate.check_measurement(ns))
        report = reports[0].to_dict()
        atomic_write_json(Path(cell["folder"]) / "report.json",
                          {"options": cell["options"], "report": report, "code_version": code_version()})
    except Exception as err:  # noqa: BLE001 - a cell that raises fails alone
        return [{"name": cell["name"], "status": "failed", "error": training.error_line(err)}]
    return [{"name": cell["name"], "status": "done", "result": _columns(report, settings["columns"]),
             "warnings": warnings}]


def _columns(report: dict[str, Any], columns) -> dict[str, Any]:
    named = {_RENAMED.get(k, k): v for k, v in report.items()}
    return {k: named.get(k) for k in columns}

