"""Paper figure 5: homeostatic plasticity and homeostatic priming make deep networks robust to
the initialization.

Three-layer recurrent convolutional nets on SHD (paper table 5) over the target ``sigma_u``:
without homeostasis (``shd-conv3-rec``), with ongoing homeostatic plasticity (``shd-conv3-hom``:
a lower bound on every neuron's rate in the loss, methods eq. 60) and with homeostatic priming
(``shd-conv3-priming``: epochs on the homeostatic objective alone before supervised training).

* (a) each hidden layer's firing rate at initialization and after training (last epoch, Hz),
  for the smallest target: what the homeostatic term restores (the paper's 5a is a schematic);
* (b) validation accuracy against ``sigma_u``, with and without ongoing homeostasis;
* (c) the same with priming;
* (d) test error of each method at the targets where it trained (mean and std over seeds).

Needs SHD; ``--quick`` without it runs on generated stand-in files in SHD's format, labelled so.
"""

from __future__ import annotations

from ._items import Context, Item, Need
from ._runs import SweepSpec, aggregate, at_value, check_specs, data_need, item_sources, rows_of, sweep_need
from . import _plots as P
from . import _style as S

NAME = "fig5"
METHODS = {"none": ("shd-conv3-rec", "no homeostasis"), "ongoing": ("shd-conv3-hom", "homeostatic plasticity"),
           "priming": ("shd-conv3-priming", "homeostatic priming")}
FULL = {"sigma_us": [0.01, 0.05, 0.2, 0.5, 1, 2, 5], "seeds": [0, 1, 2], "epochs": None}
QUICK = {"sigma_us": [0.05, 0.2, 1, 5], "seeds": [0], "epochs": 3}
TINY = {"sigma_us": [0.05, 1], "seeds": [0], "epochs": 1}


def settings(ctx: Context) -> dict:
    return {"seed": 0, "dataset": "shd", **(TINY if ctx.tiny else QUICK if ctx.quick else FULL)}


def specs(ctx: Context, s: dict) -> dict[str, SweepSpec]:
    sfx = "_tiny" if ctx.tiny else "_quick" if ctx.quick else ""
    return {m: SweepSpec(f"fig5_{m}{sfx}", exp, {"init.sigma_u": s["sigma_us"]}, seeds=tuple(s["seeds"]),
                         epochs=s["epochs"], quick=ctx.quick) for m, (exp, _) in METHODS.items()}


def needs(ctx: Context, s: dict) -> list[Need]:
    return [data_need(ctx, "shd")] + [sweep_need(ctx, sp) for sp in specs(ctx, s).values()]


def compute(ctx: Context, s: dict) -> dict:
    check_specs(specs(ctx, s).values())
    data: dict = {"methods": {}, "notes": []}
    src = item_sources(ctx, ["shd"], data).get("shd")
    for m, sp in specs(ctx, s).items():
        data["methods"][m] = rows_of(ctx, sp, src)
    data["label"] = "SHD stand-in" if data.get("standins") else "SHD"
    return data


def plot(ctx: Context, s: dict, data: dict):
    fig = S.new_figure(S.PAGE, 2.3)
    a, b, c, d = fig.subplots(1, 4, gridspec_kw=dict(wspace=0.5, left=0.07, right=0.98, top=0.8, bottom=0.2))
    low = min(s["sigma_us"])
    profiles = []
    for i, (m, rows) in enumerate(data["methods"].items()):
        r = at_value(rows, "init.sigma_u", low)
        if r:
            if i == 0:
                profiles.append(("at init.", r[0]["rates_init_hz"]))
            profiles.append((f"trained: {METHODS[m][1]}", r[0]["rates_final_hz"]))
    P.layer_profile(a, profiles, ylabel="rate (Hz)")
    S.panel_label(a, "a", fr"rates, $\sigma_U$={low:g}")
    acc = {m: aggregate(rows, "init.sigma_u", "valid_accuracy") for m, rows in data["methods"].items()}
    P.over_sigma_u(b, [(METHODS["none"][1], acc["none"]), (METHODS["ongoing"][1], acc["ongoing"])],
                   ylabel="validation accuracy (%)")
    S.panel_label(b, "b", "ongoing homeostasis")
    P.over_sigma_u(c, [(METHODS["none"][1], acc["none"]), (METHODS["priming"][1], acc["priming"])],
                   ylabel="validation accuracy (%)")
    S.panel_label(c, "c", "priming")
    for i, (m, rows) in enumerate(data["methods"].items()):
        err = [100 * (1 - r["test_accuracy"]) for r in rows if r["status"] == "done" and r["test_accuracy"] is not None]
        if err:
            d.boxplot([err], positions=[i], widths=0.5, patch_artist=True,
                      boxprops=dict(facecolor=S.color(i), alpha=0.6), medianprops=dict(color="k"))
    d.set_xticks(range(len(METHODS)), ["none", "ongoing", "priming"])
    d.set_ylabel("test error (%)")
    S.panel_label(d, "d", "test error, all targets")
    fig.suptitle(f"Figure 5: homeostasis against target $\\sigma_U$, 3-layer recurrent conv. nets on {data['label']}",
                 fontsize=7, y=0.97)
    return fig


ITEMS = {NAME: Item(NAME, "homeostatic plasticity and priming against sigma_u", settings, needs, compute, plot)}
