"""Subcommands ``train`` and ``experiments``.

    fluctinit train EXPERIMENT [--epochs N] [--seed S | --seeds N] [--sigma-u X]
                    [--init fluctuation|kaiming] [--surrogate superspike|rescaled]
                    [--device cpu|cuda] [--data-root DIR] [--out DIR] [--resume] [--quiet]
    fluctinit experiments [--json]

EXPERIMENT is a name from ``fluctinit experiments`` or a path to a JSON config (copy one from
training/experiments/ and edit it).  Results go to ``--out`` (default ``runs/``):
``<experiment>_<init>_seed<S>.json`` per seed, a checkpoint ``.ckpt`` per seed (every epoch),
and with ``--seeds N`` a ``<experiment>_<init>_summary.json`` with mean and std over seeds.
Missing data files stop the run at once with one line saying which files to put where (exit 2).
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
    g.add_argument("--seeds", type=int, default=None, help="run seeds 0..N-1 and summarize")
    p.add_argument("--sigma-u", type=float, default=None, dest="sigma_u", help="target membrane std (threshold units)")
    p.add_argument("--init", choices=("fluctuation", "kaiming"), default=None, help="initialization method")
    p.add_argument("--surrogate", choices=("superspike", "rescaled"), default=None,
                   help="surrogate derivative: SuperSpike (eq. 28) or rescaled (eq. 29)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--data-root", default=".", dest="data_root", help="folder holding the data files")
    p.add_argument("--out", default="runs", help="output folder (results JSON and checkpoints)")
    p.add_argument("--resume", action="store_true", help="continue interrupted runs from their checkpoints")
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
    from fluctinit.errors import Integer, ParameterError, check

    try:
        config = training.load_experiment(args.experiment)
    except ParameterError as err:
        # Config fields (`training.lr`) and the positional EXPERIMENT are not flags: keep the
        # message as it is (cli.main rewrites the names it is given into --flags).
        raise ParameterError(str(err)) from None
    # Check every flag before any work, and the data files before loading anything.
    if args.epochs is not None:
        check("epochs", args.epochs, training.TRAIN_CONSTRAINTS["epochs"])
    if args.seed is not None:
        check("seed", args.seed, training.TRAIN_CONSTRAINTS["seed"])
    if args.seeds is not None:
        check("seeds", args.seeds, Integer(1))
    if args.sigma_u is not None:
        check("sigma_u", args.sigma_u, training.INIT_CONSTRAINTS["sigma_u"])
    training.check_data_files(config, args.data_root)
    training.check_device(args.device)

    seeds = list(range(args.seeds)) if args.seeds is not None else [args.seed or 0]
    data = training.load_data(config, args.data_root, device=args.device)  # once, for every seed
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    results = []
    for s in seeds:
        r = training.train_experiment(
            config, seed=s, epochs=args.epochs, sigma_u=args.sigma_u, init=args.init,
            surrogate=args.surrogate, device=args.device, data_root=args.data_root, out=args.out,
            resume=args.resume, progress=not args.quiet, data=data, log=log,
        )
        f = r["final"]
        print(
            f"{r['experiment']} seed {s}: train {100 * f['train_accuracy']:.1f}%  "
            f"valid {100 * f['validation_accuracy']:.1f}%  test {100 * f['test_accuracy']:.1f}%  "
            f"({r['time_s']:.0f} s)"
        )
        results.append(r)
    if len(results) > 1:
        t = training.write_seed_summary(results, args.out)["test_accuracy"]
        print(f"{config['name']}: test {100 * t['mean']:.1f} +- {100 * t['std']:.1f}% over {len(seeds)} seeds")
    return 0
