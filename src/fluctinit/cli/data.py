"""Subcommand ``fluctinit data``: check, describe and (SHD) download the data sets.

    fluctinit data shd --root DIR [--download [--base-url URL] [--checksums pinned|server]
                       [--timeout S]] [--strict] [--dt 0.002]
    fluctinit data randman [--seed 0] [--cache-dir DIR] [--dt 0.002]
    fluctinit data fsdd [--audio DIR | --download-to DIR [--url URL] [--timeout S]] --out OUTDIR
                        [--channels 700] [--workers N] [--seed S] [--test-speaker NAME]
                        [--model-rate HZ] [--overwrite] [--quiet] [--dt 0.002]
    fluctinit data cifar10 --root DIR
    fluctinit data dvs-gesture --root DIR

Each command checks its options before any work (``--dt`` a time step with at least
:data:`MIN_STEPS_PER_SAMPLE` steps per sample; ``--root`` an existing folder, a writable one
for ``--download``; ``--cache-dir`` a writable folder; the download options only with
``--download``), validates the files completely and prints a short summary (samples per
split, units, steps at dt, spikes, measured mean input rate; a split without spikes says so).
Errors (bad options, missing or malformed files, a failed download) end with exit status 2
and one line on stderr via ``fluctinit.cli.main``; nothing is written.  Events with NaN or
inf spike times are dropped with one warning line per file (``--strict`` rejects the file).
torch is imported inside the run functions only.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings

#: ``--dt`` must give at least this many steps per sample (0.2 s Randman: dt <= 20 ms).
MIN_STEPS_PER_SAMPLE = 10
#: the smallest ``--dt`` (1 us, the DVS sensor's timestamp resolution), in seconds.
DT_MIN = 1e-6


def add_parser(sub) -> None:
    p = sub.add_parser("data", help="check, describe or download the data sets")
    dsub = p.add_subparsers(dest="dataset", metavar="DATASET", parser_class=type(p))
    dsub.required = True

    s = dsub.add_parser("shd", help="Spiking Heidelberg Digits: validate (and download) the files")
    s.add_argument("--root", required=True, help="folder holding shd_train.h5 and shd_test.h5")
    s.add_argument("--download", action="store_true",
                   help="fetch the official .gz files, verify their MD5 and gunzip them first")
    s.add_argument("--base-url", default=None,
                   help="with --download: server or mirror holding the .gz files (default: the official server)")
    s.add_argument("--checksums", choices=("pinned", "server"), default=None,
                   help="with --download: verify against the pinned MD5s (default) or the server's md5sums.txt")
    s.add_argument("--timeout", type=float, default=None,
                   help="with --download: seconds per network operation (default 60)")
    s.add_argument("--strict", action="store_true",
                   help="reject a file with NaN or inf spike times instead of dropping those events")
    s.add_argument("--dt", type=float, default=2e-3, help="time step in seconds (for the summary)")
    s.set_defaults(run=run_shd)

    r = dsub.add_parser("randman", help="generate the Randman data set and describe it")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--cache-dir", default=None, help="cache the generated arrays here")
    r.add_argument("--dt", type=float, default=2e-3, help="time step in seconds (for the summary)")
    r.set_defaults(run=run_randman)

    f = dsub.add_parser(
        "fsdd", help="convert FSDD's recordings through SHD's cochlear model into SHD-layout files",
        description="Every *.wav in --audio (FSDD's recordings: {digit}_{speaker}_{index}.wav, mono "
                    "8 kHz) through the cochlear model that made SHD (lauscher's chain: RMS "
                    "normalization, Hanning ramps, basilar membrane, hair cells, bushy cells; "
                    "vectorized) into OUT/fsdd_train.h5 and OUT/fsdd_test.h5 in SHD's layout. "
                    "Real audio-derived spikes: not SHD. Resumable: rerun the same command after "
                    "an interruption. FSDD: CC BY-SA 4.0, the FSDD contributors.")
    f.add_argument("--audio", default=None,
                   help="folder of the recordings (e.g. ../shared/fsdd/recordings); without it FSDD "
                        "is downloaded (checksum-verified) into --download-to")
    f.add_argument("--download-to", default=None,
                   help="without --audio: download FSDD here (default OUT/fsdd-audio)")
    f.add_argument("--url", default=None, help="with a download: the archive's URL (default: "
                                               "FSDD's repository at the pinned commit)")
    f.add_argument("--timeout", type=float, default=None,
                   help="with a download: seconds per network operation (default 60)")
    f.add_argument("--out", required=True, help="output folder for fsdd_train.h5 and fsdd_test.h5")
    f.add_argument("--channels", type=int, default=700, help="cochlear channels = units (SHD: 700)")
    f.add_argument("--workers", type=int, default=None,
                   help="processes converting recordings in parallel (default: the CPU cores)")
    f.add_argument("--seed", type=int, default=0, help="seed of the stochastic spike stage")
    f.add_argument("--test-speaker", default=None,
                   help="hold out this speaker as the test file (default: FSDD's split, "
                        "recordings 0-4 of every digit and speaker are test)")
    f.add_argument("--model-rate", type=int, default=None,
                   help="resample the audio to this rate (Hz) before the cochlea (default: the "
                        "recordings' 8000; SHD's recordings were 48000, and the chain's output rate "
                        "depends strongly on it: docs/fsdd.md)")
    f.add_argument("--overwrite", action="store_true", help="replace existing output files")
    f.add_argument("--quiet", action="store_true", help="no progress (a bar on a terminal, plain lines in a log)")
    f.add_argument("--dt", type=float, default=2e-3, help="time step in seconds (for the summary)")
    f.set_defaults(run=run_fsdd)

    c = dsub.add_parser("cifar10", help="validate CIFAR-10 (cifar-10-python.tar.gz or its folder)")
    c.add_argument("--root", required=True)
    c.set_defaults(run=run_cifar10)

    d = dsub.add_parser("dvs-gesture", help="validate DVS-Gesture (extracted DvsGesture.tar.gz)")
    d.add_argument("--root", required=True)
    d.set_defaults(run=run_dvs_gesture)


def check_dt(dt, duration: float) -> float:
    """``dt`` in ``[DT_MIN, duration/MIN_STEPS_PER_SAMPLE]`` (seconds), or a ParameterError."""
    from fluctinit.errors import ParameterError

    high = duration / MIN_STEPS_PER_SAMPLE
    if isinstance(dt, (int, float)) and not isinstance(dt, bool) and math.isfinite(dt) \
            and DT_MIN <= dt <= high:
        return float(dt)
    raise ParameterError(
        f"`dt` must be a time step in seconds with {DT_MIN:g} <= dt <= {high:g} (at least "
        f"{MIN_STEPS_PER_SAMPLE} steps per {duration:g} s sample); got {dt!r}", ["dt"], [dt])


def _describe(name: str, ds, dt: float) -> str:
    head = (f"{name}: {len(ds)} samples, {ds.n_units} units, {ds.duration:g} s = "
            f"{ds.n_steps(dt)} steps at dt={dt:g} s")
    if len(ds) == 0:
        return head + ", no samples at all (empty split)"
    if ds.n_events == 0:
        return head + ", 0 spikes: NO SPIKES AT ALL (every sample is silent)"
    silent = int((ds.spike_counts() == 0).sum())
    return (head + f", {ds.n_events} spikes, mean rate {ds.mean_rate:.3f} Hz"
            + (f", {silent} samples without spikes" if silent else ""))


def _report_data_warnings(caught) -> None:
    """Data warnings (dropped events) as one stderr line each; other warnings re-issued."""
    from fluctinit.datasets import DataWarning

    for w in caught:
        if issubclass(w.category, DataWarning):
            print(f"fluctinit data: warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def run_shd(args: argparse.Namespace) -> int:
    from fluctinit.cli import reject_inapplicable
    from fluctinit.datasets import SHD_DURATION, download_shd, load_shd

    dt = check_dt(args.dt, SHD_DURATION)
    if args.download:
        opts = {k: v for k, v in (("base_url", args.base_url), ("checksums", args.checksums),
                                  ("timeout", args.timeout)) if v is not None}
        download_shd(args.root, **opts)
    else:
        reject_inapplicable(args, "`fluctinit data shd` without `--download`",
                            ("base_url", "checksums", "timeout"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        splits = load_shd(args.root, strict=args.strict)
    _report_data_warnings(caught)
    for name in ("train", "valid", "test"):
        print(_describe(f"shd {name}", getattr(splits, name), dt))
    return 0


def run_fsdd(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from fluctinit.cli import reject_inapplicable
    from fluctinit.datasets import FSDD_DURATION, convert_fsdd, download_fsdd, fsdd_file

    dt = check_dt(args.dt, FSDD_DURATION)
    workers = args.workers if args.workers is not None else max(1, len(os.sched_getaffinity(0)))
    if args.audio is not None:
        reject_inapplicable(args, "`fluctinit data fsdd --audio`", ("download_to", "url", "timeout"))
        audio = args.audio
    else:
        opts = {k: v for k, v in (("url", args.url), ("timeout", args.timeout)) if v is not None}
        audio = download_fsdd(args.download_to or Path(args.out) / "fsdd-audio", **opts)
    paths = convert_fsdd(audio, args.out, channels=args.channels, workers=workers, seed=args.seed,
                         test_speaker=args.test_speaker, model_rate=args.model_rate,
                         overwrite=args.overwrite,
                         progress=not args.quiet)
    for name, path in paths.items():
        print(f"{path}: " + _describe(f"fsdd {name}", fsdd_file(path, duration=FSDD_DURATION), dt)
              + f" (first {FSDD_DURATION:g} s; FSDD through SHD's cochlear model, not SHD)")
    return 0


def run_randman(args: argparse.Namespace) -> int:
    from fluctinit import datasets
    from fluctinit.datasets import RandmanConfig

    dt = check_dt(args.dt, RandmanConfig().duration)
    splits = datasets.make_randman(seed=args.seed, cache_dir=args.cache_dir)
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
        total = float(ds.lengths.sum())
        head = f"dvs-gesture {name}: {len(ds)} gestures, {ev.n_units} units (2x{ds.side}x{ds.side})"
        if ev.n_events == 0:
            print(head + ", 0 events: NO EVENTS AT ALL (every gesture is silent)")
            continue
        silent = int((ev.spike_counts() == 0).sum())
        print(head + f", {ev.n_events} events, mean length {ds.lengths.mean():.3f} s, "
              f"mean rate {ev.n_events / (ev.n_units * total):.3f} Hz before dropping"
              + (f", {silent} gestures without events" if silent else ""))
    return 0
