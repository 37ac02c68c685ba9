"""Subcommand ``validate``: measured against target membrane statistics (paper figure 2, S2).

    fluctinit validate poisson|randman|shd [--sigma-u X] [--mu-u X | --xi X] [--neurons N]
        [--fan-in N --nu HZ --duration S --trials N] [--path FILE] [--seed S]
        [--tau-mem S --tau-syn S --dt S --mode discrete|continuous]
        [--init feedforward|recurrent|dale-exponential|dale-lognormal] [--alpha A]
        [--fan-in-rec N] [--n-inh N --nu-inh HZ --tau-syn-inh S] [--max-samples N]
        [--sweep X,Y,... --out FILE] [--hist FILE] [--json]

Data: ``poisson`` (independent Bernoulli spikes at --nu on --fan-in inputs, --trials trials
of --duration seconds after a discarded burn-in), ``randman`` (the paper's Randman training
set, generated from --seed), ``shd`` (the official SHD training file at --path, first
--duration seconds, default 0.7 s).  The rate used for the weights is measured from the data
unless --nu is given (for poisson, --nu is the generating rate).

Output: a short text summary, or with --json one JSON object (a report; with --sweep
``{"meta": ..., "rows": [reports]}``).  --out FILE writes the sweep table atomically (CSV
when FILE ends in .csv, JSON otherwise); --hist FILE writes the membrane-potential
histograms of the first neuron(s) of each target against the predicted Gaussian (JSON: bin
edges, density, predicted and measured mean/std; figure 2b/2e).  Bad input exits with
status 2 and one line naming the flag.
"""

from __future__ import annotations

import argparse
import json
import sys

from fluctinit.errors import Integer, check, conflict
from fluctinit.validation import CONSTRAINTS, INITIALIZERS  # no torch at import

DATA = ("poisson", "randman", "shd")
DEFAULT_SWEEP = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)

#: command-line constraints, keyed by argparse dest (errors are rewritten to the flags): the
#: library's own (fluctinit.validation.CONSTRAINTS), --neurons for n_neurons, and the seed
CLI_CONSTRAINTS = {
    "neurons": CONSTRAINTS["n_neurons"],
    "seed": Integer(0),
    **{name: CONSTRAINTS[name] for name in (
        "sigma_u", "mu_u", "xi", "fan_in", "nu", "duration", "trials", "tau_mem", "tau_syn", "dt", "mode",
        "poisson_mode", "init", "alpha", "fan_in_rec", "n_inh", "nu_inh", "tau_syn_inh", "max_samples",
        "batch_size", "hist_neurons")},
}


def _float_list(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def add_parser(sub) -> None:
    p = sub.add_parser(
        "validate",
        help="measured vs target membrane statistics (figure 2)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("data", choices=DATA, help="data set")
    p.add_argument("--sigma-u", type=float, default=1.0, help="target membrane std (threshold units; default 1)")
    p.add_argument("--mu-u", type=float, default=0.0, help="target membrane mean (default 0)")
    p.add_argument("--xi", type=float, default=None, help="(theta - mu_u)/sigma_u instead of --sigma-u")
    p.add_argument("--neurons", type=int, default=128, help="neurons per target (default 128)")
    p.add_argument("--fan-in", type=int, default=None, help="poisson: number of inputs (default 100)")
    p.add_argument("--nu", type=float, default=None,
                   help="input rate in Hz (poisson: generating rate, default 10; data: overrides the measured rate)")
    p.add_argument("--duration", type=float, default=None,
                   help="poisson: measured seconds per trial (default 1); shd: first seconds of each sample (0.7)")
    p.add_argument("--trials", type=int, default=None, help="poisson: number of trials (default 16)")
    p.add_argument("--poisson-mode", default="bernoulli",
                   help="poisson: bernoulli (0/1 per step, variance x (1 - nu dt)) or count (Poisson counts)")
    p.add_argument("--path", default=None, help="shd: the official HDF5 training file (shd_train.h5)")
    p.add_argument("--max-samples", type=int, default=None, help="data sets: use only the first N samples")
    p.add_argument("--batch-size", type=int, default=128, help="samples per mini-batch (default 128)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, generated inputs and Randman data")
    p.add_argument("--tau-mem", type=float, default=20e-3, help="membrane time constant (s; default 0.02)")
    p.add_argument("--tau-syn", type=float, default=10e-3, help="synaptic time constant (s; default 0.01)")
    p.add_argument("--dt", type=float, default=2e-3, help="time step (s; default 0.002)")
    p.add_argument("--mode", default="discrete", help="kernel integrals for the weights: discrete|continuous")
    p.add_argument("--init", default="feedforward", help="initializer: " + "|".join(INITIALIZERS))
    p.add_argument("--alpha", type=float, default=0.9, help="recurrent: feed-forward share of the variance")
    p.add_argument("--fan-in-rec", type=int, default=None,
                   help="recurrent inputs (independent Poisson at --nu; recurrent default: --neurons)")
    p.add_argument("--n-inh", type=int, default=None, help="Dale: inhibitory inputs (default fan-in // 4)")
    p.add_argument("--nu-inh", type=float, default=None, help="Dale: inhibitory rate (Hz; default the rate used)")
    p.add_argument("--tau-syn-inh", type=float, default=None,
                   help="Dale: inhibitory synaptic time constant (s; default 0.02, paper table 3)")
    p.add_argument("--sweep", type=_float_list, nargs="?", const=list(DEFAULT_SWEEP), default=None,
                   metavar="X,Y,...", help="sweep target sigma_u values (default grid 0.25..2)")
    p.add_argument("--out", default=None, help="write the sweep table here (atomic; .csv or JSON)")
    p.add_argument("--hist", default=None, help="write membrane histograms (JSON) here")
    p.add_argument("--hist-neurons", type=int, default=1, help="neurons per target with a histogram (default 1)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)


def _check_args(a) -> None:
    for name, cons in CLI_CONSTRAINTS.items():
        v = getattr(a, name)
        if v is not None:
            check(name, v, cons)
    if a.sweep is not None:
        if not a.sweep:
            raise conflict("give at least one value", sweep=a.sweep)
        for v in a.sweep:
            check("sweep", v, CONSTRAINTS["sigma_u"])
        if a.xi is not None:
            raise conflict("a sweep over sigma_u cannot also fix xi; drop --xi", sweep=a.sweep, xi=a.xi)
    if a.data != "poisson":
        for name in ("fan_in", "trials"):
            if getattr(a, name) is not None:
                raise conflict(f"--{name.replace('_', '-')} applies to poisson data only", **{name: getattr(a, name), "data": a.data})
    if a.data == "poisson" and a.max_samples is not None:
        raise conflict("poisson data: use --trials", max_samples=a.max_samples, data=a.data)
    if a.data == "randman" and (a.duration is not None or a.path is not None):
        raise conflict("randman data are generated (fixed 200 ms trials); drop --duration/--path",
                       duration=a.duration, path=a.path)
    if a.data == "poisson" and a.path is not None:
        raise conflict("poisson data are generated; drop --path", path=a.path)
    if a.data == "shd" and a.path is None:
        from fluctinit.validation import SHD_HELP

        raise FileNotFoundError(f"shd needs --path: {SHD_HELP}")


def _given(**values):
    """The flags that were typed (not None): the library's defaults hold for the others."""
    return {k: v for k, v in values.items() if v is not None}


def _source(a):
    """The data source the flags ask for, and the rate for the weights (None: measured)."""
    from fluctinit import validation as V

    if a.data == "poisson":
        nu = a.nu if a.nu is not None else 10.0
        burn = V.init_burn_in_steps(a.init, a.tau_mem, a.tau_syn, a.dt, tau_syn_inh=a.tau_syn_inh)
        src = V.poisson_source(a.fan_in if a.fan_in is not None else 100, nu, dt=a.dt, burn_steps=burn,
                               batch_size=a.batch_size, seed=a.seed, poisson_mode=a.poisson_mode,
                               **_given(duration=a.duration, trials=a.trials))
        return src, nu
    if a.data == "shd":
        src = V.shd_source(a.path, dt=a.dt, batch_size=a.batch_size, max_samples=a.max_samples,
                           **_given(duration=a.duration))
        return src, a.nu
    src = V.randman_source(dt=a.dt, seed=a.seed, batch_size=a.batch_size, max_samples=a.max_samples)
    return src, a.nu


def _fmt(r) -> str:
    lines = [
        f"{r.data}: init {r.init}, {r.n_neurons} neurons, {r.n_inputs} inputs, {r.n_samples} samples, "
        f"steps {r.window[0]}..{r.window[1] - 1} of {r.n_steps}, nu {r.nu:.3f} Hz (weights: {r.nu_used:.3f} Hz)",
        f"  sigma_u target {r.sigma_u_target:.4g}  measured {r.sigma_u_measured:.4f} (spread {r.sigma_u_spread:.4f})  "
        f"ratio {r.ratio:.4f} +- {r.ratio_sem:.4f}  theory {r.sigma_u_predicted:.4f} (spread {r.sigma_u_spread_predicted:.4f})"
        + (f"  Bernoulli expectation {r.sigma_u_expected:.4f}" if r.sigma_u_expected is not None else ""),
        f"  mu_u    target {r.mu_u_target:.4g}  measured {r.mu_u_measured:.4f} +- {r.mu_u_sem:.4f} "
        f"(spread {r.mu_u_spread:.4f})  theory {r.mu_u_predicted:.4f} (spread {r.mu_u_spread_predicted:.4f})",
    ]
    return "\n".join(lines)


def run(a) -> int:
    _check_args(a)
    from fluctinit import __version__
    from fluctinit import validation as V

    src, nu = _source(a)
    init_kwargs = _given(alpha=a.alpha, fan_in_rec=a.fan_in_rec, n_inh=a.n_inh, nu_inh=a.nu_inh,
                         tau_syn_inh=a.tau_syn_inh)
    sigmas = a.sweep if a.sweep is not None else [a.sigma_u]
    reports = V.sweep(src, sigmas, init=a.init, n_neurons=a.neurons, nu=nu, mu_u=a.mu_u, xi=a.xi,
                      tau_mem=a.tau_mem, tau_syn=a.tau_syn, mode=a.mode, seed=a.seed,
                      hist_neurons=a.hist_neurons, **init_kwargs)
    meta = dict(version=__version__, command="validate", data=a.data, seed=a.seed, init=a.init,
                argv=sys.argv[1:])
    if a.out is not None:
        V.write_table_atomic(a.out, reports, meta)
    if a.hist is not None:
        V.write_histograms_atomic(a.hist, reports, meta)
    if a.json:
        obj = reports[0].to_dict() if a.sweep is None else dict(meta=meta, rows=[r.to_dict() for r in reports])
        print(json.dumps(obj))
    else:
        print("\n".join(_fmt(r) for r in reports))
    return 0
