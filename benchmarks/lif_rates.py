"""Single-layer firing rate with threshold and reset: predicted against simulated, over sigma_u
in [0.1, 3] and mu_u in [-1, 0.5], by fluctinit.theory.lif_stationary (the discrete update's
stationary state on a (U, I) grid) and lif_rate (Siegert with the colored-noise correction);
also the membrane mean and std with reset (lif_stationary; Brunel's density; the mean also from
the reset's linear identity, lif_reset_mean) against simulated.

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
    from fluctinit.theory import lif_membrane_moments, lif_rate, lif_reset_mean, lif_stationary

    ctx = Context(out=Path(tempfile.mkdtemp()), quick=quick, quiet=True)
    rows = []
    for mu in MU_US:
        s = dict(F1.settings(ctx), mu_u=mu, sigma_us=SIGMA_US, xis=[], trace_sigma_u=SIGMA_US[0])
        data = F1.compute(ctx, s)
        for r in data["sweep"]:
            kw = dict(tau_mem=s["tau_mem"], tau_syn=s["tau_syn"], theta=s["theta"])
            m, sd = lif_membrane_moments(mu, r["sigma_u"], **kw)
            rate = lif_rate(mu, r["sigma_u"], **kw)
            st = lif_stationary(mu, r["sigma_u"], dt=s["dt"], **kw)
            rows.append(dict(mu_u=mu, sigma_u=r["sigma_u"], rate_sim=r["rate_reset"], rate_sim_se=r["rate_reset_se"],
                             rate_pred=rate,
                             mean_linear=lif_reset_mean(mu, rate, tau_mem=s["tau_mem"], dt=s["dt"], theta=s["theta"]),
                             rate_white=lif_rate(mu, r["sigma_u"], colored=False, **kw),
                             mean_sim=r["mean_reset"], mean_pred=m, std_sim=r["std_reset"], std_pred=sd,
                             rate_grid=st.rate, mean_grid=st.mean, std_grid=st.std))
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
    print("mu_u  sigma_u  rate sim (Hz) +- se   grid  grid/sim   Siegert-FB  S/sim  white-noise"
          "   mean sim/grid/density/linear   std sim/grid/density")
    for r in rows:
        sim = r["rate_sim"]

        def ratio(v):
            return v / sim if sim > 0 else float("nan")
        print(f"{r['mu_u']:4.1f}  {r['sigma_u']:7.2f}  {sim:9.3g} +- {r['rate_sim_se']:7.2g}  {r['rate_grid']:9.3g}"
              f"  {ratio(r['rate_grid']):6.2f}  {r['rate_pred']:9.3g}  {ratio(r['rate_pred']):6.2f}  {r['rate_white']:9.3g}"
              f"   {r['mean_sim']:6.3f}/{r['mean_grid']:6.3f}/{r['mean_pred']:6.3f}/{r['mean_linear']:6.3f}"
              f"   {r['std_sim']:6.3f}/{r['std_grid']:6.3f}/{r['std_pred']:6.3f}")

if __name__ == "__main__":
    main()
