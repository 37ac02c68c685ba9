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


def add_kernel_options(p: argparse.ArgumentParser) -> None:
    """--tau-mem, --tau-syn, --dt, --mode (shared with other subcommands)."""
    from fluctinit.theory import DEFAULT_DT, DEFAULT_TAU_MEM, DEFAULT_TAU_SYN

    g = p.add_argument_group("kernel (SI units)")
    g.add_argument("--tau-mem", type=_float, default=DEFAULT_TAU_MEM, metavar="S", help="membrane time constant (s); default 0.02")
    g.add_argument("--tau-syn", type=_float, default=DEFAULT_TAU_SYN, metavar="S", help="synaptic time constant (s); default 0.01")
    g.add_argument("--dt", type=_float, default=DEFAULT_DT, metavar="S", help="time step (s); default 0.002")
    g.add_argument(
        "--mode", choices=("discrete", "continuous"), default="discrete",
        help="kernel integrals of the exact discrete update (default, as the paper's simulations) or continuous time",
    )


def kernel_from_args(args, tau_syn: float | None = None):
    from fluctinit.theory import kernel_integrals

    return kernel_integrals(args.tau_mem, args.tau_syn if tau_syn is None else tau_syn, args.dt, args.mode)


def _command(sub, name: str, run, *, help: str, description: str, options=None,
             json_help: str = "print one JSON object") -> argparse.ArgumentParser:
    """One subcommand: its parser, the flags ``options(parser)`` adds, ``--json`` last, and ``run``."""
    p = sub.add_parser(name, help=help, description=description)
    if options is not None:
        options(p)
    p.add_argument("--json", action="store_true", help=json_help)
    p.set_defaults(run=run)
    return p


# `params` flags as data, in --help order: (group, flag, type, metavar, help[, default]); a
# flag defaults to None unless a default is given, so the architecture checks see what was typed.
_DALE = "dale (Dale's law)"
_PARAMS_FLAGS = (
    (None, "--fan-in", _int, "N", "feed-forward afferents n (feedforward, recurrent, kaiming)"),
    (None, "--fan-in-rec", _int, "N", "recurrent afferents n_R (recurrent)"),
    (None, "--alpha", _float, "A", "feed-forward share of the variance, 0 < A < 1 (recurrent; dale with --n-exc-rec); default 0.9"),
    (None, "--nu", _float, "HZ", "input rate (Hz)"),
    (None, "--nu-rec", _float, "HZ", "rate of the recurrent afferents (recurrent); default --nu"),
    (None, "--sigma-u", _float, "X", "target membrane std (threshold units); default 1"),
    (None, "--xi", _float, "X", "alternative target: (theta - mu_u)/sigma_u"),
    (None, "--mu-u", _float, "X", "target membrane mean; default 0", 0.0),
    (None, "--theta", _float, "X", "firing threshold; default 1", 1.0),
    (None, "--gain", _float, "G", "Kaiming gain; default sqrt(2)", math.sqrt(2.0)),
    (_DALE, "--n-exc", _int, "N", "excitatory (feed-forward) afferents"),
    (_DALE, "--n-inh", _int, "N", "inhibitory afferents"),
    (_DALE, "--n-exc-rec", _int, "N", "recurrent excitatory afferents (enables excitatory recurrence)"),
    (_DALE, "--tau-syn-exc", _float, "S", "excitatory synaptic time constant (s); default 0.01 (table 3)"),
    (_DALE, "--tau-syn-inh", _float, "S", "inhibitory synaptic time constant (s); default 0.02 (table 3)"),
    (_DALE, "--nu-exc", _float, "HZ", "excitatory input rate (Hz); default --nu"),
    (_DALE, "--nu-inh", _float, "HZ", "inhibitory input rate (Hz); default --nu-exc"),
)


def _add_flags(p: argparse.ArgumentParser, rows) -> dict:
    """Add the flags of ``rows`` to ``p`` or to its named argument groups; returns the groups."""
    groups: dict = {None: p}
    for group, flag, kind, metavar, text, *default in rows:
        if group not in groups:
            groups[group] = p.add_argument_group(group)
        groups[group].add_argument(flag, type=kind, metavar=metavar, help=text, default=default[0] if default else None)
    return groups


def add_params_options(p: argparse.ArgumentParser) -> None:
    """ARCH, the target, the afferents and rates of each architecture, and the kernel."""
    p.add_argument("arch", choices=ARCHS, metavar="ARCH", help="one of: " + ", ".join(ARCHS))
    d = _add_flags(p, _PARAMS_FLAGS)[_DALE]
    d.add_argument("--dist", choices=("exponential", "lognormal"), default="exponential", help="weight distribution; default exponential")
    d.add_argument("--sigma-log", type=_float, metavar="X", help="log-normal shape (std of ln w); default 1")
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
    _print(k.as_dict(), args.json, f"kernel integrals ({args.mode}, seconds):")
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


def _forbid(args, arch: str, *names: str) -> None:
    from fluctinit.cli import reject_inapplicable

    reject_inapplicable(args, arch, names)


def params_from_args(args) -> dict:
    """Compute the `params` result as a dict (the --json object)."""
    from fluctinit import theory as T

    arch = args.arch
    if arch == "kaiming":
        _require(args, arch, "fan_in")
        return T.kaiming_params(args.fan_in, args.gain).as_dict()
    if arch == "feedforward":
        _require(args, arch, "fan_in", "nu")
        _forbid(args, arch, "fan_in_rec", "alpha", "nu_rec", "n_exc", "n_inh", "n_exc_rec")
        res = T.feedforward_params(
            args.fan_in, args.nu, sigma_u=args.sigma_u, mu_u=args.mu_u, xi=args.xi,
            theta=args.theta, kernel=kernel_from_args(args),
        )
        return res.as_dict()
    if arch == "recurrent":
        _require(args, arch, "fan_in", "fan_in_rec", "nu")
        _forbid(args, arch, "n_exc", "n_inh", "n_exc_rec")
        res = T.recurrent_params(
            args.fan_in, args.fan_in_rec, args.nu, alpha=0.9 if args.alpha is None else args.alpha,
            sigma_u=args.sigma_u, mu_u=args.mu_u, xi=args.xi, theta=args.theta, nu_rec=args.nu_rec,
            kernel=kernel_from_args(args),
        )
        return res.as_dict()
    # dale
    _require(args, arch, "n_exc", "n_inh")
    _forbid(args, arch, "fan_in", "fan_in_rec", "nu_rec")
    if args.dist != "lognormal":
        _forbid(args, "dist exponential", "sigma_log")
    nu_exc = args.nu_exc if args.nu_exc is not None else args.nu
    if nu_exc is None:
        _require(args, arch, "nu_exc")
    k_exc = kernel_from_args(args, T.DEFAULT_TAU_SYN_EXC if args.tau_syn_exc is None else args.tau_syn_exc)
    k_inh = kernel_from_args(args, T.DEFAULT_TAU_SYN_INH if args.tau_syn_inh is None else args.tau_syn_inh)
    res = T.dale_params(
        args.n_exc, args.n_inh, nu_exc, args.nu_inh, sigma_u=args.sigma_u, mu_u=args.mu_u, xi=args.xi,
        theta=args.theta, n_exc_rec=args.n_exc_rec, alpha=args.alpha, kernel_exc=k_exc, kernel_inh=k_inh,
        dist=args.dist, sigma_log=1.0 if args.sigma_log is None else args.sigma_log,
    )
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
