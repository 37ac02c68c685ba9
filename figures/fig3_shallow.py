"""Paper figure 3: shallow networks on Randman and SHD -- training, the initialization grid,
and what the target sigma_u does at initialization.

Panels (paper section 2.2, figure 3), one set per data set present (Randman: b, c; SHD: d, e):

* (b)/(d) training curve of the feed-forward net (``randman-ff``/``shd-ff``, paper table 4)
  initialized with target ``sigma_u = 1``, ``mu_u = 0``: training, validation and test
  accuracy per epoch.
* (c)/(e) validation accuracy after training over hidden weights ``W ~ N(mu_W, sigma_W^2)``
  (``init.method = normal``), with the band ``1 <= xi <= 3`` the theory predicts for the data's
  fan-in ``n`` and rate ``nu``: ``mu_U = n mu_W nu eps_bar``, ``sigma_U^2 = n (sigma_W^2 + mu_W^2)
  nu eps_hat`` (eqs. 4-5), ``xi = (theta - mu_U) / sigma_U``.
* (f)-(i) over the target ``sigma_u``: final validation and test accuracy (f); the hidden
  layer's firing rate at initialization (g, Hz); the surrogate-gradient magnitude per layer,
  mean ``|dL/dS|`` of the hidden layer and ``|dL/dU|`` of the readout at the first training step
  (h); the weight-update magnitude per layer, mean ``|Delta w|`` of that step (i).  The paper
  shows (f)-(i) on SHD; here both data sets, Randman solid, SHD dashed.

Runs: sweeps of ``init.sigma_u`` and of ``(mu_W, sigma_W)`` through the sweep engine
(:mod:`fluctinit.figures._runs`).  The full Randman grid (200 epochs, 20 cells) is also
committed as ``figures/sweeps/fig3c_randman.csv`` with its ``.sweep.json``: used when its
record matches and no run folder holds the grid.  SHD missing: its panels are left out (full
mode) or drawn on generated stand-in files, labelled so (``--quick``).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from ._items import Context, Item, Need
from ._runs import (SweepSpec, at_value, check_specs, data_need, item_sources, label, number, rows_of, run_spec,
                    spec_config, sweep_need)
from . import _plots as P
from . import _style as S

NAME = "fig3"
EXPERIMENTS = {"randman": "randman-ff", "shd": "shd-ff"}
COMMITTED = Path(__file__).resolve().parent / "sweeps"
FULL = {"sigma_us": [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10],
        "mu_w": [-3.0, -2.0, -1.0, 0.0, 1.0], "sigma_w": [0.01, 0.1, 1.0, 10.0], "epochs": None}
QUICK = {"sigma_us": [0.1, 0.5, 1, 2, 5], "mu_w": [-2.0, -1.0, 0.0, 1.0], "sigma_w": [0.1, 1.0, 10.0], "epochs": 20}
TINY = {"sigma_us": [0.5, 1], "mu_w": [-1.0, 0.0], "sigma_w": [0.1, 1.0], "epochs": 1}


def settings(ctx: Context) -> dict:
    size = TINY if ctx.tiny else QUICK if ctx.quick else FULL
    return {"seed": 0, "seeds": [0], "datasets": ["randman", "shd"], "reference_sigma_u": 1, **size}


def _suffix(s: dict, ctx: Context) -> str:
    return "_tiny" if ctx.tiny else "_quick" if ctx.quick else ""


def specs(ctx: Context, s: dict, dataset: str) -> dict[str, SweepSpec]:
    """The two sweeps of a data set: ``sigma_u`` (f-i and the curve) and ``grid`` (c/e)."""
    common = dict(seeds=tuple(s["seeds"]), epochs=s["epochs"], quick=ctx.quick)
    sfx = _suffix(s, ctx)
    return {
        "sigma_u": SweepSpec(f"fig3_{dataset}_sigma_u{sfx}", EXPERIMENTS[dataset],
                             {"init.sigma_u": s["sigma_us"]}, **common),
        "grid": SweepSpec(f"fig3c_{dataset}{sfx}" if dataset == "randman" else f"fig3e_{dataset}{sfx}",
                          EXPERIMENTS[dataset],
                          {"init.method": ["normal"], "init.mu_w": s["mu_w"], "init.sigma_w": s["sigma_w"]}, **common),
    }


def committed_grid(spec: SweepSpec) -> list[dict] | None:
    """The committed results table of ``spec`` (``figures/sweeps/<tag>.csv``) when its record
    holds this very sweep (config, grid, seeds), else None."""
    table, record = COMMITTED / f"{spec.tag}.csv", COMMITTED / f"{spec.tag}.sweep.json"
    if not (table.is_file() and record.is_file()):
        return None
    rec = json.loads(record.read_text())
    base = spec_config(spec)
    if spec.epochs is not None:
        base["training"]["epochs"] = spec.epochs
    from fluctinit.training.checkpoint import run_differences  # the rule a sweep's resume applies

    same = (isinstance(rec.get("base"), dict) and not run_differences(rec["base"], None, base, None)
            and rec.get("grid") == spec.grid and rec.get("seeds") == list(spec.seeds))
    if not same:
        return None
    with open(table, newline="") as f:
        return list(csv.DictReader(f))


def needs(ctx: Context, s: dict) -> list[Need]:
    out = [data_need(ctx, "shd", required=False)]
    for ds in s["datasets"]:
        if ds != "randman" and not (out[0].present or ctx.quick):
            continue
        sp = specs(ctx, s, ds)
        out.append(sweep_need(ctx, sp["sigma_u"]))
        grid = sp["grid"]
        if not ctx.runs.joinpath(grid.tag).exists() and committed_grid(grid) is not None:
            out.append(Need(f"sweep {grid.tag}", "run", True, f"committed table {COMMITTED / (grid.tag + '.csv')}"))
        else:
            out.append(sweep_need(ctx, grid))
    return out


def _dataset(ctx: Context, s: dict, dataset: str, source) -> dict:
    sp = specs(ctx, s, dataset)
    rows = [dict(r, sigma_u=r["values"]["init.sigma_u"]) for r in rows_of(ctx, sp["sigma_u"], source)]
    ref = at_value(rows, "init.sigma_u", s["reference_sigma_u"])
    curve = dict(ref[0]["curve"], final_test=ref[0]["test_accuracy"]) if ref and ref[0]["curve"] else None
    nu = next((r["nu_hz"] for r in rows if r["nu_hz"] is not None), None)
    grid_spec = sp["grid"]
    table = None
    if not ctx.runs.joinpath(grid_spec.tag).exists():
        table = committed_grid(grid_spec)
    grid_source = f"committed table figures/sweeps/{grid_spec.tag}.csv" if table is not None else "run here"
    if table is None:
        table = [dict(c.row) for c in run_spec(ctx, grid_spec, source)]
    acc = [[None] * len(s["sigma_w"]) for _ in s["mu_w"]]
    for row in table:
        i = [k for k, m in enumerate(s["mu_w"]) if math.isclose(m, float(row["init.mu_w"]))]
        j = [k for k, w in enumerate(s["sigma_w"]) if math.isclose(w, float(row["init.sigma_w"]))]
        if i and j:
            acc[i[0]][j[0]] = number(row.get("valid_accuracy"))
    config = spec_config(sp["sigma_u"])
    from fluctinit.theory import kernel_integrals

    net = config["network"]
    k = kernel_integrals(net["tau_mem"], net["tau_syn"], config["data"]["dt"])
    fan_in = int(net["n_in"]) if not isinstance(net["n_in"], list) else int(math.prod(net["n_in"]))
    return {"label": label(dataset) + (" stand-in" if source.standin else ""), "sigma_u_runs": rows, "curve": curve,
            "grid": {"mu_w": s["mu_w"], "sigma_w": s["sigma_w"], "valid_accuracy": acc, "source": grid_source,
                     "epochs": int(config["training"]["epochs"] if s["epochs"] is None else s["epochs"])},
            "theory": {"fan_in": fan_in, "nu": float(nu) if nu is not None else None, "epsilon_bar": k.epsilon_bar,
                       "epsilon_hat": k.epsilon_hat, "theta": float(net.get("theta", 1.0))}}


def compute(ctx: Context, s: dict) -> dict:
    check_specs([sp for ds in s["datasets"] for sp in specs(ctx, s, ds).values()])
    data: dict = {"datasets": {}, "notes": []}
    for ds, src in item_sources(ctx, s["datasets"], data).items():
        data["datasets"][ds] = _dataset(ctx, s, ds, src)
    return data


# ----------------------------------------------------------------------------- plotting
def _xi(theory: dict, mu_w, sigma_w):
    import numpy as np

    n, nu, eb, eh = theory["fan_in"], theory["nu"], theory["epsilon_bar"], theory["epsilon_hat"]
    mu = n * mu_w * nu * eb
    sd = np.sqrt(n * (sigma_w ** 2 + mu_w ** 2) * nu * eh)
    return (theory["theta"] - mu) / sd


def _edges(values, log: bool):
    import numpy as np

    v = np.asarray(values, float)
    if len(v) == 1:
        return np.array([v[0] / 3, v[0] * 3]) if log else np.array([v[0] - 0.5, v[0] + 0.5])
    x = np.log10(v) if log else v
    mid = (x[1:] + x[:-1]) / 2
    e = np.concatenate([[x[0] - (mid[0] - x[0])], mid, [x[-1] + (x[-1] - mid[-1])]])
    return 10 ** e if log else e


def _grid_panel(fig, ax, d: dict, letter: str) -> None:
    import numpy as np

    g = d["grid"]
    acc = np.array([[np.nan if v is None else v for v in row] for row in g["valid_accuracy"]], float)
    xe, ye = _edges(g["sigma_w"], True), _edges(g["mu_w"], False)
    m = ax.pcolormesh(xe, ye, acc * 100, cmap="viridis", vmin=0, vmax=100, shading="flat")
    for i, mu in enumerate(g["mu_w"]):
        for j, sw in enumerate(g["sigma_w"]):
            if np.isfinite(acc[i, j]):
                ax.text(sw, mu, f"{acc[i, j] * 100:.0f}", ha="center", va="center", fontsize=5,
                        color="w" if acc[i, j] < 0.6 else "k")
    th = d["theory"]
    if th["nu"]:
        X, Y = np.meshgrid(np.logspace(np.log10(xe[0]), np.log10(xe[-1]), 200), np.linspace(ye[0], ye[-1], 200))
        xi = _xi(th, Y, X)
        ax.contourf(X, Y, xi, levels=[1, 3], colors="none", hatches=["////"])
        cs = ax.contour(X, Y, xi, levels=[1, 3], colors=[S.color(3)], linewidths=0.9)
        ax.clabel(cs, fmt={1: r"$\xi$=1", 3: r"$\xi$=3"}, fontsize=5)
    S.log_axis(ax, "x")
    ax.set_xlabel(r"$\sigma_W$")
    ax.set_ylabel(r"$\mu_W$")
    S.panel_label(ax, letter, f"{d['label']} grid")
    ax.text(0.02, 0.02, f"after {g['epochs']} epochs", transform=ax.transAxes, fontsize=5, color="w")
    bar = fig.colorbar(m, ax=ax, fraction=0.05, pad=0.02)
    bar.ax.tick_params(labelsize=5)
    bar.set_label("valid. accuracy (%)", fontsize=5)


def _positive(values):
    return [v if (v is not None and v > 0) else float("nan") for v in values]


def _sweep_panels(axes, data: dict) -> None:
    import numpy as np

    dash = {"randman": "-", "shd": "--"}
    for ds, d in data["datasets"].items():
        rows = [r for r in d["sigma_u_runs"] if r["status"] == "done"]
        if not rows:
            continue
        x = [r["sigma_u"] for r in rows]
        ls = dash.get(ds, ":")
        axes[0].plot(x, [r["valid_accuracy"] * 100 for r in rows], ls, marker="o", color=S.color(0),
                     label=f"{d['label']} valid.")
        axes[0].plot(x, [r["test_accuracy"] * 100 for r in rows], ls, marker="s", color=S.color(1),
                     label=f"{d['label']} test")
        n_hidden = len(rows[0]["rates_init_hz"] or [])
        for layer in range(n_hidden):
            axes[1].plot(x, [r["rates_init_hz"][layer] for r in rows], ls, marker="o", color=S.color(2),
                         label=f"{d['label']} hidden")
        names = rows[0]["layers"] or []
        for k in range(len(rows[0]["sg_init"] or [])):
            who = "readout" if k == len(rows[0]["sg_init"]) - 1 else f"hidden {k + 1}"
            axes[2].plot(x, _positive([r["sg_init"][k] for r in rows]), ls, marker="o", color=S.color(4 + k),
                         label=f"{d['label']} {who}")
        for k in range(len(rows[0]["dw_init"] or [])):
            who = "readout" if "readout" in (names[k] if k < len(names) else "") else f"hidden {k + 1}"
            axes[3].plot(x, _positive([r["dw_init"][k] for r in rows]), ls, marker="o", color=S.color(4 + k),
                         label=f"{d['label']} {who}")
    titles = (("f", "accuracy (%)"), ("g", "hidden rate at init."),
              ("h", "surrogate gradient"), ("i", "weight update"))
    ylabels = ("accuracy after training (%)", "rate (Hz)", r"mean $|\partial L/\partial S|$, $|\partial L/\partial U|$",
               r"mean $|\Delta w|$, first step")
    xs = [r["sigma_u"] for d in data["datasets"].values() for r in d["sigma_u_runs"]]
    for ax, (letter, title), ylabel in zip(axes, titles, ylabels):
        S.log_axis(ax, "x")
        ax.set_ylabel(ylabel)
        if xs:
            ax.set_xlim(min(xs) / 1.3, max(xs) * 1.3)
        ax.set_xlabel(r"target $\sigma_U$")
        ax.axvspan(1 / 3, 1, color="0.9", lw=0, zorder=0)
        S.panel_label(ax, letter, title)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=4.5, loc="best")
    axes[0].set_ylim(0, 102)
    for ax in axes[2:]:
        ys = np.array([y for ln in ax.get_lines() for y in ln.get_ydata()], float)
        if (np.isfinite(ys) & (ys > 0)).any():
            ax.set_yscale("log")


def plot(ctx: Context, s: dict, data: dict):
    import matplotlib.gridspec as gridspec

    present = list(data["datasets"])
    fig = S.new_figure(S.PAGE, 4.6)
    outer = gridspec.GridSpec(2, 1, figure=fig, hspace=0.55, left=0.07, right=0.98, top=0.87, bottom=0.11)
    top = gridspec.GridSpecFromSubplotSpec(1, max(2 * len(present), 1), subplot_spec=outer[0], wspace=0.6)
    letters = {"randman": ("b", "c"), "shd": ("d", "e")}
    for i, ds in enumerate(present):
        d = data["datasets"][ds]
        ax = fig.add_subplot(top[0, 2 * i])
        P.curve(ax, d["curve"], "")
        S.panel_label(ax, letters[ds][0], f"{d['label']}, $\\sigma_U$={s['reference_sigma_u']:g}")
        if d["curve"]:
            ax.text(0.98, 0.35, f"test {d['curve']['final_test'] * 100:.1f}%", transform=ax.transAxes, ha="right",
                    fontsize=6)
        _grid_panel(fig, fig.add_subplot(top[0, 2 * i + 1]), d, letters[ds][1])
    bottom = gridspec.GridSpecFromSubplotSpec(1, 4, subplot_spec=outer[1], wspace=0.45)
    _sweep_panels([fig.add_subplot(bottom[0, k]) for k in range(4)], data)
    names = " and ".join(data["datasets"][d]["label"] for d in present) or "no data"
    fig.suptitle(f"Figure 3: shallow networks on {names} (hatched: theory's $1\\leq\\xi\\leq3$; "
                 r"shaded: $1/3\leq\sigma_U\leq1$)", fontsize=7, y=0.985)
    for k, note in enumerate(data.get("notes", [])):
        fig.text(0.5, 0.952 - 0.02 * k, note, ha="center", fontsize=5, color="0.3")
    return fig


ITEMS = {NAME: Item(NAME, "shallow networks: training, (mu_W, sigma_W) grid, sigma_u at initialization",
                    settings, needs, compute, plot)}
