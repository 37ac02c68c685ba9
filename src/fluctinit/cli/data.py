"""Subcommand ``fluctinit data``: check, describe and (SHD) download the data sets.

    fluctinit data shd --root DIR [--download] [--checksums pinned|server] [--dt 0.002]
    fluctinit data randman [--seed 0] [--cache-dir DIR]
    fluctinit data cifar10 --root DIR
    fluctinit data dvs-gesture --root DIR

Each command validates the files completely and prints a short summary
(samples per split, units, steps at dt, measured mean input rate).  Errors
(missing files, malformed files, a failed download) end with exit status 2
and one line on stderr via ``fluctinit.cli.main``.  torch is
imported inside the run functions only.
"""

from __future__ import annotations

import argparse

def add_parser(sub) -> None:
    p = sub.add_parser("data", help="check, describe or download the data sets")
    dsub = p.add_subparsers(dest="dataset", metavar="DATASET", parser_class=type(p))

    s = dsub.add_parser("shd", help="Spiking Heidelberg Digits: validate (and download) the files")
    s.add_argument("--root", required=True, help="folder holding shd_train.h5 and shd_test.h5")
    s.add_argument("--download", action="store_true",
                   help="fetch the official .gz files, verify their MD5 and gunzip them first")
    s.add_argument("--base-url", default=None, help="server or mirror holding the .gz files (default: the official server)")
    s.add_argument("--checksums", choices=("pinned", "server"), default="pinned",
                   help="verify against the pinned MD5s or the server's md5sums.txt")
    s.add_argument("--timeout", type=float, default=60.0, help="seconds per network operation")
    s.add_argument("--dt", type=float, default=2e-3, help="time step in seconds (for the summary)")
    s.set_defaults(run=run_shd)

    r = dsub.add_parser("randman", help="generate the Randman data set and describe it")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--cache-dir", default=None, help="cache the generated arrays here")
    r.add_argument("--dt", type=float, default=2e-3)
    r.set_defaults(run=run_randman)

    c = dsub.add_parser("cifar10", help="validate CIFAR-10 (cifar-10-python.tar.gz or its folder)")
    c.add_argument("--root", required=True)
    c.set_defaults(run=run_cifar10)

    d = dsub.add_parser("dvs-gesture", help="validate DVS-Gesture (extracted DvsGesture.tar.gz)")
    d.add_argument("--root", required=True)
    d.set_defaults(run=run_dvs_gesture)


def _describe(name: str, ds, dt: float) -> str:
    return (f"{name}: {len(ds)} samples, {ds.n_units} units, {ds.duration:g} s = "
            f"{ds.n_steps(dt)} steps at dt={dt:g} s, {ds.n_events} spikes, "
            f"mean rate {ds.mean_rate:.3f} Hz")


def run_shd(args: argparse.Namespace) -> int:
    from fluctinit.datasets import download_shd, load_shd
    from fluctinit.errors import Interval, check

    dt = check("dt", args.dt, Interval(0.0, None))
    if args.download:
        url = {} if args.base_url is None else {"base_url": args.base_url}
        download_shd(args.root, checksums=args.checksums, timeout=args.timeout, **url)
    splits = load_shd(args.root)
    for name in ("train", "valid", "test"):
        print(_describe(f"shd {name}", getattr(splits, name), dt))
    return 0


def run_randman(args: argparse.Namespace) -> int:
    from fluctinit.datasets import make_randman
    from fluctinit.errors import Interval, check

    dt = check("dt", args.dt, Interval(0.0, None))
    splits = make_randman(seed=args.seed, cache_dir=args.cache_dir)
    for name in ("train", "valid", "test"):
        print(_describe(f"randman {name}", getattr(splits, name), dt))
    return 0


def run_cifar10(args: argparse.Namespace) -> int:
    from fluctinit.datasets import load_cifar10

    splits = load_cifar10(args.root)
    for name in ("train", "valid", "test"):
        ds = getattr(splits, name)
        print(f"cifar10 {name}: {len(ds)} images {tuple(ds.images.shape[1:])}, "
              f"{int(ds.labels.unique().numel())} classes present")
    return 0


def run_dvs_gesture(args: argparse.Namespace) -> int:
    from fluctinit.datasets import load_dvs_gesture

    splits = load_dvs_gesture(args.root)
    for name in ("train", "test"):
        ds = getattr(splits, name)
        ev = ds.events
        rate = ev.n_events / max(len(ds) * ev.n_units * float(ds.lengths.sum() / max(len(ds), 1)), 1e-300)
        print(f"dvs-gesture {name}: {len(ds)} gestures, {ev.n_units} units (2x{ds.side}x{ds.side}), "
              f"{ev.n_events} events, mean length {ds.lengths.mean() if len(ds) else 0:.3f} s, "
              f"mean rate {rate:.3f} Hz before dropping")
    return 0
