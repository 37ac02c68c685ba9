"""Subcommands ``train`` and ``experiments``.

    fluctinit train EXPERIMENT [--epochs N] [--seed S | --seeds N] [--sigma-u X]
                    [--init fluctuation|kaiming] [--surrogate superspike|rescaled]
                    [--device cpu|cuda] [--data-root DIR] [--out DIR] [--resume | --overwrite] [--quiet]
    fluctinit experiments [--json]

EXPERIMENT is a name from ``fluctinit experiments`` or a path to a JSON config (copy one from
training/experiments/ and edit it).  Results go to ``--out`` (default ``runs/``):
``<experiment>_<init>_seed<S>.json`` per seed, a checkpoint ``.ckpt`` per seed (every epoch),
and with ``--seeds N`` (N >= 2) a ``<experiment>_<init>_summary.json`` with mean and std over
seeds.

Nothing is lost or silently replaced: a run whose files are already in ``--out`` needs
``--resume`` (continue it from its checkpoint; a finished run with the same settings is
reported as stored, one with other settings is refused naming every setting that differs),
``--overwrite`` (train it again, replacing its files) or another ``--out``.  ``--out`` is
locked for the whole command (a second run into it stops at once), and temporary files that
an interrupted write left there are removed at start.

Every check runs before any data are loaded: bad values, options that do not apply (``--sigma-u``
with the Kaiming initialization, ``--data-root`` for Randman, which is generated), output paths
that cannot be written, the state of ``--out``, damaged checkpoints, missing data files (one
line saying which files to put where).  Each stops the command with one line on stderr and
exit status 2, writing nothing.  A training split without any spike gives one line
``fluctinit train: warning: ...`` on stderr before training (the library's
``fluctinit.training.SilentDataWarning``), and training goes on.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parser", "run", "run_experiments"]


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a named experiment (paper tables 4-6)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("experiment", help="experiment name (see `fluctinit experiments`) or path to a .json config")
    p.add_argument("--epochs", type=int, default=None, help="supervised epochs (default: the config's)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--seed", type=int, default=None, help="one seed (default 0)")
    g.add_argument("--seeds", type=int, default=None, help="run seeds 0..N-1 (N >= 2) and summarize")
    p.add_argument("--sigma-u", type=float, default=None, dest="sigma_u", help="target membrane std (threshold units)")
    p.add_argument("--init", choices=("fluctuation", "kaiming"), default=None, help="initialization method")
    p.add_argument("--surrogate", choices=("superspike", "rescaled"), default=None,
                   help="surrogate derivative: SuperSpike (eq. 28) or rescaled (eq. 29)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--data-root", default=None, dest="data_root",
                   help="folder holding the data files (default: the current folder; not for Randman)")
    p.add_argument("--strict", action="store_true", default=None,
                   help="SHD, FSDD: reject a file with non-finite spike times (default: drop those events, warn once)")
    p.add_argument("--out", default="runs", help="output folder (results JSON and checkpoints)")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--resume", action="store_true", help="continue the runs in --out from their checkpoints")
    w.add_argument("--overwrite", action="store_true", help="train again the runs already in --out, replacing them")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    p.set_defaults(run=run)

    q = sub.add_parser("experiments", help="list the named training experiments")
    q.add_argument("--json", action="store_true", help="print one JSON object (name -> description)")
    q.set_defaults(run=run_experiments)


def run_experiments(args) -> int:
    import json

    from fluctinit import training

    rows = {n: training.load_experiment(n) for n in training.list_experiments()}
    if args.json:
        print(json.dumps({n: c["description"] for n, c in rows.items()}, indent=1))
        return 0
    width = max(len(n) for n in rows)
    for n, c in rows.items():
        t = c["training"]
        print(f"{n:<{width}}  {c['description']}  [{t['epochs']} epochs, batch {t['batch_size']}]")
    return 0


def run(args) -> int:
    from fluctinit import training
    from fluctinit.cli import reject_inapplicable

    config, resolved, seeds = _checked(args)
    for what, names in training.inapplicable_options(resolved).items():
        reject_inapplicable(args, what, names)
    data_root = args.data_root or "."
    # The output folder's state, read only: refusals here leave everything as it was.
    plans = training.plan_runs(resolved, seeds, args.out, resume=args.resume, overwrite=args.overwrite)
    if any(p.action != "done" for p in plans):
        training.check_data_files(resolved, data_root)
    with training.hold_output(args.out) as removed:
        # Again under the lock: another process may have written between the two looks.
        plans = training.plan_runs(resolved, seeds, args.out, resume=args.resume, overwrite=args.overwrite)
        note = lambda line: print(f"fluctinit train: {line}", file=sys.stderr, flush=True)  # noqa: E731
        if removed:
            note(f"removed {len(removed)} temporary file(s) of interrupted writes from {args.out}")
        for p in plans:
            if args.resume and p.action == "start":
                note(f"no checkpoint of {p.name} in {args.out}; it starts from the first epoch")
        results = _train(args, config, plans, data_root, note)
        if len(results) > 1:
            t = training.write_seed_summary(results, args.out)["test_accuracy"]
            print(f"{resolved['name']}: test {100 * t['mean']:.1f} +- {100 * t['std']:.1f}% over {len(seeds)} seeds")
    return 0


def _checked(args):
    """The experiment config, the config its runs train (flags applied) and the seeds; every
    flag checked."""
    from fluctinit import training
    from fluctinit.errors import Integer, ParameterError, check

    try:
        config = training.load_experiment(args.experiment)
    except ParameterError as err:
        # Config fields (`training.lr`) and the positional EXPERIMENT are not flags: keep the
        # message as it is (cli.main rewrites the names it is given into --flags).
        raise ParameterError(str(err)) from None
    if args.epochs is not None:
        check("epochs", args.epochs, training.TRAIN_CONSTRAINTS["epochs"])
    if args.seed is not None:
        check("seed", args.seed, training.TRAIN_CONSTRAINTS["seed"])
    if args.seeds is not None and not Integer(2).contains(args.seeds):
        raise ParameterError(
            f"`seeds` must be an integer >= 2 (a summary needs two seeds; `seed` runs one); got {args.seeds!r}",
            ["seeds", "seed"], [args.seeds, None],
        )
    if args.sigma_u is not None:
        check("sigma_u", args.sigma_u, training.INIT_CONSTRAINTS["sigma_u"])
    try:
        resolved, _ = training.resolve_config(
            config, epochs=args.epochs, sigma_u=args.sigma_u, init=args.init, surrogate=args.surrogate,
            device=args.device,
        )
    except ParameterError as err:  # a config key that a flag set: name the flag
        raise _after_flags(err, args) from None
    seeds = list(range(args.seeds)) if args.seeds is not None else [args.seed or 0]
    return config, resolved, seeds


def _after_flags(err, args):
    """``err`` with each config key that a given flag set (``init.method`` by ``--init``)
    renamed to the flag's name (cli.main turns it into ``--init``)."""
    from fluctinit import training
    from fluctinit.errors import ParameterError

    msg, names = str(err), list(err.names)
    for arg, key in training.OVERRIDE_KEYS.items():
        if getattr(args, arg, None) is not None and key in names:
            msg = msg.replace(f"`{key}`", f"`{arg}`")
            names = [arg if n == key else n for n in names]
    return ParameterError(msg, names, err.values)


def _train(args, config, plans, data_root: str, note) -> list[dict]:
    """Train (or, for a finished run, read) every planned run; print one line per seed."""
    import warnings

    from fluctinit import training

    data = None
    if any(p.action != "done" for p in plans):
        data = training.load_data(config, data_root, device=args.device, strict=bool(args.strict))  # once, for every seed
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    seen: set[str] = set()

    def one_line(message, category, *rest, **kw) -> None:  # each warning once, on one line
        if str(message) not in seen:
            seen.add(str(message))
            note(f"warning: {message}")

    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("always", training.SilentDataWarning)
        warnings.showwarning = one_line
        for p in plans:
            r = training.train_experiment(
                config, seed=p.seed, epochs=args.epochs, sigma_u=args.sigma_u, init=args.init,
                surrogate=args.surrogate, device=args.device, data_root=data_root, out=args.out,
                resume=args.resume, overwrite=args.overwrite, progress=not args.quiet, data=data, log=log,
            )
            f = r["final"]
            print(
                f"{r['experiment']} seed {p.seed}: train {100 * f['train_accuracy']:.1f}%  "
                f"valid {100 * f['validation_accuracy']:.1f}%  test {100 * f['test_accuracy']:.1f}%  "
                f"({r['time_s']:.0f} s{', stored' if p.action == 'done' else ''})"
            )
            results.append(r)
    return results
