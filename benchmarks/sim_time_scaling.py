"""Forward + backward time of the reference simulator versus the number of time steps T.

The time loop iterates over ``unbind`` lists and stacks once at the end; indexing
``h[t]`` inside the loop would make the backward pass quadratic in T (each slice's
gradient materializes a full-size zero tensor).  This script times one recurrent
LIFDense layer plus readout for several T and prints seconds per step, which should
stay roughly constant.

    .venv/bin/python benchmarks/sim_time_scaling.py [--steps 100 200 400 800 --batch 32 --neurons 128]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from fluctinit.sim import LIFDense, Network, init_network_


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[100, 200, 400, 800])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--inputs", type=int, default=100)
    ap.add_argument("--neurons", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--backend", default="reference")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    net = Network([LIFDense(args.inputs, args.neurons, recurrent=True, backend=args.backend)], 10,
                  input_shape=(args.inputs,), tau_out=0.2, backend=args.backend)
    init_network_(net, 10.0, generator=g)
    rows = []
    for t in args.steps:
        x = (torch.rand(args.batch, t, args.inputs, generator=g) < 0.02).float()
        times = []
        for _ in range(args.repeats + 1):
            net.zero_grad()
            t0 = time.perf_counter()
            out = net(x)
            out.output.max(1).values.sum().backward()
            times.append(time.perf_counter() - t0)
        med = statistics.median(times[1:])
        rows.append({"steps": t, "median_s": round(med, 4), "ms_per_step": round(1e3 * med / t, 3)})
    print(json.dumps({"config": vars(args), "results": rows, "torch": torch.__version__}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
