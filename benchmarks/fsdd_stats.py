"""Describe converted FSDD spike files (FSDD through SHD's cochlear model, not SHD).

    .venv/bin/python benchmarks/fsdd_stats.py OUTDIR [--dt 0.002] [--duration 0.7] [--json]

Per file and both together: samples, recording durations (min / median / 95 % / max, from
``extra/duration``), spikes per sample (mean, sd, min, max), the mean rate per channel over the
first ``--duration`` seconds (across channels: mean, min, max, the fraction of silent channels)
and over each recording's own length, and the fraction of active (channel, ``--dt``) bins in the
first ``--duration`` seconds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import h5py
import numpy as np


def describe(paths, dt: float, duration: float) -> dict:
    times, units, dur, n_units = [], [], [], None
    for p in paths:
        with h5py.File(p, "r") as fh:
            times += [np.asarray(t, np.float64) for t in fh["spikes/times"][()]]
            units += [np.asarray(u, np.int64) for u in fh["spikes/units"][()]]
            dur += list(fh["extra/duration"][()])
            n_units = int(fh.attrs["channels"])
    dur = np.asarray(dur, np.float64)
    n = len(times)
    counts = np.array([t.size for t in times])
    n_bins = int(np.ceil(duration / dt))
    rate_window = np.zeros(n_units)
    active = 0
    for t, u in zip(times, units):
        keep = t < duration
        rate_window += np.bincount(u[keep], minlength=n_units)
        active += np.unique(u[keep] * n_bins + np.floor(t[keep] / dt).astype(np.int64)).size
    rate_window /= n * duration
    return {
        "samples": n,
        "channels": n_units,
        "duration_s": {"min": dur.min(), "median": float(np.median(dur)), "p95": float(np.percentile(dur, 95)),
                       "max": dur.max(), "share_over_window": float((dur > duration).mean())},
        "spikes_per_sample": {"mean": counts.mean(), "sd": counts.std(ddof=1), "min": int(counts.min()),
                              "max": int(counts.max())},
        "rate_hz_in_window": {"mean": rate_window.mean(), "min": rate_window.min(), "max": rate_window.max(),
                              "silent_channels": float((rate_window == 0).mean())},
        "rate_hz_over_recording": float(counts.sum() / (n_units * dur.sum())),
        "active_bin_fraction": active / (n * n_units * n_bins),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--dt", type=float, default=2e-3)
    ap.add_argument("--duration", type=float, default=0.7)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    out = Path(a.out)
    files = {"train": [out / "fsdd_train.h5"], "test": [out / "fsdd_test.h5"]}
    files["all"] = files["train"] + files["test"]
    res = {k: describe(v, a.dt, a.duration) for k, v in files.items()}
    if a.json:
        print(json.dumps(res, indent=1, default=float))
        return
    print(f"FSDD through SHD's cochlear model (not SHD); window {a.duration:g} s, bins {a.dt * 1e3:g} ms")
    for k, r in res.items():
        d, s, q = r["duration_s"], r["spikes_per_sample"], r["rate_hz_in_window"]
        print(f"{k}: {r['samples']} samples x {r['channels']} channels; duration {d['min']:.3f} / "
              f"{d['median']:.3f} / {d['p95']:.3f} / {d['max']:.3f} s (min/median/95%/max), "
              f"{100 * d['share_over_window']:.1f} % longer than the window")
        print(f"  spikes per sample {s['mean']:.0f} +- {s['sd']:.0f} ({s['min']}..{s['max']}); rate per channel "
              f"in the window {q['mean']:.2f} Hz (channels {q['min']:.2f}..{q['max']:.2f}, "
              f"{100 * q['silent_channels']:.1f} % silent), over the recordings {r['rate_hz_over_recording']:.2f} Hz; "
              f"active (channel, {a.dt * 1e3:g} ms) bins {100 * r['active_bin_fraction']:.2f} %")


if __name__ == "__main__":
    main()
