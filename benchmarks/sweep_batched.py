"""Benchmark of grid-batched training: a mu_W x sigma_W grid, batched against separate runs.

    .venv/bin/python benchmarks/sweep_batched.py [--cells 64] [--epochs 10] [--batch-cells K]
        [--threads N] [--device cpu|cuda] [--memory-cells 1,4,16,64] [--quick]
        [--out results/sweep_batched.json]

1. Trains the cells of figure 3c's grid on randman-ff (``init.method`` "normal", ``mu_w`` in
   ``linspace(-2, 1, 8)`` x ``sigma_w`` in ``logspace(-2, 1, 8)``; ``--cells`` fewer: evenly
   spaced over the grid) for ``--epochs`` epochs twice, on the same threads and data: once as
   separate :func:`fluctinit.training.train_experiment` runs, once with
   :func:`fluctinit.training.train_batched` in batches of K cells (``--batch-cells``, else
   :func:`fluctinit.training.max_batch_cells`).  Reports wall time of each, their ratio, and
   whether the results agree: the largest difference of any accuracy (final train,
   validation, test and every epoch's validation accuracy) and of the training losses.
2. Peak memory of one batched epoch against K (``--memory-cells``), each K in a fresh
   subprocess so the allocator state of earlier runs cannot hide allocations (CPU: peak
   resident set size above the size before training, CUDA: peak allocated), next to the
   estimate of :func:`fluctinit.training.batched.cell_bytes`.

``--quick``: 4 cells, 1 epoch, a 20-samples-per-class data set, K in (1, 4): a smoke run of
well under a minute.  Other engineers share the machine's cores, so timings are noisy.
Results are written atomically as JSON.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time

from fluctinit._io import atomic_write_json

HERE = os.path.dirname(os.path.abspath(__file__))


def grid_cells(n_cells: int, epochs: int, quick: bool) -> list[dict]:
    """``n_cells`` configs of the 8 x 8 (mu_w, sigma_w) grid, evenly spaced over it."""
    import numpy as np

    from fluctinit.training import load_experiment

    base = load_experiment("randman-ff")
    base["training"]["epochs"] = epochs
    if quick:
        base["data"].update(samples_per_class=20, split=[16, 2, 2])
    grid = [(float(m), float(s)) for m in np.linspace(-2, 1, 8) for s in np.logspace(-2, 1, 8)]
    picks = np.unique(np.linspace(0, len(grid) - 1, min(n_cells, len(grid))).round().astype(int))
    cells = []
    for i in picks:
        c = copy.deepcopy(base)
        c["init"] = dict(c["init"], method="normal", mu_w=grid[i][0], sigma_w=grid[i][1])
        cells.append(c)
    return cells


def _time(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def compare(cells, batch_cells: int, device: str) -> dict:
    """Train ``cells`` separately and batched (batches of ``batch_cells``); times and agreement."""
    from fluctinit.training import load_data, train_batched, train_experiment

    data = load_data(cells[0], device=device)
    with tempfile.TemporaryDirectory() as tmp:
        kw = dict(seed=0, data=data, device=device, progress=False)
        sep_s, separate = _time(lambda: [train_experiment(c, out=os.path.join(tmp, "separate"), **kw) for c in cells])
        groups = [cells[i:i + batch_cells] for i in range(0, len(cells), batch_cells)]
        bat_s, batched = _time(lambda: [r for g in groups
                                        for r in train_batched(g, outs=[os.path.join(tmp, "batched")] * len(g), **kw)])
    acc, loss = 0.0, 0.0
    for s, b in zip(separate, batched):
        for key in ("train_accuracy", "validation_accuracy", "test_accuracy"):
            acc = max(acc, abs(s["final"][key] - b["final"][key]))
        for hs, hb in zip(s["history"], b["history"]):
            acc = max(acc, abs(hs["valid_accuracy"] - hb["valid_accuracy"]))
            loss = max(loss, abs(hs["train_loss"] - hb["train_loss"]) / max(abs(hs["train_loss"]), 1e-30))
    return {"cells": len(cells), "epochs": cells[0]["training"]["epochs"], "batch_cells": batch_cells,
            "separate_s": sep_s, "batched_s": bat_s, "speedup": sep_s / bat_s,
            "max_accuracy_difference": acc, "max_relative_loss_difference": loss,
            "test_accuracy": [b["final"]["test_accuracy"] for b in batched]}


_PROBE = r"""
import json, os, sys, tempfile, torch
sys.path.insert(0, sys.argv[5])
from sweep_batched import grid_cells
from fluctinit.training import bench, load_data, train_batched
from fluctinit.training.batched import cell_bytes
k, quick, device, threads = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3], int(sys.argv[4])
torch.set_num_threads(threads)
if sys.argv[6] == "1":
    from fluctinit.sim.memory import keep_freed_memory
    keep_freed_memory()
cells = grid_cells(k, 1, quick)
data = load_data(cells[0], device=device)
with tempfile.TemporaryDirectory() as tmp:
    run = lambda: train_batched(cells, seed=0, outs=[tmp] * k, data=data, device=device, progress=False)
    mib = bench.peak_step_mib(run, device)
print(json.dumps({"cells": k, "peak_mib": mib, "estimate_mib": k * cell_bytes(cells[0]) / 2**20}))
"""


def memory_scaling(ks, quick: bool, device: str, threads: int, keep: bool) -> list[dict]:
    rows = []
    for k in ks:
        out = subprocess.run([sys.executable, "-c", _PROBE, str(k), "1" if quick else "0", device, str(threads),
                              HERE, "1" if keep else "0"], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


def format_table(run: dict, memory: list[dict]) -> str:
    lines = [
        f"{run['cells']} cells x {run['epochs']} epochs, batches of {run['batch_cells']} cells, "
        f"{run['threads']} threads, {run['device']}",
        f"  separate train_experiment  {run['separate_s']:9.1f} s",
        f"  train_batched              {run['batched_s']:9.1f} s   speed-up {run['speedup']:.2f}x",
        f"  results equal: max |accuracy difference| {run['max_accuracy_difference']:.3g}, "
        f"max relative loss difference {run['max_relative_loss_difference']:.3g}",
    ]
    if memory:
        lines += ["", "  peak memory of one batched epoch (estimate: full batches of training.batch_size)",
                  f"  {'K':>5} {'measured MiB':>13} {'estimate MiB':>13} {'MiB / cell':>11}"]
    for row in memory:
        peak = row["peak_mib"]
        shown = f"{peak:13.1f}" if peak is not None else f"{'n/a':>13}"
        per = f"{peak / row['cells']:11.2f}" if peak is not None else f"{'n/a':>11}"
        lines.append(f"  {row['cells']:5d} {shown} {row['estimate_mib']:13.1f} {per}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-cells", type=int, default=None, help="K (default: max_batch_cells)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--memory-cells", default="1,4,16,64", help="the K of the memory measurement ('' for none)")
    ap.add_argument("--quick", action="store_true", help="4 cells, 1 epoch, tiny data, memory at K = 1, 4")
    ap.add_argument("--out", default=os.path.join(HERE, "..", "results", "sweep_batched.json"))
    ap.add_argument("--release-freed-memory", action="store_true",
                    help="leave glibc's default (unmap freed large blocks) instead of keeping them for reuse "
                         "as `fluctinit train` does (fluctinit.sim.memory)")
    args = ap.parse_args(argv)
    if args.quick:
        args.cells, args.epochs, args.memory_cells = 4, 1, "1,4"

    import torch

    if not args.release_freed_memory:
        from fluctinit.sim.memory import keep_freed_memory

        keep_freed_memory()
    from fluctinit.training import max_batch_cells

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    cells = grid_cells(args.cells, args.epochs, args.quick)
    k = args.batch_cells or min(len(cells), max_batch_cells(cells[0], device=args.device))
    run = compare(cells, k, args.device) | {"threads": torch.get_num_threads(), "device": args.device}
    ks = [int(x) for x in args.memory_cells.split(",") if x.strip()]
    memory = memory_scaling(ks, args.quick, args.device, torch.get_num_threads(), not args.release_freed_memory)
    print(format_table(run, memory), flush=True)
    atomic_write_json(args.out, {"run": run, "memory": memory, "torch": torch.__version__})
    print(f"wrote {os.path.normpath(args.out)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
