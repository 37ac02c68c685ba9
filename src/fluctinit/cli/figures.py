"""Subcommand ``figures``: regenerate the paper's figures and tables from cached runs.

    fluctinit figures [NAMES ...] [--quick] [--out DIR] [--runs DIR] [--data-root DIR]
                      [--workers N] [--force] [--quiet]
    fluctinit figures --list [--quick] [--out DIR] [--runs DIR] [--data-root DIR]

NAMES: fig1 ... fig7, table1, table7, s2 (default: all).  Each item declares the runs it needs
(sweeps through the sweep engine, simulations) and the data files; what is missing is run,
into --runs (default OUT/runs; an interrupted sweep continues where it stopped), and the item
is drawn from the cached data: OUT/<name>.png and .pdf (stamped: code version with dirty
flag, seeds, settings, data source), OUT/<name>.json (the plotted numbers) and, for tables,
OUT/<name>.csv.  --quick: small settings (every item in minutes on a 2-core CPU); SHD,
CIFAR-10 and DVS-Gesture files missing from --data-root are then replaced by generated
stand-in files in the official formats, and the figures say so.  Without --quick an item whose
data are missing is skipped with one line saying which files to put where.  --list says what
each item needs and whether it is present.
"""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    p = sub.add_parser("figures", help="regenerate the paper's figures and tables (fig1..fig7, table1, table7, s2)")
    p.add_argument("names", nargs="*", metavar="NAME", help="items to make (default: all; see --list)")
    p.add_argument("--list", action="store_true", help="say what each item needs and whether it is present")
    p.add_argument("--quick", action="store_true", help="small settings; stand-in files for missing data sets")
    p.add_argument("--out", default="results/figures", help="output folder (default results/figures)")
    p.add_argument("--runs", default=None, help="where the sweeps run (default OUT/runs)")
    p.add_argument("--data-root", default="data", dest="data_root",
                   help="folder with the data sets' files, as for fluctinit train (default data)")
    p.add_argument("--workers", type=int, default=None, help="Dask workers of the sweeps, >= 1 (default: cores)")
    p.add_argument("--force", action="store_true", help="recompute the items' data even when cached")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=run)


def _check(args) -> list[str]:
    from fluctinit._io import check_output_path
    from fluctinit.errors import Integer, OneOf, ParameterError, check
    from fluctinit.figures._items import NAMES

    names = list(dict.fromkeys(args.names)) or list(NAMES)
    for n in names:
        if not OneOf(NAMES).contains(n):  # a positional: no flag to name
            raise ValueError(f"`NAME` must be {OneOf(NAMES).describe()}; got {n!r} (see fluctinit figures --list)")
    if args.workers is not None:
        check("workers", args.workers, Integer(1, 1024))
    if args.list and (args.force or args.names):
        bad = "--force" if args.force else "NAMES"
        raise ParameterError(f"`list` lists every item and makes none; got it with {bad}", ["list"], [True])
    check_output_path("out", args.out, kind="dir")
    if args.runs is not None:
        check_output_path("runs", args.runs, kind="dir")
    return names


def run(args) -> int:
    names = _check(args)
    from pathlib import Path

    from fluctinit.figures._items import Context, describe_needs, get_item, render

    ctx = Context(out=Path(args.out), runs=None if args.runs is None else Path(args.runs), quick=args.quick,
                  workers=args.workers, data_root=Path(args.data_root), quiet=args.quiet, force=args.force)
    if args.list:
        for n in names:
            item = get_item(n)
            print(f"{n}: {item.title}")
            for line in describe_needs(item.needs(ctx, item.settings(ctx))) or ["needs nothing but this machine"]:
                print(f"    {line}")
        return 0
    made = skipped = 0
    for n in names:
        outcome = render(get_item(n), ctx)
        print(outcome.line, file=sys.stdout, flush=True)
        made += outcome.status == "made"
        skipped += outcome.status == "skipped"
    print(f"{made} made, {skipped} skipped, in {ctx.out}")
    return 0
