"""Measured/target membrane std in each framework's own simulator: fluctinit's rule against the paper's kernel unchanged.

    .venv/bin/python benchmarks/interop_ratios.py [--dt 1e-3,2e-3] [--nu 20] [--replicates 12] [--json] [--out FILE]

For every neuron type of fluctinit.interop._check.CASES (snntorch, norse, spikingjelly) and the
round trip snntorch -> NIR -> ``fluctinit init-nir`` -> snntorch: a layer of 256 neurons fed by
100 Poisson inputs at ``--nu`` (recurrent types also by 256 Poisson trains as their previous
spikes), run by the framework with the membrane free, ``--replicates`` independent networks
of 16 trials x 300 steps after the burn-in.  Each row gives sqrt(<sigma_i^2>)/sigma_target with
its standard error (the spread of the replicates), for the weights of ``fluctinit.interop``
(``rule=fluctinit``) and for the weights of the paper's kernel at the framework's nominal time
constants (``rule=paper``: what porting the paper's formulas unchanged gives), and the
expectation of a Bernoulli input, sqrt(1 - nu dt) (for the NIR round trip times
sqrt(epsilon_hat of snntorch's update / NIR's), the O(dt/tau) difference of the two semantics).

tau_mem 20 ms, tau_syn 10 ms; sigma_u = 1 threshold distance.  About 30 s per step size on 2 idle cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

import torch

from fluctinit import provenance
from fluctinit._io import atomic_write_json
from fluctinit.interop import _check


def rows(dts, nu: float, replicates: int, seed: int) -> list[dict]:
    out = []
    for dt in dts:
        for fw, kind, rec in _check.CASES:
            m = {rule: _check.measure(fw, kind, dt=dt, nu=nu, rule=rule, replicates=replicates, seed=seed)
                 for rule in ("fluctinit", "paper")}
            out.append(dict(framework=fw, neuron=kind, recurrent=rec, dt=dt, nu=nu, expected=m["fluctinit"].expected,
                            **{f"{r}_ratio": m[r].ratio for r in m}, **{f"{r}_se": m[r].ratio_se for r in m}))
        with tempfile.TemporaryDirectory() as folder:
            m = {rule: _check.measure_built(_check.nir_roundtrip(folder, n_in=100, n=256, dt=dt, nu=nu, rule=rule),
                                            framework="nir", neuron="CubaLIF (snntorch round trip)", rule=rule, dt=dt,
                                            nu=nu, sigma_u=1.0, mu_u=0.0, replicates=replicates, batch=16,
                                            n_steps=300, seed=seed)
                 for rule in ("fluctinit", "paper")}
        out.append(dict(framework="nir", neuron="CubaLIF (snntorch round trip)", recurrent=False, dt=dt, nu=nu,
                        expected=_check.nir_roundtrip_expected(dt, nu),
                        **{f"{r}_ratio": m[r].ratio for r in m}, **{f"{r}_se": m[r].ratio_se for r in m}))
    return out


def table(results: list[dict]) -> str:
    lines = ["| framework | neuron | dt | fluctinit rule | expected | paper's kernel unchanged |",
             "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['framework']} | {r['neuron']} | {r['dt'] * 1e3:g} ms | {r['fluctinit_ratio']:.3f} +- "
                     f"{r['fluctinit_se']:.3f} | {r['expected']:.3f} | {r['paper_ratio']:.3f} +- {r['paper_se']:.3f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dt", default="1e-3,2e-3", help="comma-separated steps (s)")
    ap.add_argument("--nu", type=float, default=20.0, help="input rate (Hz)")
    ap.add_argument("--replicates", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (small tensors: 1 is fastest)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    ap.add_argument("--out", default=None, help="also write the results as JSON here (atomically)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    results = rows([float(x) for x in args.dt.split(",")], args.nu, args.replicates, args.seed)
    doc = dict(results=results, seconds=time.perf_counter() - t0, code=provenance.code_version(),
               config=dict(dt=args.dt, nu=args.nu, replicates=args.replicates, seed=args.seed, n_in=100, n=256,
                           batch=16, n_steps=300, tau_mem=_check.TAU_MEM, tau_syn=_check.TAU_SYN))
    if args.out:
        atomic_write_json(args.out, doc)
    print(json.dumps(doc, indent=1) if args.json else table(results) + f"\n\n{doc['seconds']:.0f} s, {doc['code']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
