"""Paper table 7: the PSP-kernel integrals epsilon_bar and epsilon_hat used for initialization.

For every (tau_mem, tau_syn) of the paper's table 3 (non-Dalian 20/10 ms; Dalian excitatory
synapses 20/10 ms, inhibitory 20/20 ms) at the simulation step dt = 2 ms:

* discrete (the exact integrals of the simulated update, eqs. 10-11; what table 7 lists,
  "obtained numerically"): ``theory.epsilon_bar(tau_mem, tau_syn, dt)`` = dt / (1 - b) and
  ``theory.epsilon_hat(tau_mem, tau_syn, dt)`` = dt (1-a)(1+ab) / ((1+a)(1-b^2)(1-ab)),
  a = exp(-dt/tau_mem), b = exp(-dt/tau_syn);
* the same numerically, dt sum K[n] and dt sum K[n]^2 over the simulated kernel
  (``theory.numeric_kernel_integrals(theory.psp_kernel(...), dt)``);
* continuous (supplementary table S1): epsilon_bar = tau_syn, epsilon_hat = tau_syn^2 / (2 (tau_mem + tau_syn)).

Beside them the values printed in table 7 (four decimals) and whether the discrete values
round to them.  The inhibitory ones do not: table 7's 0.0061/0.0012 are the discrete values
for tau_mem 10 ms, tau_syn 5 ms, not table 3's 20/20 ms (docs/theory.md, misprints, item 6);
an extra row shows that setting.  Units: seconds throughout (time constants in the table in ms).
"""

from __future__ import annotations

import math

from ._items import Context, Item, Need

__all__ = ["ITEMS", "PRINTED", "agrees"]

NAME = "table7"
_TITLE = "PSP-kernel integrals epsilon_bar and epsilon_hat (paper table 7)"

#: table 7 as printed (s, four decimals): (network, synapses) -> (epsilon_bar, epsilon_hat)
PRINTED = {
    ("non-Dalian", "all"): (0.0110, 0.0020),
    ("Dalian", "excitatory"): (0.0110, 0.0020),
    ("Dalian", "inhibitory"): (0.0061, 0.0012),
}


def agrees(value: float, printed: float, decimals: int = 4) -> bool:
    """Whether ``value`` rounded to ``decimals`` decimals is the printed number."""
    return math.isclose(round(value, decimals), printed, abs_tol=0.5 * 10.0 ** -(decimals + 2))


def settings(ctx: Context) -> dict:
    """dt (s) and the table-3 time constants (s); the same in every mode (no simulation)."""
    return dict(seed=0, dt=2e-3, cases=[
        dict(network="non-Dalian", synapses="all", tau_mem=20e-3, tau_syn=10e-3, printed="non-Dalian/all"),
        dict(network="Dalian", synapses="excitatory", tau_mem=20e-3, tau_syn=10e-3, printed="Dalian/excitatory"),
        dict(network="Dalian", synapses="inhibitory", tau_mem=20e-3, tau_syn=20e-3, printed="Dalian/inhibitory"),
        dict(network="not in table 3", synapses="fits printed inh.", tau_mem=10e-3, tau_syn=5e-3,
             printed="Dalian/inhibitory"),
    ])


def needs(ctx: Context, s: dict) -> list[Need]:
    """Nothing: closed forms and a kernel sum."""
    return []


def compute(ctx: Context, s: dict) -> dict:
    """One row per case: discrete (closed form and kernel sum) and continuous integrals, the printed values."""
    from fluctinit import theory

    dt = s["dt"]
    rows = []
    for c in s["cases"]:
        tm, ts = c["tau_mem"], c["tau_syn"]
        n_steps = int(math.ceil(60.0 * max(tm, ts) / dt)) + 2  # the kernel's tail below e^-60
        num = theory.numeric_kernel_integrals(theory.psp_kernel(tm, ts, dt, n_steps), dt)
        pb, ph = PRINTED[tuple(c["printed"].split("/"))]
        eb, eh = theory.epsilon_bar(tm, ts, dt), theory.epsilon_hat(tm, ts, dt)
        rows.append(dict(
            network=c["network"], synapses=c["synapses"], tau_mem_ms=round(tm * 1e3, 9), tau_syn_ms=round(ts * 1e3, 9),
            dt_ms=round(dt * 1e3, 9), epsilon_bar_discrete=eb, epsilon_hat_discrete=eh,
            epsilon_bar_numeric=num.epsilon_bar, epsilon_hat_numeric=num.epsilon_hat,
            epsilon_bar_continuous=theory.epsilon_bar(tm, ts), epsilon_hat_continuous=theory.epsilon_hat(tm, ts),
            epsilon_bar_printed=pb, epsilon_hat_printed=ph,
            printed_for=c["printed"].replace("/", " ") if c["printed"] != f"{c['network']}/{c['synapses']}" else "",
            agrees_at_4_decimals=bool(agrees(eb, pb) and agrees(eh, ph)),
        ))
    notes = ["table 7's inhibitory values 0.0061/0.0012 are the discrete integrals for tau_mem 10 ms, tau_syn 5 ms "
             "(last row), not for table 3's 20/20 ms (0.0210/0.0055); fluctinit follows table 3 (docs/theory.md, "
             "misprints, item 6)"]
    return dict(rows=rows, notes=notes)


def tables(d: dict) -> dict[str, list[dict]]:
    """``{"table7": rows}`` (written as table7.csv)."""
    return {NAME: d["rows"]}


def plot(ctx: Context, s: dict, d: dict):
    """The table as a figure (matplotlib table), from ``d`` alone."""
    import textwrap

    from . import _style as S

    eb, eh = r"$\bar\epsilon$", r"$\hat\epsilon$"
    head = ["network", "synapses", r"$\tau_{mem}$ (ms)", r"$\tau_{syn}$ (ms)", f"{eb} discrete", f"{eh} discrete",
            f"{eb} kernel sum", f"{eh} kernel sum", f"{eb} continuous", f"{eh} continuous",
            f"table 7: {eb} / {eh}", "agrees?"]
    widths = [0.09, 0.1, 0.065, 0.065, 0.08, 0.08, 0.085, 0.085, 0.085, 0.085, 0.1, 0.08]
    cells, colours = [], []
    for r in d["rows"]:
        printed = f"{r['epsilon_bar_printed']:.4f} / {r['epsilon_hat_printed']:.4f}"
        cells.append([r["network"], r["synapses"], f"{r['tau_mem_ms']:g}", f"{r['tau_syn_ms']:g}",
                      f"{r['epsilon_bar_discrete']:.6f}", f"{r['epsilon_hat_discrete']:.6f}",
                      f"{r['epsilon_bar_numeric']:.6f}", f"{r['epsilon_hat_numeric']:.6f}",
                      f"{r['epsilon_bar_continuous']:.6f}", f"{r['epsilon_hat_continuous']:.6f}", printed,
                      "yes" if r["agrees_at_4_decimals"] else "no"])
        ok = "#CFE8DD" if r["agrees_at_4_decimals"] else "#F6D5C2"  # light Okabe-Ito green / vermillion
        colours.append(["white"] * 10 + [ok, ok])
    fig = S.new_figure(S.PAGE, 0.75 + 0.28 * (len(cells) + 1))
    ax = fig.add_axes([0.01, 0.3, 0.98, 0.55])
    ax.axis("off")
    tab = ax.table(cellText=cells, colLabels=head, cellColours=colours, colWidths=widths, cellLoc="center",
                   bbox=[0, 0, 1, 1])
    tab.auto_set_font_size(False)
    tab.set_fontsize(5.5)
    for (i, _), cell in tab.get_celld().items():
        cell.set_linewidth(0.4)
        if i == 0:
            cell.set_facecolor("0.9")
            cell.set_text_props(weight="bold")
    ax.set_title(f"Table 7: PSP-kernel integrals (s), dt = {s['dt'] * 1e3:g} ms. Discrete: the simulated update "
                 "(eqs. 10-11), closed form and kernel sum; continuous: supp. table S1", fontsize=6.5, loc="left")
    fig.text(0.01, 0.11, "\n".join(["agrees?: the discrete values rounded to four decimals equal table 7's."]
                       + textwrap.wrap("Note: " + d["notes"][0] + ".", 170)), fontsize=5.5, ha="left",
             va="bottom")
    return fig


ITEMS = {NAME: Item(NAME, _TITLE, settings, needs, compute, plot, tables)}
