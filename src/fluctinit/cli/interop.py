"""Subcommand ``init-nir``: fluctuation-driven weights for a NIR graph.

    fluctinit init-nir IN.nir OUT.nir --nu HZ --dt S [--sigma-u X] [--mu-u X] [--spike-area A] [--json]

The library is :func:`fluctinit.interop.nir.init_` (its docstring has NIR's semantics and the
exporters' conventions); rates and the step are the graph's time base.
"""

from __future__ import annotations

import json

from .theory import _float, _renamed


def _rates(text: str) -> float | list[float]:
    """One rate, or a comma-separated list with one per layer."""
    import argparse

    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or a comma-separated list of numbers, got {text!r}") from None
    return values[0] if len(values) == 1 else values


def add_parser(sub) -> None:
    p = sub.add_parser("init-nir", help="fluctuation-driven weights for a NIR graph (CubaLIF and LIF layers)",
                       description="Write OUT.nir: IN.nir with every Affine, Linear and Conv weight that feeds a "
                                   "CubaLIF or LIF node drawn by the fluctuation-driven rule for NIR's continuous "
                                   "neurons.  Rates and the step are not in a graph: give them in the graph's own "
                                   "time base (snntorch's exporter writes dt = 1e-4 s: --dt 1e-4 and --nu as spikes "
                                   "per step / 1e-4).")
    p.add_argument("input", metavar="IN.nir", help="the NIR graph to read")
    p.add_argument("output", metavar="OUT.nir", help="where to write the new graph (replaced atomically)")
    p.add_argument("--nu", type=_rates, required=True, metavar="HZ",
                   help="input rate (Hz), or one per neuron layer in node order, comma-separated")
    p.add_argument("--dt", type=_float, required=True, metavar="S",
                   help="the step the graph was exported with (s); the default spike area")
    p.add_argument("--sigma-u", type=_float, default=1.0, metavar="X",
                   help="target membrane std in units of v_threshold - v_leak, > 0 (default 1)")
    p.add_argument("--mu-u", type=_float, default=0.0, metavar="X",
                   help="target membrane mean in units of v_threshold - v_leak, < 1 (default 0)")
    p.add_argument("--spike-area", type=_float, default=None, metavar="A",
                   help="area of one input spike (s), > 0; default --dt (a pulse of one step)")
    p.add_argument("--alpha", type=_float, default=0.9, metavar="A",
                   help="feed-forward share of a recurrent layer's variance, 0 < A < 1 (default 0.9)")
    p.add_argument("--skip", action="append", default=[], metavar="KEY",
                   help="a weight node to leave as it is (a readout); repeat for more")
    p.add_argument("--keep-bias", action="store_true", help="leave biases as they are (default: zeroed)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights (default 0)")
    p.add_argument("--json", action="store_true", help="print the per-layer report as JSON")
    p.set_defaults(run=run)


def _read(path: str):
    import os

    import nir

    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    try:
        return nir.read(path)
    except Exception as err:  # h5py and nir raise many kinds on a file that is not a NIR graph
        raise ValueError(f"{path!r} is not a readable NIR graph ({type(err).__name__}: {err})") from None


def run(args) -> int:
    from fluctinit.errors import Integer, ParameterError, check

    check("seed", args.seed, Integer(0, 2**63 - 1))
    try:
        import nir
        import torch

        from fluctinit.interop import nir as fi_nir
    except ImportError as err:
        raise ValueError(f"init-nir needs the nir package (pip install fluctinit[interop]): {err}") from None
    from fluctinit._io import atomic_path

    graph = _read(args.input)
    try:
        new, reports = fi_nir.init_(graph, nu=args.nu, dt=args.dt, sigma_u=args.sigma_u, mu_u=args.mu_u,
                                    spike_area=args.spike_area, alpha=args.alpha, keep_bias=args.keep_bias,
                                    skip=args.skip, generator=torch.Generator().manual_seed(args.seed),
                                    return_report=True)
    except ParameterError as err:
        raise _renamed(err, "graph", "IN.nir") from None
    with atomic_path(args.output) as tmp:
        nir.write(str(tmp), new)
    if args.json:
        print(json.dumps({"output": args.output, "layers": [r.as_dict() for r in reports]}, indent=1))
        return 0
    for r in reports:
        rec = f", recurrent {r.recurrent} sigma_v {_short(r.sigma_v)}" if r.recurrent else ""
        print(f"{r.name} -> {r.neuron} ({r.neuron_type}): fan_in {r.fan_in}, nu {r.nu:g} Hz, tau_mem "
              f"{_short(r.tau_mem)} s, tau_syn {_short(r.tau_syn)} s, mu_w {_short(r.mu_w)}, "
              f"sigma_w {_short(r.sigma_w)}{rec}")
    print(f"wrote {args.output} ({len(reports)} layers initialized)")
    return 0


def _short(x) -> str:
    if isinstance(x, tuple):
        return f"{min(x):.4g}..{max(x):.4g}"
    return f"{x:.4g}"
