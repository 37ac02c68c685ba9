"""Per-cell epoch time of grid-batched training against separate runs, at K = 1, 4, 16 cells.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/batched_per_cell.py [--cells 1,4,16] [--epochs 3]
        [--threads 1] [--profile K] [--out results/batched_per_cell.json]

For each K, the first K cells of figure 3c's grid (benchmarks/sweep_batched.py's
``grid_cells``, randman-ff, ``init.method`` "normal") train ``--epochs`` epochs once as
separate :func:`fluctinit.training.train_experiment` runs and once as one
:func:`fluctinit.training.train_batched` batch, on the same pre-loaded data, threads and glibc
memory setting (:func:`fluctinit.sim.memory.keep_freed_memory`, as ``fluctinit train``).  A
cell's epoch time is read from its history (``elapsed_s``: the separate run's own, the
batched cell's 1/K share of the batch), measured in process CPU time (the training modules'
clock is swapped for ``time.process_time``, so other jobs on the machine's cores inflate it
less than wall time; one thread, so CPU time is the time of that thread); the first epoch
(kernel compilation, warm-up) is left out.  ``--profile K`` prints cProfile's top entries of the batched run of K cells instead.
Other engineers share the machine's cores, so timings are noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile

from fluctinit._io import atomic_write_json

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def epoch_times(results: list[dict]) -> list[float]:
    """Per cell, its mean epoch time after the first (``elapsed_s`` is cumulative)."""
    out = []
    for r in results:
        cum = [h["elapsed_s"] for h in r["history"]]
        steps = [b - a for a, b in zip(cum, cum[1:])] or cum
        out.append(statistics.fmean(steps))
    return out


def _process_clock() -> None:
    """Let the training loop's epoch clock (``time.perf_counter``) read process CPU time."""
    import time
    import types

    from fluctinit.training import batched, loop

    clock = types.SimpleNamespace(perf_counter=time.process_time)
    loop.time = batched.time = clock


def measure(k: int, epochs: int, profile: bool = False) -> dict:
    from sweep_batched import grid_cells

    from fluctinit.training import load_data, train_batched, train_experiment

    cells = grid_cells(k, epochs, False)  # evenly spaced over the grid
    data = load_data(cells[0])
    kw = dict(seed=0, data=data, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        if profile:
            prof = cProfile.Profile()
            prof.runcall(train_batched, cells, outs=[os.path.join(tmp, "b")] * k, **kw)
            text = io.StringIO()
            pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(15)
            print(text.getvalue())
            return {}
        separate = [train_experiment(c, out=os.path.join(tmp, "s"), **kw) for c in cells]
        batched = train_batched(cells, outs=[os.path.join(tmp, "b")] * k, **kw)
    sep, bat = epoch_times(separate), epoch_times(batched)
    return {"cells": k, "epochs": epochs, "separate_s_per_cell_epoch": statistics.fmean(sep),
            "batched_s_per_cell_epoch": statistics.fmean(bat), "ratio": statistics.fmean(bat) / statistics.fmean(sep)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", default="1,4,16")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--profile", type=int, default=None, help="print the profile of one batched run of K cells")
    ap.add_argument("--out", default=os.path.join(HERE, "..", "results", "batched_per_cell.json"))
    args = ap.parse_args(argv)

    import torch

    from fluctinit.provenance import code_version
    from fluctinit.sim.memory import keep_freed_memory

    keep_freed_memory()
    torch.set_num_threads(args.threads)
    _process_clock()
    if args.profile is not None:
        measure(args.profile, args.epochs, profile=True)
        return 0
    rows = []
    print(f"{'K':>3} {'separate s/cell-epoch':>22} {'batched s/cell-epoch':>21} {'batched/separate':>17}")
    for k in [int(x) for x in args.cells.split(",") if x.strip()]:
        row = measure(k, args.epochs)
        rows.append(row)
        print(f"{k:3d} {row['separate_s_per_cell_epoch']:22.3f} {row['batched_s_per_cell_epoch']:21.3f} "
              f"{row['ratio']:17.2f}", flush=True)
    atomic_write_json(args.out, {"rows": rows, "threads": args.threads, "torch": torch.__version__,
                                 "code_version": code_version()})
    print(f"wrote {os.path.normpath(args.out)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
