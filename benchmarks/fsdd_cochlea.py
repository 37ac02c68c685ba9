"""FSDD through SHD's cochlear model: per-stage time of fluctinit's vectorized chain against
lauscher's (the reference), side by side on the same recordings in one run.

    .venv/bin/python benchmarks/fsdd_cochlea.py [--audio ../shared/fsdd/recordings] [--n 3]
                                                [--channels 700] [--json]

Both run in this process on one core (lauscher with one job: ``num_concurrent_jobs = 1``, its
per-channel Pool of one worker).  Recordings: ``--n`` spread over the lengths (the shortest, the
median, ... the longest is left out: lauscher takes minutes on it).  Stages: basilar membrane
(normalization and ramps included), hair cells, bushy cells (fibre sampling and the cell).
Prints seconds per stage and recording for both and the ratio lauscher / fluctinit.
The numbers are "FSDD through lauscher", never SHD.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parents[1]
    ap.add_argument("--audio", default=str(here.parent / "shared" / "fsdd" / "recordings"))
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--channels", type=int, default=700)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from lauscher.audiowaves import MonoAudioWave
    from lauscher.firing_probability import FiringProbability
    from lauscher.helpers import CommandLineArguments
    from lauscher.transformations import BasilarMembrane, BushyCell, HairCell, HanningWindow, RmsNormalizer

    from fluctinit.datasets import cochlea as C
    from fluctinit.datasets import read_wav

    CommandLineArguments().num_concurrent_jobs = 1
    files = sorted(Path(a.audio).glob("*.wav"), key=lambda p: p.stat().st_size)
    pick = [files[int(i)] for i in np.linspace(0, len(files) // 2, a.n)]
    params = C.Cochlea(membrane=C.BasilarMembrane(channels=a.channels))
    # compile the kernels first (numba caches them on disk; the first call of a fresh install pays)
    x0 = read_wav(pick[0])
    C.cochlea_spikes(x0, 8000, np.random.default_rng(0), params)
    rows = []
    for path in pick:
        raw = read_wav(path)
        t = {}
        s = time.perf_counter()
        x = C.hanning_ramps(C.rms_normalize(raw))
        v, rate = C.basilar_membrane(x, 8000, params.membrane)
        t["ours_bm"] = time.perf_counter() - s
        s = time.perf_counter()
        p = C.hair_cells(v, rate)
        t["ours_hair"] = time.perf_counter() - s
        s = time.perf_counter()
        C.bushy_cell_spikes(C.fibre_spike_counts(p, rate, np.random.default_rng(0)), rate)
        t["ours_bushy"] = time.perf_counter() - s
        s = time.perf_counter()
        wave = MonoAudioWave(raw.copy(), 8000).transform(RmsNormalizer(0.3)).transform(HanningWindow())
        bm = wave.transform(BasilarMembrane(channels=a.channels))
        t["lauscher_bm"] = time.perf_counter() - s
        s = time.perf_counter()
        hc = bm.transform(HairCell())
        t["lauscher_hair"] = time.perf_counter() - s
        s = time.perf_counter()
        hc.transform(BushyCell())
        t["lauscher_bushy"] = time.perf_counter() - s
        assert isinstance(hc, FiringProbability)
        rows.append({"file": path.name, "seconds_audio": raw.shape[0] / 8000, **t})
    if a.json:
        print(json.dumps({"channels": a.channels, "rows": rows}, indent=1))
        return
    print(f"per recording, {a.channels} channels, one core (seconds; FSDD through the cochlea, not SHD)")
    print(f"{'recording':<22}{'audio s':>8}  {'stage':<8}{'lauscher':>10}{'fluctinit':>11}{'ratio':>8}")
    for r in rows:
        for stage in ("bm", "hair", "bushy"):
            lt, ot = r[f"lauscher_{stage}"], r[f"ours_{stage}"]
            print(f"{r['file']:<22}{r['seconds_audio']:>8.3f}  {stage:<8}{lt:>10.3f}{ot:>11.3f}{lt / ot:>8.0f}x")
        lt = sum(r[f"lauscher_{s}"] for s in ("bm", "hair", "bushy"))
        ot = sum(r[f"ours_{s}"] for s in ("bm", "hair", "bushy"))
        print(f"{'':<22}{'':>8}  {'total':<8}{lt:>10.3f}{ot:>11.3f}{lt / ot:>8.0f}x")


if __name__ == "__main__":
    main()
