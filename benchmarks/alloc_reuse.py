"""What a fresh large buffer costs on this machine, and what keeping freed memory saves.

    .venv/bin/python benchmarks/alloc_reuse.py [--mib 72] [--repeats 7]

Times (median) of: allocating a ``--mib`` float32 tensor and writing it once (``fill_``), with
glibc's default (blocks above 32 MiB are mmap'ed fresh and unmapped on free, so every write
page-faults) and after :func:`fluctinit.sim.memory.keep_freed_memory` (freed blocks stay in
the heap and are reused).  Each mode runs in a fresh subprocess, since the setting is
process-wide.  72 MiB is one SHD-shaped state buffer (400 x 350 x 128 float32).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, statistics, sys, time, torch
from fluctinit.sim.memory import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
n = int(float(sys.argv[2]) * 2**20 / 4)
ts = []
for _ in range(int(sys.argv[3])):
    t = time.perf_counter()
    x = torch.empty(n)
    x.fill_(1.0)
    del x
    ts.append(time.perf_counter() - t)
print(json.dumps({"kept": kept, "s": statistics.median(ts[1:])}))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=float, default=72.0)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    out = {}
    for mode in ("default", "keep"):
        r = subprocess.run([sys.executable, "-c", CHILD, mode, str(args.mib), str(args.repeats)],
                           capture_output=True, text=True, check=True)
        out[mode] = json.loads(r.stdout)
    for mode, r in out.items():
        print(f"{mode:8s} freed memory kept: {str(r['kept']):5s}  allocate + write {args.mib:.0f} MiB: "
              f"{1e3 * r['s']:7.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
