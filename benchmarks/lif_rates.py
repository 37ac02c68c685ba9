"""Single-layer firing rate with threshold and reset: predicted (fluctinit.theory.lif_rate,
Siegert with the colored-noise correction) against simulated, over sigma_u in [0.1, 3] and
mu_u in [-1, 0.5]; also the membrane mean and std with reset (Brunel's density; the mean also from the reset's
linear identity, lif_reset_mean) against simulated.

    python benchmarks/lif_rates.py [--quick] [--json]

The simulation is figure 1's (fluctinit.figures.fig1_regime: 500 Poisson inputs at 10 Hz, Poisson
counts per step, weights from eq. 9 centred on each neuron's target mean, threshold 1, reset to 0,
dt 2 ms), one run per mu_u.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

SIGMA_US = [0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0]
MU_US = [-1.0, -0.5, 0.0, 0.5]


def measure(quick: bool) -> list[dict]:
    from fluctinit.figures import fig1_regime as F1
    from fluctinit.figures._items import Context
    from fluctinit.theory import lif_membrane_moments, lif_rate, lif_reset_mean

    ctx = Context(out=Path(tempfile.mkdtemp()), quick=quick, quiet=True)
    rows = []
    for mu in MU_US:
        s = dict(F1.settings(ctx), mu_u=mu, sigma_us=SIGMA_US, xis=[], trace_sigma_u=SIGMA_US[0])
        data = F1.compute(ctx, s)
        for r in data["sweep"]:
            kw = dict(tau_mem=s["tau_mem"], tau_syn=s["tau_syn"], theta=s["theta"])
            m, sd = lif_membrane_moments(mu, r["sigma_u"], **kw)
            rate = lif_rate(mu, r["sigma_u"], **kw)
            rows.append(dict(mu_u=mu, sigma_u=r["sigma_u"], rate_sim=r["rate_reset"], rate_sim_se=r["rate_reset_se"],
                             rate_pred=rate,
                             mean_linear=lif_reset_mean(mu, rate, tau_mem=s["tau_mem"], dt=s["dt"], theta=s["theta"]),
                             rate_white=lif_rate(mu, r["sigma_u"], colored=False, **kw),
                             mean_sim=r["mean_reset"], mean_pred=m, std_sim=r["std_reset"], std_pred=sd))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer neurons and trials")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    rows = measure(a.quick)
    if a.json:
        print(json.dumps(rows))
        return
    print("mu_u  sigma_u  rate sim (Hz) +- se   predicted  pred/sim  white-noise   mean sim/density/linear   std sim/density")
    for r in rows:
        ratio = r["rate_pred"] / r["rate_sim"] if r["rate_sim"] > 0 else float("nan")
        print(f"{r['mu_u']:4.1f}  {r['sigma_u']:7.2f}  {r['rate_sim']:9.3f} +- {r['rate_sim_se']:6.3f}  {r['rate_pred']:9.3f}"
              f"  {ratio:8.2f}  {r['rate_white']:10.3f}   {r['mean_sim']:6.3f}/{r['mean_pred']:6.3f}/{r['mean_linear']:6.3f}"
              f"   {r['std_sim']:6.3f}/{r['std_pred']:6.3f}")


if __name__ == "__main__":
    main()
