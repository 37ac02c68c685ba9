"""Subcommands ``kernel``, ``params`` and ``demo``: the theory from the command line.

Only fluctinit.theory is imported here (no torch), so these commands start fast.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

ARCHS = ("feedforward", "recurrent", "dale", "kaiming")


def _number(kind, noun: str):
    """An argparse ``type`` converting with ``kind`` (float, int) whose error names the flag once."""

    def convert(text: str):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None

    convert.__name__ = kind.__name__
    return convert


_float = _number(float, "a number")
_int = _number(int, "an integer")


#: the longest time step the commands accept, as a fraction of the shortest time constant:
#: a coarser grid no longer resolves the PSP kernel (the paper: dt 2 ms against tau_syn 10 ms)
MAX_DT_PER_TAU = 0.5


def add_kernel_options(p: argparse.ArgumentParser) -> None:
    """--tau-mem, --tau-syn, --dt, --mode (shared with other subcommands); None when not typed."""
    g = p.add_argument_group("kernel (SI units)")
    g.add_argument("--tau-mem", type=_float, metavar="S", help="membrane time constant (s), > 0; default 0.02")
    g.add_argument("--tau-syn", type=_float, metavar="S", help="synaptic time constant (s), > 0; default 0.01")
    g.add_argument("--dt", type=_float, metavar="S",
                   help=f"time step (s), 0 < S <= {MAX_DT_PER_TAU:g} x the shortest time constant; default 0.002; "
                        "discrete mode only")
    g.add_argument(
        "--mode", choices=("discrete", "continuous"),
        help="kernel integrals of the exact discrete update (default, as the paper's simulations) or continuous time",
    )


def _renamed(err, old: str, new: str):
    """``err`` (a ParameterError) naming ``new`` where it named ``old``."""
    from fluctinit.errors import ParameterError

    return ParameterError(str(err).replace(f"`{old}`", f"`{new}`"), [new if n == old else n for n in err.names],
                          err.values)


def check_time_step(dt: float, **taus: float) -> None:
    """The one rule for the step of every command that simulates or discretizes: each time
    constant in ``taus`` (keyword = its option) and ``dt`` in range, and
    ``dt <= MAX_DT_PER_TAU * min(taus)``.

    Raises:
        ParameterError: naming ``dt`` and every time constant, with their values.
    """
    from fluctinit.errors import check, conflict
    from fluctinit.theory import kernels

    for name, tau in taus.items():
        check(name, tau, kernels.CONSTRAINTS["tau_syn"])
    check("dt", dt, kernels.CONSTRAINTS["dt"])
    limit = MAX_DT_PER_TAU * min(taus.values())
    if dt > limit:
        raise conflict(
            f"the time step must be at most {MAX_DT_PER_TAU:g} x the shortest time constant (dt <= {limit:.6g} s) "
            "to resolve the PSP kernel; lower --dt or raise the time constants", dt=dt, **taus)


def _value(args, name: str):
    """A flag's value, or its default where it was not typed."""
    value = getattr(args, name, None)
    return _DEFAULTS[name] if value is None else value


def kernel_from_args(args, tau_syn: float | None = None, tau_syn_name: str = "tau_syn"):
    """The kernel integrals of the flags; ``tau_syn`` (the option ``tau_syn_name``) replaces --tau-syn."""
    from fluctinit.errors import ParameterError
    from fluctinit.theory import kernel_integrals

    tau_syn = _value(args, "tau_syn") if tau_syn is None else tau_syn
    mode = _value(args, "mode")
    if mode == "continuous":
        _forbid(args, "--mode continuous (no time step)", "dt")
    else:
        check_time_step(_value(args, "dt"), tau_mem=_value(args, "tau_mem"), **{tau_syn_name: tau_syn})
    try:
        return kernel_integrals(_value(args, "tau_mem"), tau_syn, _value(args, "dt"), mode)
    except ParameterError as err:
        raise _renamed(err, "tau_syn", tau_syn_name) from None


def _command(sub, name: str, run, *, help: str, description: str, options=None,
             json_help: str = "print one JSON object") -> argparse.ArgumentParser:
    """One subcommand: its parser, the flags ``options(parser)`` adds, ``--json`` last, and ``run``."""
    p = sub.add_parser(name, help=help, description=description)
    if options is not None:
        options(p)
    p.add_argument("--json", action="store_true", help=json_help)
    p.set_defaults(run=run)
    return p


# `params` flags as data, in --help order: (group, flag, type, metavar, help); every flag
# defaults to None, so the architecture checks see what was typed (defaults: _DEFAULTS).
_DALE = "dale (Dale's law)"
_PARAMS_FLAGS = (
    (None, "--fan-in", _int, "N", "feed-forward afferents n >= 1 (feedforward, recurrent, kaiming)"),
    (None, "--fan-in-rec", _int, "N", "recurrent afferents n_R >= 1 (recurrent)"),
    (None, "--alpha", _float, "A", "feed-forward share of the variance, 0 < A < 1 (recurrent; dale with --n-exc-rec); "
     "default 0.9"),
    (None, "--nu", _float, "HZ", "input rate (Hz), > 0 (feedforward, recurrent; dale: default of --nu-exc)"),
    (None, "--nu-rec", _float, "HZ", "rate of the recurrent afferents (Hz), > 0 (recurrent); default --nu"),
    (None, "--sigma-u", _float, "X", "target membrane std (threshold units), > 0; default 1 (not kaiming)"),
    (None, "--xi", _float, "X", "alternative target: (theta - mu_u)/sigma_u, > 0 (not kaiming)"),
    (None, "--mu-u", _float, "X", "target membrane mean, < theta; default 0 (dale: must be 0; not kaiming)"),
    (None, "--theta", _float, "X", "firing threshold; default 1 (not kaiming)"),
    (None, "--gain", _float, "G", "Kaiming gain, > 0; default sqrt(2) (kaiming)"),
    (_DALE, "--n-exc", _int, "N", "excitatory (feed-forward) afferents >= 1"),
    (_DALE, "--n-inh", _int, "N", "inhibitory afferents >= 1"),
    (_DALE, "--n-exc-rec", _int, "N", "recurrent excitatory afferents >= 1 (enables excitatory recurrence)"),
    (_DALE, "--tau-syn-exc", _float, "S", "excitatory synaptic time constant (s), > 0; default 0.01 (table 3); "
     "dale uses these two in place of --tau-syn"),
    (_DALE, "--tau-syn-inh", _float, "S", "inhibitory synaptic time constant (s), > 0; default 0.02 (table 3)"),
    (_DALE, "--nu-exc", _float, "HZ", "excitatory input rate (Hz), > 0; default --nu"),
    (_DALE, "--nu-inh", _float, "HZ", "inhibitory input rate (Hz), > 0; default --nu-exc"),
)

#: the values of flags not typed
_DEFAULTS = {
    "mu_u": 0.0, "theta": 1.0, "gain": math.sqrt(2.0), "alpha": 0.9, "dist": "exponential", "sigma_log": 1.0,
    "tau_mem": 20e-3, "tau_syn": 10e-3, "dt": 2e-3, "mode": "discrete",
}

# which flags (argparse dests) each architecture reads, and which it needs; any other flag
# typed is rejected by the one rule "`--x` does not apply to ARCH" (cli.reject_inapplicable)
_KERNEL = ("tau_mem", "tau_syn", "dt", "mode")
_TARGET = ("sigma_u", "xi", "mu_u", "theta")
APPLIES = {
    "kaiming": ("fan_in", "gain"),
    "feedforward": ("fan_in", "nu", *_TARGET, *_KERNEL),
    "recurrent": ("fan_in", "fan_in_rec", "nu", "nu_rec", "alpha", *_TARGET, *_KERNEL),
    "dale": ("n_exc", "n_inh", "n_exc_rec", "alpha", "nu", "nu_exc", "nu_inh", *_TARGET, "tau_mem", "tau_syn_exc",
             "tau_syn_inh", "dt", "mode", "dist", "sigma_log"),
}
REQUIRED = {"kaiming": ("fan_in",), "feedforward": ("fan_in", "nu"), "recurrent": ("fan_in", "fan_in_rec", "nu"),
            "dale": ("n_exc", "n_inh")}
#: every flag of `params` but ARCH and --json
PARAMS_OPTIONS = tuple(dict.fromkeys(
    [f[1][2:].replace("-", "_") for f in _PARAMS_FLAGS] + ["dist", "sigma_log", *_KERNEL]))


def _add_flags(p: argparse.ArgumentParser, rows) -> dict:
    """Add the flags of ``rows`` to ``p`` or to its named argument groups; returns the groups."""
    groups: dict = {None: p}
    for group, flag, kind, metavar, text in rows:
        if group not in groups:
            groups[group] = p.add_argument_group(group)
        groups[group].add_argument(flag, type=kind, metavar=metavar, help=text)
    return groups


def add_params_options(p: argparse.ArgumentParser) -> None:
    """ARCH, the target, the afferents and rates of each architecture, and the kernel."""
    p.add_argument("arch", choices=ARCHS, metavar="ARCH", help="one of: " + ", ".join(ARCHS))
    d = _add_flags(p, _PARAMS_FLAGS)[_DALE]
    d.add_argument("--dist", choices=("exponential", "lognormal"), help="weight distribution; default exponential")
    d.add_argument("--sigma-log", type=_float, metavar="X", help="log-normal shape (std of ln w), > 0; default 1 "
                   "(--dist lognormal)")
    add_kernel_options(p)


def add_parser(sub) -> None:
    _command(
        sub, "kernel", run_kernel, options=add_kernel_options,
        help="print the kernel integrals epsilon_bar and epsilon_hat",
        description="Kernel integrals epsilon_bar (integral of the PSP kernel) and epsilon_hat "
        "(integral of its square), in seconds, for the current-based LIF neuron (paper eqs. 2-3).",
        json_help="one JSON object with keys epsilon_bar, epsilon_hat",
    )
    _command(
        sub, "params", run_params, options=add_params_options,
        help="weight parameters for a membrane target (feedforward, recurrent, dale, kaiming)",
        description="Weight-distribution parameters that put LIF neurons into the fluctuation-driven "
        "regime (paper eqs. 6-9, 34-39, 42-55) or the Kaiming baseline (eq. 56).",
    )
    _command(
        sub, "demo", run_demo,
        help="worked example: parameters for the paper's Randman and SHD networks",
        description="Prints the kernel integrals and the initialization parameters of the paper's "
        "Randman and SHD networks (tables 4, 7).",
    )


def _print(result: dict, as_json: bool, title: str | None = None) -> None:
    if as_json:
        print(json.dumps(result, indent=2, sort_keys=False))
        return
    if title:
        print(title)
    width = max(len(k) for k in result)
    for key, value in result.items():
        if isinstance(value, float):
            print(f"  {key:<{width}}  {value:.6g}")
        else:
            print(f"  {key:<{width}}  {value}")


def run_kernel(args) -> int:
    k = kernel_from_args(args)
    _print(k.as_dict(), args.json, f"kernel integrals ({_value(args, 'mode')}, seconds):")
    return 0


def _require(args, arch: str, *names: str) -> None:
    from fluctinit.theory import dale, feedforward, recurrent
    from fluctinit.errors import ParameterError

    table = {**dale.CONSTRAINTS, **recurrent.CONSTRAINTS, **feedforward.CONSTRAINTS}
    for name in names:
        if getattr(args, name) is None:
            raise ParameterError(
                f"`{name}` must be given for {arch} ({table[name].describe()}); got None", [name], [None]
            )


def _forbid(args, what: str, *names: str) -> None:
    from fluctinit.cli import reject_inapplicable

    reject_inapplicable(args, what, names)


def _target(args) -> dict:
    return dict(sigma_u=args.sigma_u, mu_u=_value(args, "mu_u"), xi=args.xi, theta=_value(args, "theta"))


def params_from_args(args) -> dict:
    """Compute the `params` result as a dict (the --json object)."""
    from fluctinit import theory as T
    from fluctinit.errors import ParameterError

    arch = args.arch
    _forbid(args, arch, *(n for n in PARAMS_OPTIONS if n not in APPLIES[arch]))
    if args.xi is not None:  # the same rule as `validate`
        _forbid(args, "a target given by --xi (give --sigma-u or --xi)", "sigma_u")
    _require(args, arch, *REQUIRED[arch])
    if arch == "kaiming":
        return T.kaiming_params(args.fan_in, _value(args, "gain")).as_dict()
    if arch == "feedforward":
        return T.feedforward_params(args.fan_in, args.nu, kernel=kernel_from_args(args), **_target(args)).as_dict()
    if arch == "recurrent":
        return T.recurrent_params(args.fan_in, args.fan_in_rec, args.nu, alpha=_value(args, "alpha"),
                                  nu_rec=args.nu_rec, kernel=kernel_from_args(args), **_target(args)).as_dict()
    # dale
    dist = _value(args, "dist")
    if dist != "lognormal":
        _forbid(args, f"dale with --dist {dist}", "sigma_log")
    if args.n_exc_rec is None:
        _forbid(args, "dale without --n-exc-rec", "alpha")
    if args.nu_exc is not None:
        _forbid(args, "dale with --nu-exc", "nu")
    nu_exc = args.nu_exc if args.nu_exc is not None else args.nu
    if nu_exc is None:
        _require(args, arch, "nu_exc")
    tau_exc = T.DEFAULT_TAU_SYN_EXC if args.tau_syn_exc is None else args.tau_syn_exc
    tau_inh = T.DEFAULT_TAU_SYN_INH if args.tau_syn_inh is None else args.tau_syn_inh
    if _value(args, "mode") == "discrete":  # one rule for the step, against all three time constants
        check_time_step(_value(args, "dt"), tau_mem=_value(args, "tau_mem"), tau_syn_exc=tau_exc, tau_syn_inh=tau_inh)
    k_exc = kernel_from_args(args, tau_exc, "tau_syn_exc")
    k_inh = kernel_from_args(args, tau_inh, "tau_syn_inh")
    try:
        res = T.dale_params(
            args.n_exc, args.n_inh, nu_exc, args.nu_inh, n_exc_rec=args.n_exc_rec, alpha=args.alpha, kernel_exc=k_exc,
            kernel_inh=k_inh, dist=dist, sigma_log=_value(args, "sigma_log"), **_target(args),
        )
    except ParameterError as err:  # the rate came from --nu: name what was typed
        raise (err if args.nu_exc is not None else _renamed(err, "nu_exc", "nu")) from None
    return res.as_dict()


def run_params(args) -> int:
    result = params_from_args(args)
    _print(result, args.json, f"{args.arch} initialization:")
    return 0


def demo_result() -> dict:
    """The worked example: the paper's networks (tables 2, 4, 7)."""
    from fluctinit import theory as T

    disc = T.kernel_integrals()
    cont = T.kernel_integrals(mode="continuous")
    randman = T.feedforward_params(20, 5.0, sigma_u=1.0)
    shd = T.feedforward_params(700, 15.8, sigma_u=1.0)
    shd_cont = T.feedforward_params(700, 15.8, sigma_u=1.0, kernel=cont)
    rec = T.recurrent_params(700, 128, 15.8, alpha=0.9, sigma_u=1.0)
    dale = T.dale_params(700, 32, 15.8, n_exc_rec=128, alpha=0.9, sigma_u=1.0)
    return {
        "kernel_discrete": disc.as_dict(),
        "kernel_continuous": cont.as_dict(),
        "randman_feedforward": {"fan_in": 20, "nu": 5.0, "sigma_w": randman.sigma_w},
        "shd_feedforward": {"fan_in": 700, "nu": 15.8, "sigma_w": shd.sigma_w, "sigma_w_continuous_kernel": shd_cont.sigma_w},
        "shd_over_randman_sigma_w": shd.sigma_w / randman.sigma_w,
        "shd_recurrent_160": {k: rec.as_dict()[k] for k in ("sigma_w", "sigma_v", "alpha")},
        "shd_dale_128e_32i": {k: dale.as_dict()[k] for k in ("rate_exc", "rate_exc_rec", "rate_inh")},
        "shd_kaiming": T.kaiming_params(700).as_dict()["sigma_w"],
    }


def run_demo(args) -> int:
    res = demo_result()
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    d, c = res["kernel_discrete"], res["kernel_continuous"]
    out = sys.stdout.write
    out("fluctinit worked example: the paper's networks, target sigma_u = 1, mu_u = 0\n\n")
    out("Kernel integrals, tau_mem 20 ms, tau_syn 10 ms (paper table 7: 0.0110, 0.0020 at dt 2 ms)\n")
    out(f"  discrete, dt 2 ms : epsilon_bar {d['epsilon_bar']:.4f} s, epsilon_hat {d['epsilon_hat']:.4f} s\n")
    out(f"  continuous        : epsilon_bar {c['epsilon_bar']:.4f} s, epsilon_hat {c['epsilon_hat']:.4f} s\n\n")
    r, s = res["randman_feedforward"], res["shd_feedforward"]
    out("Feed-forward, centered normal weights (eq. 9)\n")
    out(f"  Randman (n=20, nu=5 Hz)     : sigma_w = {r['sigma_w']:.3f}\n")
    out(f"  SHD (n=700, nu=15.8 Hz)     : sigma_w = {s['sigma_w']:.3f} "
        f"(continuous kernel: {s['sigma_w_continuous_kernel']:.3f}; the paper quotes 0.23)\n")
    out(f"  SHD / Randman               : {res['shd_over_randman_sigma_w']:.3f} (paper: about 0.1)\n\n")
    rc = res["shd_recurrent_160"]
    out(f"SHD recurrent, 128 units, alpha = 0.9 (eqs. 37-39): sigma_w = {rc['sigma_w']:.4f}, sigma_v = {rc['sigma_v']:.4f}\n")
    dl = res["shd_dale_128e_32i"]
    out("SHD Dale's law, 128 exc + 32 inh, exponential weights (eqs. 51-55, tau_syn 10/20 ms):\n")
    out(f"  rate_exc = {dl['rate_exc']:.2f}, rate_exc_rec = {dl['rate_exc_rec']:.2f}, rate_inh = {dl['rate_inh']:.2f} (1/mean weight)\n")
    out(f"Kaiming baseline for SHD (eq. 56): sigma_w = {res['shd_kaiming']:.4f}\n\n")
    out("More: fluctinit params --help, fluctinit kernel --help\n")
    return 0
