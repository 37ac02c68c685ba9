"""Subcommand ``validate``: measured against target membrane statistics (paper figure 2, S2).

    fluctinit validate poisson|randman|shd|fsdd [--sigma-u X] [--mu-u X | --xi X] [--neurons N]
        [--fan-in N --nu HZ --duration S --trials N] [--path FILE] [--seed S]
        [--tau-mem S --tau-syn S --dt S --mode discrete|continuous|calibrated]
        [--init feedforward|recurrent|dale-exponential|dale-lognormal] [--alpha A]
        [--fan-in-rec N] [--n-inh N --nu-inh HZ --tau-syn-inh S] [--max-samples N]
        [--sweep X,Y,... --out FILE] [--hist FILE] [--json]

Data: ``poisson`` (independent Bernoulli spikes at --nu on --fan-in inputs, --trials trials
of --duration seconds after a discarded burn-in), ``randman`` (the paper's Randman training
set, generated from --seed), ``shd`` (the official SHD training file at --path, first
--duration seconds, default 0.7 s), ``fsdd`` (the same measurement on an FSDD file at --path:
FSDD through SHD's cochlear model, not SHD, in SHD's layout, its inputs the file's channels;
reported as fsdd).  The rate used for the weights is measured from the data unless --nu is
given (for poisson, --nu is the generating rate).

Output: a short text summary, or with --json one JSON object (a report; with --sweep
``{"meta": ..., "rows": [reports]}``).  --out FILE writes the sweep table atomically (CSV
when FILE ends in .csv, JSON otherwise); --hist FILE writes the membrane-potential
histograms of the first neuron(s) of each target against the predicted Gaussian (JSON: bin
edges, density, predicted and measured mean/std; figure 2b/2e).

Ranges: --neurons >= 2 (a standard error across neurons); --dt at most half the shortest
time constant; the measured window (--duration, or the data's trials) at least 10 steps;
--sigma-u and |--mu-u| at most 1e12 and weight scales within 1e-15 .. 1e15 (the simulation
runs in float32); memory and run time estimated before anything is allocated.  A flag that
does not apply to the data or the initializer chosen is refused ("`--x` does not apply to
..."), as are output paths that cannot be written.  Bad input exits with status 2 and one
line naming the flag, before any work.
"""

from __future__ import annotations

import argparse
import json
import sys

from fluctinit.errors import Integer, ParameterError, check, conflict
from fluctinit.validation import CONSTRAINTS, INITIALIZERS, SPIKE_FILE_DATA  # no torch at import

#: the data sets; those read from a file at --path (SPIKE_FILE_DATA: shd, fsdd) share one source
DATA = ("poisson", "randman", *SPIKE_FILE_DATA)
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
#: narrower ranges of the command line, checked after CLI_CONSTRAINTS: a standard error across
#: neurons needs two of them; torch generators take seeds below 2**64
CLI_LIMITS = {
    "neurons": Integer(2),
    "seed": Integer(0, 2**63 - 1),
}
#: the measured window (and a data set's trial) holds at least this many steps
MIN_WINDOW_STEPS = 10
#: fewer expected input spikes per input over a Poisson run make the measured moments noise (a warning)
MIN_INPUT_SPIKES = 10.0

#: library defaults of the flags that default to None (None means: not typed)
_DEFAULTS = {"sigma_u": 1.0, "fan_in": 100, "nu": 10.0, "trials": 16, "alpha": 0.9, "poisson_mode": "bernoulli",
             "hist_neurons": 1}
_DURATION = {"poisson": 1.0, **{name: 0.7 for name in SPIKE_FILE_DATA}}
#: flags of the initializers (argparse dests) and the initializers they apply to
_INIT_FLAGS = {
    "alpha": ("recurrent", "dale-exponential", "dale-lognormal"),  # dale: with --fan-in-rec only
    "fan_in_rec": ("recurrent", "dale-exponential", "dale-lognormal"),
    "n_inh": ("dale-exponential", "dale-lognormal"),
    "nu_inh": ("dale-exponential", "dale-lognormal"),
    "tau_syn_inh": ("dale-exponential", "dale-lognormal"),
}
#: flags of the data (argparse dests): the data sets they apply to, and why not to the others
_DATA_FLAGS = {
    "fan_in": (("poisson",), "--fan-in applies to poisson data only"),
    "trials": (("poisson",), "--trials applies to poisson data only"),
    "poisson_mode": (("poisson",), "--poisson-mode applies to poisson data only"),
    "max_samples": (("randman", *SPIKE_FILE_DATA), "use --trials"),
    "path": (SPIKE_FILE_DATA, "{data} data are generated"),
    "strict": (SPIKE_FILE_DATA, "{data} data are generated"),
    "duration": (("poisson", *SPIKE_FILE_DATA), "randman data are generated, fixed 200 ms trials"),
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
    add_measurement_options(p)
    p.add_argument("--sweep", type=_float_list, nargs="?", const=list(DEFAULT_SWEEP), default=None,
                   metavar="X,Y,...", help="sweep target sigma_u values (default grid 0.25..2)")
    p.add_argument("--out", default=None, help="write the sweep table here (a file path; atomic; .csv or JSON)")
    p.add_argument("--hist", default=None, help="write membrane histograms (JSON) here (a file path)")
    p.add_argument("--hist-neurons", type=int, default=None,
                   help="with --hist: neurons per target with a histogram, 1 <= N <= --neurons (default 1)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)


def add_measurement_options(p) -> None:
    """The options of one measurement (data, target, neurons, kernel, initializer): ``validate``'s
    and ``sweep validate``'s (which sweeps them with --grid instead of --sweep)."""
    p.add_argument("data", choices=DATA, help="data set")
    p.add_argument("--sigma-u", type=float, default=None,
                   help="target membrane std, 0 < X <= 1e12 (threshold units; default 1; not with --xi or --sweep)")
    p.add_argument("--mu-u", type=float, default=0.0, help="target membrane mean, |X| <= 1e12, below theta (default 0)")
    p.add_argument("--xi", type=float, default=None, help="(theta - mu_u)/sigma_u > 0 instead of --sigma-u")
    p.add_argument("--neurons", type=int, default=128, help="neurons per target, >= 2 (default 128)")
    p.add_argument("--fan-in", type=int, default=None, help="poisson: number of inputs, >= 1 (default 100)")
    p.add_argument("--nu", type=float, default=None,
                   help="input rate in Hz, > 0 (poisson: generating rate, default 10, nu*dt <= 1 for bernoulli; "
                        "data: overrides the measured rate)")
    p.add_argument("--duration", type=float, default=None,
                   help=f"poisson: measured seconds per trial (default 1); shd, fsdd: first seconds of each sample "
                        f"(0.7); at least {MIN_WINDOW_STEPS} steps of --dt")
    p.add_argument("--trials", type=int, default=None, help="poisson: number of trials, >= 1 (default 16)")
    p.add_argument("--poisson-mode", default=None,
                   help="poisson: bernoulli (0/1 per step, variance x (1 - nu dt); default) or count (Poisson counts)")
    p.add_argument("--path", default=None, help="shd: the official HDF5 training file (shd_train.h5); "
                   "fsdd: a converted FSDD file (fsdd_train.h5)")
    p.add_argument("--strict", action="store_true", default=None,
                   help="shd, fsdd: reject a file with non-finite spike times (default: drop those events, warn once)")
    p.add_argument("--max-samples", type=int, default=None, help="data sets: use only the first N >= 1 samples")
    p.add_argument("--batch-size", type=int, default=128, help="samples per mini-batch, >= 1 (default 128)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, generated inputs and Randman data, "
                   "0 <= S < 2**63")
    p.add_argument("--tau-mem", type=float, default=20e-3, help="membrane time constant (s, > 0; default 0.02)")
    p.add_argument("--tau-syn", type=float, default=10e-3, help="synaptic time constant (s, > 0; default 0.01)")
    p.add_argument("--dt", type=float, default=2e-3,
                   help="time step (s; default 0.002), at most half the shortest time constant")
    p.add_argument("--mode", default="discrete",
                   help="kernel integrals for the weights: discrete|continuous (the paper's formulas) or calibrated "
                        "(the data's own pooled input statistics, one extra pass; --init feedforward or recurrent)")
    p.add_argument("--init", default="feedforward", help="initializer: " + "|".join(INITIALIZERS))
    p.add_argument("--alpha", type=float, default=None,
                   help="recurrent: feed-forward share of the variance, 0 < A < 1 (default 0.9)")
    p.add_argument("--fan-in-rec", type=int, default=None,
                   help="recurrent and dale: recurrent inputs, >= 1 (independent Poisson at --nu; recurrent default: "
                        "--neurons; dale: adds excitatory recurrence)")
    p.add_argument("--n-inh", type=int, default=None, help="dale: inhibitory inputs, >= 1 (default fan-in // 4)")
    p.add_argument("--nu-inh", type=float, default=None, help="dale: inhibitory rate (Hz, > 0; default the rate used)")
    p.add_argument("--tau-syn-inh", type=float, default=None,
                   help="dale: inhibitory synaptic time constant (s, > 0; default 0.02, paper table 3)")


def _value(a, name: str):
    """A flag's value, or its default where it was not typed."""
    v = getattr(a, name)
    if v is None and name == "duration":
        return _DURATION.get(a.data)
    return _DEFAULTS.get(name) if v is None else v


def _forbid(a, what: str, *names: str) -> None:
    from fluctinit.cli import reject_inapplicable

    reject_inapplicable(a, what, names)


def _check_ranges(a) -> None:
    for table in (CLI_CONSTRAINTS, CLI_LIMITS):
        for name, cons in table.items():
            v = getattr(a, name)
            if v is not None:
                check(name, v, cons)
    if a.sweep is not None:
        if not a.sweep:
            raise conflict("give at least one value", sweep=a.sweep)
        for v in a.sweep:
            check("sweep", v, CONSTRAINTS["sigma_u"])


def _check_applicable(a) -> None:
    """The one rule: a flag given where it has no effect is refused ("`--x` does not apply to ...")."""
    for name, (data, why) in _DATA_FLAGS.items():
        if a.data not in data:
            _forbid(a, f"{a.data} data ({why.format(data=a.data)})", name)
    for name, inits in _INIT_FLAGS.items():
        if a.init not in inits:
            _forbid(a, f"--init {a.init}", name)
    if a.init.startswith("dale") and a.fan_in_rec is None:
        _forbid(a, f"--init {a.init} without --fan-in-rec", "alpha")
    if a.sweep is not None:
        _forbid(a, "--sweep (a sweep over sigma_u cannot also fix xi; drop --xi)", "xi")
        _forbid(a, "--sweep (it sets the targets sigma_u)", "sigma_u")
    if a.xi is not None:
        _forbid(a, "a target given by --xi (give --sigma-u or --xi)", "sigma_u")
    if a.hist is None:
        _forbid(a, "a run without --hist", "hist_neurons")


def _check_relations(a) -> None:
    from fluctinit.cli.theory import check_time_step
    from fluctinit.theory import DEFAULT_TAU_SYN_INH

    taus = dict(tau_mem=a.tau_mem, tau_syn=a.tau_syn)
    if a.init.startswith("dale"):
        taus["tau_syn_inh"] = a.tau_syn_inh if a.tau_syn_inh is not None else DEFAULT_TAU_SYN_INH
    check_time_step(a.dt, **taus)
    from fluctinit.validation import check_target  # the target's own rules, before any data are read

    check_target(a.init, sigma_u=None if a.xi is not None else _value(a, "sigma_u"), mu_u=a.mu_u, xi=a.xi)
    # generated inputs (recurrent, inhibitory) are Bernoulli spikes: at most one per step
    generated = {"nu_inh": a.nu_inh} if a.init.startswith("dale") else {}
    if a.init == "recurrent" or a.fan_in_rec is not None or (a.init.startswith("dale") and a.nu_inh is None):
        generated["nu"] = a.nu if a.nu is not None or a.data != "poisson" else _value(a, "nu")
    for name, rate in generated.items():
        if rate is not None and rate * a.dt > 1.0:
            raise conflict("generated (recurrent, inhibitory) inputs are Bernoulli spikes and need a rate with "
                           "nu*dt <= 1; lower the rate or the time step", **{name: rate, "dt": a.dt})
    duration = _value(a, "duration")
    if duration is not None and duration < MIN_WINDOW_STEPS * a.dt * (1 - 1e-9):
        raise conflict(f"the measured window must hold at least {MIN_WINDOW_STEPS} time steps (duration >= "
                       f"{MIN_WINDOW_STEPS * a.dt:.6g} s); raise --duration or lower --dt", duration=duration, dt=a.dt)
    if a.hist is not None:
        hist_neurons = _value(a, "hist_neurons")
        if not 1 <= hist_neurons <= a.neurons:
            raise conflict("with --hist, between 1 and --neurons neurons per target get a histogram",
                           hist_neurons=hist_neurons, neurons=a.neurons)


def _check_outputs(a) -> None:
    import os

    from fluctinit._io import check_output_path

    for name in ("out", "hist"):
        if getattr(a, name) is not None:
            check_output_path(name, getattr(a, name), kind="file")
    if a.out is not None and a.hist is not None and os.path.abspath(a.out) == os.path.abspath(a.hist):
        raise conflict("name two different files (the table and the histograms)", out=a.out, hist=a.hist)


def _check_args(a) -> None:
    """Every flag, before any work: ranges, the flags that apply, relations, output paths."""
    _check_ranges(a)
    _check_applicable(a)
    _check_relations(a)
    _check_outputs(a)
    if a.data in SPIKE_FILE_DATA and a.path is None:
        from fluctinit.validation import SPIKE_FILES

        raise FileNotFoundError(f"{a.data} needs --path: {SPIKE_FILES[a.data].help}")


def _given(**values):
    """The flags that were typed (not None): the library's defaults hold for the others."""
    return {k: v for k, v in values.items() if v is not None}


def _burn_steps(a) -> int:
    from fluctinit import validation as V

    return V.init_burn_in_steps(a.init, a.tau_mem, a.tau_syn, a.dt, tau_syn_inh=a.tau_syn_inh)
def _steps(duration: float, dt: float) -> float:
    """Steps of ``duration`` at ``dt`` as the data sets count them (``n_steps_for``), or inf where
    the count is beyond any memory (so that the estimate refuses it, never an OverflowError)."""
    from fluctinit.datasets import n_steps_for

    return n_steps_for(duration, dt) if duration / dt < 1e15 else float("inf")


def _sizes(a, burn: int) -> dict:
    """The sizes of the run the flags ask for, known before any data are made or read:
    inputs, steps per sample, samples (None for a file: the file says), mini-batch."""
    from fluctinit.datasets import SHD_N_UNITS, RandmanConfig, spike_file_units

    if a.data == "poisson":
        ratio = _value(a, "duration") / a.dt  # poisson_source's window: round(duration/dt) steps
        n_win = max(1, int(round(ratio))) if ratio < 1e15 else float("inf")
        trials = _value(a, "trials")
        return dict(n_inputs=_value(a, "fan_in"), n_steps=burn + n_win, n_samples=trials,
                    batch=min(a.batch_size, trials))
    if a.data in SPIKE_FILE_DATA:
        n_inputs = spike_file_units(a.path) if a.data == "fsdd" else SHD_N_UNITS  # as shd_source reads it
        return dict(n_inputs=n_inputs, n_steps=_steps(_value(a, "duration"), a.dt), n_samples=None,
                    batch=a.batch_size)
    cfg = RandmanConfig()
    n_samples = cfg.n_train * cfg.n_classes if a.max_samples is None else min(a.max_samples, cfg.n_train * cfg.n_classes)
    return dict(n_inputs=cfg.n_units, n_steps=_steps(cfg.spike_window + cfg.silence, a.dt), n_samples=n_samples,
                batch=min(a.batch_size, n_samples))


def _check_resources(a, sizes: dict, burn: int) -> None:
    """Memory and run time of the run, before anything is allocated; names the flags that set them."""
    from fluctinit import validation as V

    extra = V.generated_inputs(a.init, sizes["n_inputs"], a.neurons, fan_in_rec=a.fan_in_rec, n_inh=a.n_inh)
    n_targets = len(a.sweep) if a.sweep is not None else 1
    need = V.sweep_bytes(n_neurons=a.neurons, n_targets=n_targets, n_inputs=sizes["n_inputs"],
                         n_steps=sizes["n_steps"], batch_size=sizes["batch"], n_generated=sum(extra.values()),
                         n_kernel=V.kernel_steps(max(a.tau_mem, a.tau_syn, a.tau_syn_inh or 0), a.dt) if burn else 0)
    updates = 0 if sizes["n_samples"] is None else sizes["n_samples"] * sizes["n_steps"] * a.neurons * n_targets
    flags = dict(neurons=a.neurons, sweep=a.sweep, fan_in=a.fan_in, duration=a.duration, trials=a.trials,
                 max_samples=a.max_samples, batch_size=a.batch_size, dt=a.dt, fan_in_rec=a.fan_in_rec, n_inh=a.n_inh)
    V.check_resources(need, updates=updates, **{k: v for k, v in flags.items() if v is not None})


def _source(a, burn: int, warnings: list):
    """The data source the flags ask for, and the rate for the weights (None: measured)."""
    from fluctinit import validation as V

    if a.data == "poisson":
        nu = _value(a, "nu")
        src = V.poisson_source(_value(a, "fan_in"), nu, dt=a.dt, burn_steps=burn, batch_size=a.batch_size, seed=a.seed,
                               poisson_mode=_value(a, "poisson_mode"), **_given(duration=a.duration, trials=a.trials))
        spikes = nu * (src.window[1] - src.window[0]) * a.dt * src.n_samples
        if spikes < MIN_INPUT_SPIKES:
            warnings.append(f"each input is expected to spike {spikes:.3g} times in all measured windows together; "
                            "the measured moments are noise (raise --nu, --duration or --trials)")
        return src, nu
    if a.data in SPIKE_FILE_DATA:
        try:
            src = V.shd_source(a.path, dt=a.dt, batch_size=a.batch_size, max_samples=a.max_samples, strict=bool(a.strict),
                               dataset=a.data, **_given(duration=a.duration))
        except (FileNotFoundError, ValueError) as err:
            if isinstance(err, ParameterError):
                raise
            raise ParameterError(f"`path` must be {V.SPIKE_FILES[a.data].what}; got {a.path!r}: {err}",
                                 ["path"], [a.path]) from None
    else:
        src = V.randman_source(dt=a.dt, seed=a.seed, batch_size=a.batch_size, max_samples=a.max_samples)
    if a.max_samples is not None and a.max_samples > src.n_samples:
        warnings.append(f"--max-samples {a.max_samples} is more than the {src.n_samples} samples of the {a.data} data; "
                        "all are used")
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


def check_measurement(a) -> int:
    """Every flag of one measurement, before any work: ranges, the flags that apply, relations,
    output paths, memory and run time.  Returns the burn-in steps."""
    _check_args(a)
    burn = _burn_steps(a) if a.data == "poisson" else 0
    _check_resources(a, _sizes(a, burn), burn)
    return burn


def measure(a, burn: int) -> tuple[list, list[str]]:
    """The measurement the (checked) flags ask for: the reports (one per target) and the
    warnings about legal but meaningless values."""
    from fluctinit import validation as V

    warnings: list[str] = []
    src, nu = _source(a, burn, warnings)
    init_kwargs = _given(alpha=a.alpha, fan_in_rec=a.fan_in_rec, n_inh=a.n_inh, nu_inh=a.nu_inh,
                         tau_syn_inh=a.tau_syn_inh)
    sigmas = a.sweep if a.sweep is not None else [_value(a, "sigma_u")]
    reports = V.sweep(src, sigmas, init=a.init, n_neurons=a.neurons, nu=nu, mu_u=a.mu_u, xi=a.xi,
                      tau_mem=a.tau_mem, tau_syn=a.tau_syn, mode=a.mode, seed=a.seed,
                      hist_neurons=_value(a, "hist_neurons") if a.hist is not None else 0, **init_kwargs)
    return reports, warnings


def run(a) -> int:
    from fluctinit import __version__
    from fluctinit import validation as V

    burn = check_measurement(a)
    reports, warnings = measure(a, burn)  # warnings: said after the run, so bad input stays one line
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
    for message in warnings:
        print(f"fluctinit validate: warning: {message}", file=sys.stderr)
    return 0
