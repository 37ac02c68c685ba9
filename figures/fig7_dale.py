"""Paper figure 7: networks obeying Dale's law, initialized in the fluctuation-driven regime.

* (a) the initialization itself: mean weights ``1/lambda`` of the feed-forward excitatory,
  recurrent excitatory and recurrent inhibitory populations (exponential distributions,
  methods eqs. 48-55, balanced ``mu_u = 0``) against the target ``sigma_u``, for the
  ``shd-dale`` layer (700 inputs, 128 excitatory and 32 inhibitory neurons, ``nu`` = 15.8 Hz,
  ``alpha`` = 0.9; table 3's kernels, discrete) -- the paper's 7a is a schematic;
* (b) training curve of the recurrent Dalian net (``shd-dale``, table 4) at ``sigma_u = 1``;
* (c) validation and test accuracy against ``sigma_u``: Dalian (``shd-dale``) against the
  non-Dalian recurrent net of the same size (``shd-rec-160``);
* (d) the same for three-layer recurrent convolutional nets (``shd-conv3-dale`` against
  ``shd-conv3-rec``).

Needs SHD; ``--quick`` without it runs on generated stand-in files in SHD's format, labelled so.
"""

from __future__ import annotations

from ._items import Context, Item, Need
from ._runs import SweepSpec, aggregate, at_value, check_specs, data_need, item_sources, rows_of, spec_config, sweep_need
from . import _plots as P
from . import _style as S

NAME = "fig7"
PAIRS = {"dense": ("shd-dale", "shd-rec-160"), "conv": ("shd-conv3-dale", "shd-conv3-rec")}
FULL = {"sigma_us": [0.05, 0.2, 0.5, 1, 2, 5, 20], "seeds": [0, 1, 2], "epochs": None}
QUICK = {"sigma_us": [0.2, 1, 5], "seeds": [0], "epochs": 3}
TINY = {"sigma_us": [0.5, 1], "seeds": [0], "epochs": 1}
THEORY_SIGMA_US = [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20]


def settings(ctx: Context) -> dict:
    return {"seed": 0, "dataset": "shd", **(TINY if ctx.tiny else QUICK if ctx.quick else FULL)}


def specs(ctx: Context, s: dict) -> dict[str, SweepSpec]:
    sfx = "_tiny" if ctx.tiny else "_quick" if ctx.quick else ""
    return {exp: SweepSpec(f"fig7_{exp}{sfx}", exp, {"init.sigma_u": s["sigma_us"]}, seeds=tuple(s["seeds"]),
                           epochs=s["epochs"], quick=ctx.quick) for pair in PAIRS.values() for exp in pair}


def needs(ctx: Context, s: dict) -> list[Need]:
    return [data_need(ctx, "shd")] + [sweep_need(ctx, sp) for sp in specs(ctx, s).values()]


def dale_means(config: dict) -> list[dict]:
    """Mean weights of the Dale's-law initialization of ``config``'s first hidden layer over
    :data:`THEORY_SIGMA_US` (:func:`fluctinit.theory.dale_params`)."""
    from fluctinit.theory import dale_params, kernel_integrals

    net, init, dt = config["network"], config["init"], config["data"]["dt"]
    k_exc = kernel_integrals(net["tau_mem"], net["tau_syn"], dt)
    k_inh = kernel_integrals(net["tau_mem_inh"], net["tau_syn_inh"], dt)
    rows = []
    for sigma in THEORY_SIGMA_US:
        p = dale_params(net["n_in"], net["n_inh"][0], init["nu"], sigma_u=sigma, n_exc_rec=net["hidden"][0],
                        alpha=init["alpha"], kernel_exc=k_exc, kernel_inh=k_inh)
        rows.append({"sigma_u": sigma, "mean_exc": p.mean_exc, "mean_exc_rec": p.mean_exc_rec, "mean_inh": p.mean_inh})
    return rows


def compute(ctx: Context, s: dict) -> dict:
    check_specs(specs(ctx, s).values())
    data: dict = {"runs": {}, "notes": []}
    src = item_sources(ctx, ["shd"], data).get("shd")
    for exp, sp in specs(ctx, s).items():
        data["runs"][exp] = rows_of(ctx, sp, src)
    data["theory"] = dale_means(spec_config(SweepSpec("theory", "shd-dale", {})))
    data["label"] = "SHD stand-in" if data.get("standins") else "SHD"
    return data


def plot(ctx: Context, s: dict, data: dict):
    fig = S.new_figure(S.PAGE, 2.4)
    a, b, c, d = fig.subplots(1, 4, gridspec_kw=dict(wspace=0.5, left=0.07, right=0.98, top=0.8, bottom=0.2))
    th = data["theory"]
    x = [r["sigma_u"] for r in th]
    for i, (key, name) in enumerate((("mean_exc", "E feed-forward"), ("mean_exc_rec", "E recurrent"),
                                     ("mean_inh", "I recurrent"))):
        a.plot(x, [r[key] for r in th], marker="o", color=S.color(i), label=name)
    S.log_axis(a, "x")
    a.set_yscale("log")
    a.set_xlabel(r"target $\sigma_U$")
    a.set_ylabel(r"mean weight $1/\lambda$ (threshold units)")
    a.legend()
    S.panel_label(a, "a", "Dale's-law init. (theory)")
    ref = at_value(data["runs"]["shd-dale"], "init.sigma_u", 1)
    P.curve(b, ref[0]["curve"] if ref else None, "")
    S.panel_label(b, "b", r"Dalian net, $\sigma_U$=1")
    for ax, letter, (dale, plain), what in ((c, "c", PAIRS["dense"], "1 recurrent layer"),
                                            (d, "d", PAIRS["conv"], "3-layer conv.")):
        series = []
        for exp, name in ((dale, "Dalian"), (plain, "non-Dalian")):
            rows = data["runs"][exp]
            series += [(f"{name} valid.", aggregate(rows, "init.sigma_u", "valid_accuracy")),
                       (f"{name} test", aggregate(rows, "init.sigma_u", "test_accuracy"))]
        P.over_sigma_u(ax, series, ylabel="accuracy (%)")
        S.panel_label(ax, letter, what)
    fig.suptitle(f"Figure 7: Dale's law (exponential E/I weights, balanced $\\mu_U$=0) on {data['label']}",
                 fontsize=7, y=0.97)
    return fig


ITEMS = {NAME: Item(NAME, "Dale's-law networks against sigma_u", settings, needs, compute, plot)}
