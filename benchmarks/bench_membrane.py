"""Benchmark: free-membrane statistics over a whole SHD-sized data set on the CPU.

Generated SHD-shaped sparse data: 8156 samples x 350 steps (2 ms) x 700 inputs, Bernoulli
spikes at 15.8 Hz (the paper's SHD mean rate), 128 neurons with feed-forward weights for
sigma_u = 1.  To keep the timing about the membrane computation (not the random-number
generator) a pool of ``--pool`` samples is generated once and replayed cyclically; the dense
matrix product and the recursion cost the same whatever the spike pattern.

    .venv/bin/python benchmarks/bench_membrane.py            # full size, prints seconds
    .venv/bin/python benchmarks/bench_membrane.py --samples 512 --threads 1
    .venv/bin/python benchmarks/bench_membrane.py --events   # event-form data set, binning included

``--events`` builds an SHD-sized event-form ``SpikeDataset`` (continuous-time Poisson spikes,
about 62 million events, ~0.4 GB) and times the whole ``validate`` path as the SHD command
runs it: rates counted from the events, per-batch binning, the membrane pass.

Prints one line per phase and ``seconds=<float>`` for the membrane pass.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from fluctinit import validation as M


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=8156)
    ap.add_argument("--steps", type=int, default=350)
    ap.add_argument("--inputs", type=int, default=700)
    ap.add_argument("--neurons", type=int, default=128)
    ap.add_argument("--nu", type=float, default=15.8)
    ap.add_argument("--dt", type=float, default=2e-3)
    ap.add_argument("--pool", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--events", action="store_true", help="event-form data set, binning and rates included")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.events:
        return _events(a)
    gen = torch.Generator().manual_seed(a.seed)
    t0 = time.perf_counter()
    pool = (torch.rand((a.pool, a.steps, a.inputs), generator=gen) < a.nu * a.dt).float()
    print(f"generate pool of {a.pool} samples: {time.perf_counter() - t0:.2f} s "
          f"(density {pool.mean().item():.4f}, expected {a.nu * a.dt:.4f})")

    def batches():
        done = 0
        while done < a.samples:
            b = min(a.batch_size, a.samples - done)
            start = done % a.pool
            idx = torch.arange(start, start + b) % a.pool
            yield pool[idx] if start + b > a.pool else pool[start:start + b]
            done += b

    src = M.SpikeSource("shd-shaped", a.inputs, a.steps, a.samples, a.dt, (0, a.steps), batches)
    pop = M.draw_population("feedforward", a.neurons, a.inputs, a.nu, sigma_u=1.0, dt=a.dt,
                            generator=torch.Generator().manual_seed(a.seed + 1))
    t0 = time.perf_counter()
    meas = M.measure_membrane(src, pop)
    sec = time.perf_counter() - t0
    print(f"samples={a.samples} steps={a.steps} inputs={a.inputs} neurons={a.neurons} "
          f"threads={torch.get_num_threads()}")
    print(f"sigma_u measured: mean {np.mean(meas.sigma_u):.4f} (target 1, Bernoulli expectation "
          f"{np.sqrt(1 - a.nu * a.dt):.4f}); nu measured {np.mean(meas.rates):.3f} Hz")
    print(f"seconds={sec:.2f}")
    return 0


def _events(a) -> int:
    from fluctinit.datasets import SpikeDataset

    rng = np.random.default_rng(a.seed)
    duration = a.steps * a.dt
    t0 = time.perf_counter()
    counts = rng.poisson(a.nu * a.inputs * duration, a.samples)
    n = int(counts.sum())
    times = (rng.random(n, dtype=np.float32) * np.float32(duration * (1 - 1e-6))).astype(np.float32)
    units = rng.integers(0, a.inputs, n, dtype=np.int16)
    ds = SpikeDataset.from_flat(times, units, counts, np.zeros(a.samples, dtype=np.int64), a.inputs, duration)
    print(f"generate {n} events in {a.samples} samples: {time.perf_counter() - t0:.2f} s")
    t0 = time.perf_counter()
    src = M.dataset_source(ds, dt=a.dt, batch_size=a.batch_size, name="shd-shaped events")
    rep = M.validate(src, sigma_u=1.0, n_neurons=a.neurons, seed=a.seed)
    sec = time.perf_counter() - t0
    print(f"samples={a.samples} steps={src.n_steps} inputs={a.inputs} neurons={a.neurons} "
          f"threads={torch.get_num_threads()}")
    print(f"ratio {rep.ratio:.4f} +- {rep.ratio_sem:.4f}; nu measured {rep.nu:.3f} Hz")
    print(f"seconds={sec:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
