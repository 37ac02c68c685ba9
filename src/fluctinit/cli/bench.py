"""Subcommand ``bench``: time one training step of the paper's networks on each simulation path.

    fluctinit bench [--shapes randman,shd,shd-rec] [--batches N] [--json]

The harness is :mod:`fluctinit.training.bench` (its docstring says what each path measures).
"""

from __future__ import annotations

import json
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="time a training step: reference loop vs fast core vs peers")
    p.add_argument("--shapes", default="randman,shd,shd-rec", help="comma list of randman, shd, shd-rec")
    p.add_argument("--batches", type=int, default=5, help="timed training steps per path (median reported)")
    p.add_argument("--json", action="store_true", help="print one JSON object keyed by shape")
    p.add_argument("--batch-size", type=int, default=None, help="override the batch size (default 400)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--no-peers", action="store_true", help="skip snntorch/norse/spikingjelly")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads for every path (default: torch's)")
    p.set_defaults(run=run)


def _check_args(args):
    from fluctinit.errors import Integer, OneOf, check
    from fluctinit.training.bench import SHAPES  # no torch at import

    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    if not shapes:
        check("shapes", args.shapes, OneOf(tuple(SHAPES)))
    for s in shapes:
        check("shapes", s, OneOf(tuple(SHAPES)))
    check("batches", args.batches, Integer(1, 1000))
    if args.batch_size is not None:
        check("batch_size", args.batch_size, Integer(1, 100000))
    check("device", args.device, OneOf(("cpu", "cuda")))
    check("seed", args.seed, Integer(0, None))
    if args.threads is not None:
        check("threads", args.threads, Integer(1, 1024))
    return shapes


def run(args) -> int:
    shapes = _check_args(args)
    from fluctinit.training.bench import bench_shapes, format_table

    log = None if args.json else (lambda m: print(m, file=sys.stderr))
    results = bench_shapes(shapes, batches=args.batches, batch=args.batch_size, device=args.device, seed=args.seed,
                           peers=not args.no_peers, threads=args.threads, log=log)
    if args.json:
        print(json.dumps(results, indent=1, sort_keys=True))
    else:
        print(format_table(results))
    return 0
