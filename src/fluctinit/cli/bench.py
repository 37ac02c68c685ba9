"""Subcommand ``bench``: time one training step of the paper's networks on each simulation path.

    fluctinit bench [--shapes randman,shd,shd-rec] [--batches N] [--json]

The harness is :mod:`fluctinit.training.bench` (its docstring says what each path measures).
"""

from __future__ import annotations

import json
import sys


#: torch generators take seeds below 2**64
MAX_SEED = 2**63 - 1


def add_parser(sub) -> None:
    import os

    p = sub.add_parser("bench", help="time a training step: reference loop vs fast core vs peers")
    p.add_argument("--shapes", default="randman,shd,shd-rec", help="comma list of randman, shd, shd-rec, each once")
    p.add_argument("--batches", type=int, default=5, help="timed training steps per path, 1 <= N <= 1000 (median reported)")
    p.add_argument("--json", action="store_true", help="print one JSON object keyed by shape")
    p.add_argument("--batch-size", type=int, default=None,
                   help="override the batch size, 1 <= N <= 100000 and within the memory available (default 400)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--no-peers", action="store_true", help="skip snntorch/norse/spikingjelly")
    p.add_argument("--seed", type=int, default=0, help=f"seed of inputs and weights, 0 <= S <= {MAX_SEED}")
    p.add_argument("--threads", type=int, default=None,
                   help=f"torch CPU threads for every path, 1 <= N <= the CPUs ({os.cpu_count()} here; default: torch's)")
    p.set_defaults(run=run)


def _check_args(args):
    import os

    from fluctinit.errors import Integer, OneOf, ParameterError, check
    from fluctinit.training.bench import SHAPES  # no torch at import

    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    if not shapes:
        check("shapes", args.shapes, OneOf(tuple(SHAPES)))
    for s in shapes:
        check("shapes", s, OneOf(tuple(SHAPES)))
    if len(set(shapes)) < len(shapes):
        raise ParameterError(f"`shapes` must name each shape once; got {args.shapes!r}", ["shapes"], [args.shapes])
    check("batches", args.batches, Integer(1, 1000))
    if args.batch_size is not None:
        check("batch_size", args.batch_size, Integer(1, 100000))
    check("device", args.device, OneOf(("cpu", "cuda")))
    check("seed", args.seed, Integer(0, MAX_SEED))
    if args.threads is not None:
        check("threads", args.threads, Integer(1, os.cpu_count() or 1))
    return shapes


def _check_memory(args, shapes) -> None:
    """The largest shape's problem and step must fit in the memory of the device, before any is built."""
    from fluctinit.training.bench import step_bytes
    from fluctinit.validation import available_memory, check_resources

    free = available_memory()
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            return  # bench_shapes says so, naming --device
        free = torch.cuda.mem_get_info()[0]
    need = max(step_bytes(s, batch=args.batch_size) for s in shapes)
    flags = dict(batch_size=args.batch_size if args.batch_size is not None else 400, shapes=args.shapes)
    check_resources({f"largest shape on {args.device}": need}, available=free, **flags)


def run(args) -> int:
    shapes = _check_args(args)
    _check_memory(args, shapes)
    from fluctinit.training.bench import bench_shapes, format_table

    log = None if args.json else (lambda m: print(m, file=sys.stderr))
    results = bench_shapes(shapes, batches=args.batches, batch=args.batch_size, device=args.device, seed=args.seed,
                           peers=not args.no_peers, threads=args.threads, log=log)
    if args.json:
        print(json.dumps(results, indent=1, sort_keys=True))
    else:
        print(format_table(results))
    return 0
