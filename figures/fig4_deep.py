"""Paper figure 4: deep recurrent convolutional networks on SHD -- sensitivity to the target
sigma_u grows with depth, and why (activity and gradients through the layers).

Panels (paper section 2.3, figure 4):

* (a) validation accuracy after training against the target ``sigma_u`` for 1, 3, 7 and 10
  recurrent hidden layers (``shd-conv{1,3,7,10}-rec``, paper table 5), mean and std over seeds;
* (b) test error at ``sigma_u = 1`` by depth, recurrent against feed-forward
  (``shd-conv{1,3,7,10}-ff``);
* (c) epochs to 90 % training accuracy against ``sigma_u`` for 1 and 3 layers (missing where
  never reached);
* (d)-(f) the 7-layer net at initialization, one line per target ``sigma_u``: each hidden
  layer's firing rate (Hz), surrogate-gradient magnitude (mean ``|dL/dS|``, last point: the
  readout's ``|dL/dU|``) and weight-update magnitude (mean ``|Delta w|`` of the first step).

Needs SHD (``shd_train.h5``, ``shd_test.h5`` in the data root); ``--quick`` without it runs on
generated stand-in files in SHD's format and says so in the figure.
"""

from __future__ import annotations

from ._items import Context, Item, Need
from ._runs import SweepSpec, aggregate, at_value, check_specs, data_need, item_sources, rows_of, sweep_need
from . import _plots as P
from . import _style as S

NAME = "fig4"
FULL = {"depths": [1, 3, 7, 10], "sigma_us": [0.05, 0.2, 0.5, 1, 2, 5, 20], "seeds": [0, 1, 2], "epochs": None,
        "profile_depth": 7, "speed_depths": [1, 3]}
QUICK = {"depths": [1, 3, 7, 10], "sigma_us": [0.2, 1, 2, 20], "seeds": [0], "epochs": 3, "profile_depth": 7,
         "speed_depths": [1, 3]}
TINY = {"depths": [1, 3], "sigma_us": [0.5, 1], "seeds": [0], "epochs": 1, "profile_depth": 3, "speed_depths": [1]}


def settings(ctx: Context) -> dict:
    return {"seed": 0, "dataset": "shd", **(TINY if ctx.tiny else QUICK if ctx.quick else FULL)}


def specs(ctx: Context, s: dict) -> dict[str, dict[int, SweepSpec]]:
    sfx = "_tiny" if ctx.tiny else "_quick" if ctx.quick else ""
    common = dict(seeds=tuple(s["seeds"]), epochs=s["epochs"], quick=ctx.quick)
    return {
        "rec": {d: SweepSpec(f"fig4_conv{d}_rec{sfx}", f"shd-conv{d}-rec", {"init.sigma_u": s["sigma_us"]}, **common)
                for d in s["depths"]},
        "ff": {d: SweepSpec(f"fig4_conv{d}_ff{sfx}", f"shd-conv{d}-ff", {"init.sigma_u": [1]}, **common)
               for d in s["depths"]},
    }


def needs(ctx: Context, s: dict) -> list[Need]:
    return [data_need(ctx, "shd")] + [sweep_need(ctx, sp) for group in specs(ctx, s).values() for sp in group.values()]


def compute(ctx: Context, s: dict) -> dict:
    check_specs([sp for group in specs(ctx, s).values() for sp in group.values()])
    data: dict = {"rec": {}, "ff": {}, "notes": []}
    src = item_sources(ctx, ["shd"], data).get("shd")
    for kind, group in specs(ctx, s).items():
        for d, sp in group.items():
            data[kind][str(d)] = rows_of(ctx, sp, src)
    data["label"] = "SHD stand-in" if data.get("standins") else "SHD"
    return data


def plot(ctx: Context, s: dict, data: dict):
    fig = S.new_figure(S.PAGE, 4.4)
    axes = fig.subplots(2, 3, gridspec_kw=dict(hspace=0.6, wspace=0.4, left=0.08, right=0.98, top=0.9, bottom=0.1))
    (a, b, c), (d, e, f) = axes
    rec = data["rec"]
    P.over_sigma_u(a, [(f"{k} layer{'s' * (k != '1')}", aggregate(rows, "init.sigma_u", "valid_accuracy"))
                       for k, rows in rec.items()], ylabel="validation accuracy (%)")
    S.panel_label(a, "a", f"{data['label']}: accuracy by depth")
    for i, kind in enumerate(("rec", "ff")):
        xs, ys, es = [], [], []
        for k, rows in data[kind].items():
            agg = aggregate(at_value(rows, "init.sigma_u", 1), "init.sigma_u", "test_accuracy")
            if agg and agg[0]["mean"] is not None:
                xs.append(int(k))
                ys.append(100 * (1 - agg[0]["mean"]))
                es.append(100 * agg[0]["std"])
        b.errorbar(xs, ys, yerr=es, marker="o", color=S.color(i), capsize=2, label="recurrent" if kind == "rec"
                   else "feed-forward")
    b.set_xlabel("hidden layers")
    b.set_ylabel("test error (%)")
    b.set_xticks([int(k) for k in data["rec"]])
    b.legend()
    S.panel_label(b, "b", r"test error at $\sigma_U$=1")
    P.over_sigma_u(c, [(f"{k} layer{'s' * (int(k) != 1)}", aggregate(rec[str(k)], "init.sigma_u", "epochs_to_90"))
                       for k in s["speed_depths"] if str(k) in rec], ylabel="epochs to 90% train acc.", percent=False,
                  empty="90% training accuracy not reached")
    S.panel_label(c, "c", "training speed")
    deep = rec.get(str(s["profile_depth"]), [])
    for ax, key, letter, title, ylabel in ((d, "rates_init_hz", "d", "rates at init.", "rate (Hz)"),
                                           (e, "sg_init", "e", "surrogate gradients at init.", r"mean $|\partial L/\partial S|$"),
                                           (f, "dw_init", "f", "weight updates", r"mean $|\Delta w|$, first step")):
        profiles = []
        for sigma in s["sigma_us"]:
            rows = at_value(deep, "init.sigma_u", sigma)
            profiles.append((fr"$\sigma_U$={sigma:g}", rows[0][key] if rows else None))
        P.layer_profile(ax, profiles, ylabel=ylabel, log_y=True)
        S.panel_label(ax, letter, f"{s['profile_depth']} layers: {title}")
    e.text(0.98, 0.02, "last point: readout", transform=e.transAxes, ha="right", fontsize=5, color="0.4")
    fig.suptitle(f"Figure 4: deep recurrent convolutional networks on {data['label']} (shaded: "
                 r"$1/3\leq\sigma_U\leq1$)", fontsize=7, y=0.975)
    return fig


ITEMS = {NAME: Item(NAME, "deep convolutional SHD networks: accuracy, error, speed, activity and gradients by depth",
                    settings, needs, compute, plot)}
