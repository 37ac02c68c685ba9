"""Effect of flushing denormal floats on the CPU simulator (fluctinit.sim.set_flush_denormal).

Scenario: input spikes only in the first steps, then silence, so the decaying states
U and I (and, in the backward pass, the gradients) pass through the denormal range
(float32: below ~1.2e-38) before they underflow to zero.  Forward + backward of one
LIFDense layer (and the forward pass alone, under no_grad) are timed with the
simulator's flushing on (the default: only while the simulator runs) and off,
interleaved to share the machine's load; the medians are printed as JSON.

    .venv/bin/python benchmarks/denormal_flush.py [--batch 32 --neurons 256 --steps 1200 --repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from fluctinit.sim import LIFDense, set_flush_denormal


def run_once(layer: LIFDense, x: torch.Tensor) -> float:
    t0 = time.perf_counter()
    out = layer(x)
    (out.membrane.sum() + out.spikes.sum()).backward()
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--neurons", type=int, default=256)
    ap.add_argument("--inputs", type=int, default=100)
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--active-steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(args.batch, args.steps, args.inputs, dtype=dtype)
    x[:, : args.active_steps] = (torch.rand(args.batch, args.active_steps, args.inputs, generator=g) < 0.2).to(dtype)
    layer = LIFDense(args.inputs, args.neurons, recurrent=True, generator=g, dtype=dtype)
    with torch.no_grad():
        layer.weight.mul_(0.5)
    # count denormal states in one forward pass
    with torch.no_grad():
        set_flush_denormal(False)
        u = layer(x).membrane
        tiny = torch.finfo(dtype).tiny
        n_denormal = int(((u != 0) & (u.abs() < tiny)).sum())
    modes = {"no_flush": False, "flush": True}
    times = {(m, kind): [] for m in modes for kind in ("fwd_bwd", "fwd")}
    supported = set_flush_denormal(True)
    run_once(layer, x)  # warm-up
    for _ in range(args.repeats):
        for m, flag in modes.items():
            set_flush_denormal(flag)
            times[(m, "fwd_bwd")].append(run_once(layer, x))
            t0 = time.perf_counter()
            with torch.no_grad():
                layer(x)
            times[(m, "fwd")].append(time.perf_counter() - t0)
    set_flush_denormal(True)
    med = {k: statistics.median(v) for k, v in times.items()}
    report = {
        "config": vars(args),
        "flush_supported": supported,
        "denormal_membrane_values_without_flush": n_denormal,
        "fwd_bwd_median_s": {m: round(med[(m, "fwd_bwd")], 4) for m in modes},
        "fwd_median_s": {m: round(med[(m, "fwd")], 4) for m in modes},
        "fwd_bwd_speedup": round(med[("no_flush", "fwd_bwd")] / med[("flush", "fwd_bwd")], 2),
        "fwd_speedup": round(med[("no_flush", "fwd")] / med[("flush", "fwd")], 2),
        "torch": torch.__version__,
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
