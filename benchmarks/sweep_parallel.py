"""Sweeps on Dask: parallel efficiency, start-up and per-cell overhead, and a fault drill.

    .venv/bin/python benchmarks/sweep_parallel.py [--quick] [--workers 2] [--cells 8] [--epochs 10]
                                                  [--kills 3] [--out DIR] [--json]

1. Parallel efficiency: ``--cells`` cells of randman-ff (the paper's network and data; a grid
   over ``training.lr``) at ``--epochs`` epochs, first one after another in this process on one
   torch thread (data loaded once, as a worker keeps it), then as a sweep on a local cluster of
   ``--workers`` workers x 1 thread (cell by cell, ``--batch-cells 1``: Dask's parallelism, not
   grid batching).  Speed-up = serial / sweep wall time, efficiency = speed-up / workers; the
   sweep's time includes starting its cluster and warming its workers (imports, data).
   The time until the first cell finished is mostly the workers' warm-up (a fresh process
   imports torch, loads the compiled kernels and makes the data); the "warm" efficiency leaves
   it out (an estimate: the sweep's time after its first cell, plus one cell).
2. Overhead: the cluster's start-up (a LocalCluster and its client, nothing run), the workers'
   warm-up (until the first cell of 0 epochs finished, less the start-up) and the per-cell
   overhead on warm workers: ``workers`` x the median time between two cells finishing (after
   the first ``workers`` cells) less the time of one such cell in this process (0-epoch cells
   of a tiny Randman config: the evaluation and files of a run, no training).
3. Fault drill: the ``fluctinit sweep`` command (a process group of its own) over ``--cells``
   cells; whenever a cell is mid-run (a checkpoint without results) a worker process is killed
   (SIGKILL), ``--kills`` times.  Counted: kills, cells mid-run at a kill (on any worker),
   cells restarted (the sweep's own count: started again after their worker died), cells lost
   (not done at the end; target 0), rows listed twice (target 0), cells mid-run at a kill whose
   history is not the continuous 1..E (target 0).

``--quick``: tiny cells of few epochs, one kill (a smoke run of every part: about a minute on 2
idle cores, dominated by three clusters' start-up and warm-up; its efficiency means nothing).  The full run takes several minutes: run it on
a quiet machine.  Prints a table (``--json``: one JSON object).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _config(quick: bool, **training_) -> dict:
    from fluctinit.training import load_experiment

    c = {k: v for k, v in load_experiment("randman-ff").items() if k != "source"}
    if quick:
        c["name"] = "tiny"
        c["data"].update(samples_per_class=60, split=[48, 6, 6])
        c["network"]["hidden"] = [16]
        c["training"].update(batch_size=40)
    c["training"].update(training_)
    return c


def _lrs(n: int) -> list[float]:
    return [round(0.002 * (k + 1), 6) for k in range(n)]


def _serial(config: dict, grid: list[str], out: Path) -> float:
    """The cells of ``grid`` one after another in this process, one torch thread, data loaded once."""
    import torch

    from fluctinit.training import load_data, parse_grid, train_cells, train_experiment

    cells = train_cells(config, parse_grid(grid), [0], out)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = load_data(cells[0].payload)
        t = time.perf_counter()
        for c in cells:
            train_experiment(c.payload, seed=0, out=c.folder, progress=False, data=data)
        return time.perf_counter() - t
    finally:
        torch.set_num_threads(before)


class _Clock:
    """A progress stream that notes when each cell's line arrives (a cell finished)."""

    def __init__(self):
        self.times: list[float] = []

    def write(self, text: str) -> int:
        if ": train " in text:
            self.times.append(time.perf_counter())
        return len(text)

    def flush(self) -> None:
        pass


def _sweep(config: dict, grid: list[str], out: Path, workers: int) -> tuple[float, list[float], object]:
    """The sweep's wall time, the times its cells finished (from its start), its summary."""
    from fluctinit.training import Engine, parse_grid, run_sweep, train_sweep

    job = train_sweep(config, parse_grid(grid), [0], out, batch_cells=1)
    clock = _Clock()
    t = time.perf_counter()
    summary = run_sweep(job, out, engine=Engine(workers=workers, threads_per_worker=1), stream=clock)
    return time.perf_counter() - t, [x - t for x in clock.times], summary


def _startup(workers: int) -> float:
    from fluctinit.training import Engine
    from fluctinit.training.sweep_cluster import open_client

    t = time.perf_counter()
    with open_client(Engine(workers=workers), n_tasks=workers) as (client, _):
        client.wait_for_workers(workers)
        return time.perf_counter() - t


def parallel(args, root: Path) -> dict:
    config = _config(args.quick, epochs=args.epochs)
    grid = ["training.lr=" + ",".join(map(str, _lrs(args.cells)))]
    serial = _serial(config, grid, root / "serial")
    wall, finished, summary = _sweep(config, grid, root / "parallel", args.workers)
    speedup = serial / wall
    warm = wall - finished[0] + serial / args.cells if finished else wall  # without the first cell's wait
    return {"cells": args.cells, "epochs": args.epochs, "workers": args.workers, "serial_s": serial,
            "sweep_s": wall, "first_cell_s": finished[0] if finished else None, "speedup": speedup,
            "efficiency": speedup / args.workers, "warm_efficiency": serial / warm / args.workers, "done": summary.done}


def overhead(args, root: Path) -> dict:
    import statistics

    config = _config(True, epochs=0)
    n = max(args.cells, 3 * args.workers)
    grid = ["training.lr=" + ",".join(map(str, _lrs(n)))]
    startup = _startup(args.workers)
    serial = _serial(config, grid, root / "o-serial")
    wall, finished, summary = _sweep(config, grid, root / "o-sweep", args.workers)
    steady = [b - a for a, b in zip(finished[args.workers:], finished[args.workers + 1:])]  # warm workers
    per_cell = args.workers * statistics.median(steady) - serial / n if steady else None
    return {"cells": n, "startup_s": startup, "serial_s": serial, "sweep_s": wall,
            "warm_up_s": finished[0] - startup if finished else None, "per_cell_overhead_s": per_cell,
            "done": summary.done}


def _workers_of(pid: int) -> list:
    import psutil

    try:
        kids = psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []
    out = []
    for k in kids:
        try:
            if "spawn_main" in " ".join(k.cmdline()):
                out.append(k)
        except psutil.Error:
            pass
    return out


def drill(args, root: Path) -> dict:
    epochs = 8 if args.quick else max(args.epochs, 6)
    path = root / "drill.json"
    path.write_text(json.dumps(_config(args.quick, epochs=epochs)))
    out = root / "drill"
    argv = [sys.executable, "-m", "fluctinit", "sweep", str(path), "--grid",
            "training.lr=" + ",".join(map(str, _lrs(args.cells))), "--out", str(out), "--workers", str(args.workers),
            "--batch-cells", "1"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    kills, mid_run, t0 = 0, set(), time.monotonic()
    try:
        while proc.poll() is None and kills < args.kills and time.monotonic() - t0 < 1800:
            mid = [f for f in sorted((out / "cells").glob("*")) if list(f.glob("*.ckpt")) and not list(f.glob("*.json"))]
            workers = _workers_of(proc.pid)
            if mid and workers:
                os.kill(workers[kills % len(workers)].pid, signal.SIGKILL)
                kills += 1
                mid_run.update(f.name for f in mid)
                time.sleep(1.0 if args.quick else 3.0)  # let the replacement start before the next kill
            time.sleep(0.02)
        stdout, stderr = proc.communicate(timeout=3600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    folders = [r["folder"] for r in rows]
    broken = 0
    for name in mid_run:
        results = list((out / "cells" / name).glob("*.json"))
        history = json.loads(results[0].read_text())["history"] if results else []
        broken += [h["epoch"] for h in history] != list(range(1, epochs + 1))
    restarted = sum(line.count("started again") for line in stderr.splitlines())
    return {"cells": args.cells, "epochs": epochs, "kills": kills, "cells_mid_run": len(mid_run), "cells_restarted": restarted,
            "cells_lost": sum(r["status"] != "done" for r in rows) + (args.cells - len(rows)),
            "rows_twice": len(folders) - len(set(folders)), "histories_broken": broken, "exit_status": proc.returncode,
            "summary": stdout.strip().splitlines()[-1] if stdout.strip() else ""}


def _table(results: dict) -> str:
    p, o, d = results.get("parallel"), results.get("overhead"), results.get("drill")
    rows = []
    if p:
        rows += [(f"serial: {p['cells']} cells x {p['epochs']} epochs, 1 thread, one process", f"{p['serial_s']:.1f} s"),
                 (f"sweep: {p['workers']} workers x 1 thread (cells done: {p['done']})", f"{p['sweep_s']:.1f} s"),
                 ("  of which until the first cell finished", f"{p['first_cell_s']:.1f} s"),
                 ("speed-up / parallel efficiency", f"{p['speedup']:.2f}x / {100 * p['efficiency']:.0f} %"),
                 ("  efficiency once the workers are warm (estimate)", f"{100 * p['warm_efficiency']:.0f} %")]
    if o:
        rows += [("Dask start-up (LocalCluster + client, nothing run)", f"{o['startup_s']:.1f} s"),
                 ("worker warm-up (imports, data, first cell; 0 epochs)", f"{o['warm_up_s']:.1f} s"),
                 (f"{o['cells']} cells of 0 epochs: in one process / as a sweep", f"{o['serial_s']:.2f} s / {o['sweep_s']:.1f} s"),
                 ("per-cell overhead of a sweep on warm workers", f"{o['per_cell_overhead_s']:.3f} s")]
    if d:
        rows += [(f"fault drill: {d['cells']} cells x {d['epochs']} epochs, worker kills", str(d["kills"])),
                 ("cells mid-run at a kill / restarted by the sweep", f"{d['cells_mid_run']} / {d['cells_restarted']}"),
                 ("cells lost (target 0) / rows listed twice (target 0)", f"{d['cells_lost']} / {d['rows_twice']}"),
                 ("of those mid-run, histories not 1..E (target 0)", str(d["histories_broken"])),
                 ("exit status of the sweep", str(d["exit_status"]))]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{a:<{width}}  {b}" for a, b in rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny cells: a smoke run in well under a minute")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cells", type=int, default=None, help="cells per measurement (default 8; quick 4)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs per cell (default 10; quick 1)")
    ap.add_argument("--kills", type=int, default=None, help="worker kills in the drill (default 3; quick 1)")
    ap.add_argument("--only", choices=("parallel", "overhead", "drill"), action="append", default=None)
    ap.add_argument("--out", default=None, help="keep the sweeps in a new folder under this one (default: a "
                    "temporary folder)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    args.cells = args.cells or (4 if args.quick else 8)
    args.epochs = args.epochs if args.epochs is not None else (1 if args.quick else 10)
    args.kills = args.kills if args.kills is not None else (1 if args.quick else 3)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out) / time.strftime("%Y%m%d-%H%M%S") if args.out else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        results = {}
        for name, fn in (("parallel", parallel), ("overhead", overhead), ("drill", drill)):
            if args.only is None or name in args.only:
                results[name] = fn(args, root)
    print(json.dumps(results, indent=1) if args.json else _table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
