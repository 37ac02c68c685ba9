"""Benchmark of the fast simulation core: speed and memory against the reference loop.

    .venv/bin/python benchmarks/bench_core.py [--batches 5] [--threads N] [--device cpu|cuda]
        [--memory] [--out results/bench_core.json]

1. Runs ``fluctinit bench`` (fluctinit.training.bench) for randman, shd and shd-rec:
   seconds per training step (forward + BPTT + Adam, median over repeats, round-robin over
   the paths), sample-steps per second, peak memory of one step, the dense floor and any
   installed peers (snntorch, norse, spikingjelly; optional, never dependencies -- e.g.
   ``pip install --target /tmp/peers --no-deps snntorch norse nir nirtorch spikingjelly loguru``
   and ``PYTHONPATH=/tmp/peers``).
2. ``--memory``: peak memory of one SHD feed-forward step as batch and time grow, reference
   loop vs fused core, each point measured in a fresh subprocess so the
   allocator state of earlier runs cannot hide allocations.

Other engineers share the machine's two cores, so timings are noisy: compare medians, and
read ``cpu_s`` (process CPU time) next to wall time.  Results are written atomically as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from fluctinit._io import atomic_write_json

HERE = os.path.dirname(os.path.abspath(__file__))


_PROBE = r"""
import sys, json, torch
from fluctinit.training import bench as cb
path, batch, steps, device, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
torch.set_num_threads(threads)
torch.set_flush_denormal(True)
cb.SHAPES["probe"] = dict(cb.SHAPES["shd"], steps=steps)
prob = cb.make_problem("probe", batch=batch, device=device)
make = {"plain": cb.make_plain, "fused": cb.make_fused}[path]
step = make(prob)
mib = cb.peak_step_mib(step, device)
print(json.dumps({"peak_step_mib": mib}))
"""


def memory_scaling(device: str, threads: int) -> list[dict]:
    """Peak step memory (MiB) of plain vs fused, SHD feed-forward, over batch and time."""
    points = [(100, 350), (200, 350), (400, 350), (400, 100), (400, 200), (400, 700)]
    rows = []
    for batch, steps in points:
        row = {"batch": batch, "steps": steps}
        for path in ("plain", "fused"):
            out = subprocess.run(
                [sys.executable, "-c", _PROBE, path, str(batch), str(steps), device, str(threads)],
                capture_output=True, text=True, check=True,
            )
            row[path + "_mib"] = json.loads(out.stdout.strip().splitlines()[-1])["peak_step_mib"]
        print(f"  batch {batch:4d}  T {steps:4d}:  plain {row['plain_mib']:8.1f} MiB   fused {row['fused_mib']:8.1f} MiB",
              file=sys.stderr)
        rows.append(row)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--shapes", default="randman,shd,shd-rec")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--memory", action="store_true", help="also measure memory vs batch and time")
    ap.add_argument("--out", default=os.path.join(HERE, "..", "results", "bench_core.json"))
    ap.add_argument("--release-freed-memory", action="store_true",
                    help="leave glibc's default (unmap freed large blocks) instead of keeping them "
                         "for reuse as `fluctinit bench` does (fluctinit.sim.memory)")
    args = ap.parse_args(argv)

    import torch

    if not args.release_freed_memory:
        from fluctinit.sim.memory import keep_freed_memory

        keep_freed_memory()

    from fluctinit.training import bench as cb

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    results = {}
    for name in args.shapes.split(","):
        results[name] = cb.bench_shape(name, batches=args.batches, device=args.device, peers=not args.no_peers,
                                       log=lambda m: print(m, file=sys.stderr))
    print(cb.format_table(results))
    record = {"bench": results, "torch": torch.__version__, "threads": torch.get_num_threads()}
    if args.memory:
        record["memory_scaling"] = memory_scaling(args.device, torch.get_num_threads())
    atomic_write_json(args.out, record)
    print(f"wrote {os.path.normpath(args.out)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
