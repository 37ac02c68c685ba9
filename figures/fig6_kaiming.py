"""Paper figure 6 and table 1: Kaiming initialization (with and without homeostatic plasticity)
against fluctuation-driven initialization (``sigma_u = 1``) across depths on SHD, CIFAR-10 and
DVS-Gesture.

Networks (paper tables 5, 6): SHD recurrent conv nets with 3 and 7 hidden layers
(``shd-conv3-rec``, ``shd-conv7-rec``; Kaiming with homeostasis: ``shd-conv7-hom``), CIFAR-10
with 2 and 4 (``cifar10-conv2``, ``cifar10-conv4``; ``cifar10-conv4-hom``), DVS-Gesture with
6 and 8 (``dvs-conv6``, ``dvs-conv8``; ``dvs-conv8-hom``).  Kaiming: ``init.method = kaiming``
(eq. 56).  Mean and standard deviation of the test accuracy over the seeds (the paper: 5).

* fig6: one panel per data set, test accuracy against depth for the three initializations
  (each seed a dot, the mean a line), and each net's training curve (valid. accuracy per
  epoch, mean over seeds) below;
* table1: the same numbers as a table, ``mean +- std`` (n seeds) per data set, depth and
  initialization, also written as ``table1.csv``.

A data set whose files are missing is left out (full mode: the item is skipped only when all
three are); ``--quick`` replaces missing files by generated stand-ins, labelled so.
"""

from __future__ import annotations

from ._items import Context, Item, Need
from ._runs import SweepSpec, check_specs, data_need, item_sources, label, rows_of, sweep_need
from . import _plots as P
from . import _style as S

NETS = {"shd": {3: ("shd-conv3-rec", None), 7: ("shd-conv7-rec", "shd-conv7-hom")},
        "cifar10": {2: ("cifar10-conv2", None), 4: ("cifar10-conv4", "cifar10-conv4-hom")},
        "dvs_gesture": {6: ("dvs-conv6", None), 8: ("dvs-conv8", "dvs-conv8-hom")}}
INITS = ("kaiming", "kaiming+homeostasis", "fluctuation")
INIT_LABELS = {"kaiming": "Kaiming", "kaiming+homeostasis": "Kaiming + homeostasis", "fluctuation": r"$\sigma_U$=1"}
FULL = {"seeds": [0, 1, 2, 3, 4], "epochs": None}
QUICK = {"seeds": [0, 1], "epochs": 3}
TINY = {"seeds": [0], "epochs": 1, "datasets": ["shd"], "depths": {"shd": [3]}}


def settings(ctx: Context) -> dict:
    s = {"seed": 0, "datasets": list(NETS), "depths": {ds: list(v) for ds, v in NETS.items()}}
    s.update(TINY if ctx.tiny else QUICK if ctx.quick else FULL)
    return s


def specs(ctx: Context, s: dict) -> dict[str, dict[str, dict[str, SweepSpec]]]:
    """``{dataset: {depth: {init: spec}}}``."""
    sfx = "_tiny" if ctx.tiny else "_quick" if ctx.quick else ""
    common = dict(seeds=tuple(s["seeds"]), epochs=s["epochs"], quick=ctx.quick)
    out: dict = {}
    for ds in s["datasets"]:
        for depth in s["depths"][ds]:
            plain, hom = NETS[ds][depth]
            group = {"kaiming": SweepSpec(f"fig6_{plain}_kaiming{sfx}", plain, {"init.method": ["kaiming"]}, **common),
                     "fluctuation": SweepSpec(f"fig6_{plain}_fluct{sfx}", plain, {"init.sigma_u": [1]}, **common)}
            if hom:
                group["kaiming+homeostasis"] = SweepSpec(f"fig6_{hom}_kaiming{sfx}", hom, {"init.method": ["kaiming"]},
                                                         **common)
            out.setdefault(ds, {})[str(depth)] = group
    return out


def needs(ctx: Context, s: dict) -> list[Need]:
    present = [data_need(ctx, ds, required=False) for ds in s["datasets"]]
    out = list(present)
    if not ctx.quick and not any(n.present for n in present):  # nothing to draw: required
        out = [data_need(ctx, ds) for ds in s["datasets"]]
    for ds, depths in specs(ctx, s).items():
        if ctx.quick or data_need(ctx, ds).present:
            out += [sweep_need(ctx, sp) for group in depths.values() for sp in group.values()]
    return out


def compute(ctx: Context, s: dict) -> dict:
    check_specs([sp for depths in specs(ctx, s).values() for g in depths.values() for sp in g.values()])
    data: dict = {"datasets": {}, "notes": []}
    sources = item_sources(ctx, s["datasets"], data)
    for ds, depths in specs(ctx, s).items():
        if ds not in sources:
            continue
        data["datasets"][ds] = {depth: {init: rows_of(ctx, sp, sources[ds]) for init, sp in group.items()}
                                for depth, group in depths.items()}
    return data


def _stats(rows: list[dict]) -> tuple[float | None, float | None, int]:
    import numpy as np

    acc = [r["test_accuracy"] for r in rows if r["status"] == "done" and r["test_accuracy"] is not None]
    if not acc:
        return None, None, 0
    return float(np.mean(acc)), float(np.std(acc)), len(acc)


def table_rows(data: dict) -> list[dict]:
    """Table 1's rows: data set, hidden layers, then per initialization ``mean``, ``std`` (test
    accuracy, %) and ``n`` (seeds)."""
    rows = []
    for ds, depths in data["datasets"].items():
        for depth, inits in depths.items():
            row = {"dataset": label(ds) + (" (stand-in)" if label(ds) in data.get("standins", []) else ""),
                   "hidden_layers": int(depth)}
            for init in INITS:
                m, sd, n = _stats(inits.get(init, []))
                row[f"{init}_mean"] = None if m is None else round(100 * m, 2)
                row[f"{init}_std"] = None if sd is None else round(100 * sd, 2)
                row[f"{init}_n"] = n
            rows.append(row)
    return rows


def plot_fig6(ctx: Context, s: dict, data: dict):
    present = list(data["datasets"])
    fig = S.new_figure(S.PAGE, 4.0)
    axes = fig.subplots(2, max(len(present), 1), squeeze=False,
                        gridspec_kw=dict(hspace=0.6, wspace=0.35, left=0.08, right=0.98, top=0.86, bottom=0.14))
    for j, ds in enumerate(present):
        ax, cur = axes[0][j], axes[1][j]
        depths = data["datasets"][ds]
        for i, init in enumerate(INITS):
            xs, means = [], []
            for depth, inits in depths.items():
                rows = [r for r in inits.get(init, []) if r["status"] == "done"]
                if not rows:
                    continue
                accs = [100 * r["test_accuracy"] for r in rows]
                x = int(depth) + (i - 1) * 0.12
                ax.plot([x] * len(accs), accs, "o", color=S.color(i), ms=2.5, alpha=0.7)
                xs.append(x)
                means.append(sum(accs) / len(accs))
                c = [r["curve"]["valid_accuracy"] for r in rows if r["curve"]]
                if c:
                    n = min(len(v) for v in c)
                    mean = [100 * sum(v[k] for v in c) / len(c) for k in range(n)]
                    deeper = depth == list(depths)[-1]
                    cur.plot(range(1, n + 1), mean, color=S.color(i), ls="-" if deeper else "--",
                             label=INIT_LABELS[init] if deeper else None)
            if xs:
                ax.plot(xs, means, "-", color=S.color(i), label=INIT_LABELS[init])
        ax.set_xticks([int(d) for d in depths])
        ax.set_xlabel("hidden layers")
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(0, 102)
        if j == 0:
            ax.legend(loc="lower left")
        name = label(ds) + (" stand-in" if label(ds) in data.get("standins", []) else "")
        S.panel_label(ax, "abc"[j], name)
        cur.set_xlabel("epoch")
        P.integer_ticks(cur)
        cur.set_ylabel("valid. accuracy (%)")
        cur.set_ylim(0, 102)
        if j == 0:
            cur.legend(fontsize=4.5, loc="best", title="solid: deeper net", title_fontsize=4.5)
        S.panel_label(cur, "def"[j], f"{name}: valid. acc.")
    fig.suptitle(r"Figure 6: Kaiming (with and without homeostasis) against fluctuation-driven ($\sigma_U$=1) "
                 f"initialization, {len(s['seeds'])} seeds", fontsize=7, y=0.96)
    return fig


def plot_table1(ctx: Context, s: dict, data: dict):
    rows = table_rows(data)
    fig = S.new_figure(S.PAGE, 0.5 + 0.22 * (len(rows) + 1))
    ax = fig.add_axes([0.01, 0.08, 0.98, 0.78])
    ax.axis("off")

    def cell(row, init):
        m = row[f"{init}_mean"]
        return "-" if m is None else f"{m:.1f} ± {row[f'{init}_std']:.1f} (n={row[f'{init}_n']})"

    body = [[r["dataset"], str(r["hidden_layers"])] + [cell(r, i) for i in INITS] for r in rows]
    header = ["data set", "hidden layers", "Kaiming", "Kaiming + homeostasis", "fluctuation-driven, σ_U = 1"]
    if body:
        t = ax.table(cellText=body, colLabels=header, loc="upper center", cellLoc="center")
        t.auto_set_font_size(False)
        t.set_fontsize(6)
        t.scale(1, 1.3)
    ax.set_title("Table 1: test accuracy (%), mean ± std over seeds", fontsize=7, loc="left")
    return fig


ITEMS = {
    "fig6": Item("fig6", "Kaiming vs fluctuation-driven initialization across depths (SHD, CIFAR-10, DVS-Gesture)",
                 settings, needs, compute, plot_fig6),
    "table1": Item("table1", "test accuracy by data set, depth and initialization", settings, needs, compute,
                   plot_table1, tables=lambda data: {"table1": table_rows(data)}),
}
