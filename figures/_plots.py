"""Panels shared by the training figures: a quantity over the target sigma_u, a per-layer
profile, a training curve.  Each draws on one axes from the items' plotted numbers
(:func:`fluctinit.figures._runs.summarize` rows, :func:`~fluctinit.figures._runs.aggregate`)."""

from __future__ import annotations

import math
from typing import Sequence

from . import _style as S

__all__ = ["over_sigma_u", "layer_profile", "curve", "regime_band", "no_data", "integer_ticks", "gaussian"]


def gaussian(x, mu: float, sd: float):
    """The normal density N(mu, sd**2) at ``x`` (the predicted membrane distributions)."""
    import numpy as np

    x = np.asarray(x, dtype=float)
    return np.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


def integer_ticks(ax, axis: str = "x") -> None:
    """Ticks at whole numbers only (epochs, layers)."""
    from matplotlib.ticker import MaxNLocator

    getattr(ax, f"{axis}axis").set_major_locator(MaxNLocator(integer=True))


def regime_band(ax) -> None:
    """The fluctuation-driven range 1/3 <= sigma_u <= 1 (xi in 1..3 at mu_u = 0), shaded."""
    ax.axvspan(1 / 3, 1, color="0.92", lw=0, zorder=0)


def over_sigma_u(ax, series: Sequence[tuple[str, list[dict]]], *, ylabel: str, percent: bool = True,
                 log_y: bool = False, empty: str = "no finished run") -> None:
    """One line per ``(label, aggregate rows)`` over the target sigma_u (log axis), mean with
    the standard deviation over seeds as error bars; ``empty``: the text where no line has data."""
    drawn = 0
    for i, (name, rows) in enumerate(series):
        rows = [r for r in rows if r["mean"] is not None]
        if not rows:
            continue
        drawn += 1
        k = 100.0 if percent else 1.0
        ax.errorbar([r["x"] for r in rows], [r["mean"] * k for r in rows], yerr=[r["std"] * k for r in rows],
                    marker="o", color=S.color(i), capsize=1.5, elinewidth=0.7, label=name)
    S.log_axis(ax, "x")
    xs = sorted({r["x"] for _, rows in series for r in rows if isinstance(r["x"], (int, float)) and r["x"] > 0})
    if 0 < len(xs) <= 9:  # a tick per target: the log axis alone may show only 1
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
    regime_band(ax)
    ax.set_xlabel(r"target $\sigma_U$")
    ax.set_ylabel(ylabel)
    if log_y:
        ax.set_yscale("log")
    if percent:
        ax.set_ylim(0, 102)
    if not drawn:
        ax.text(0.5, 0.5, empty, transform=ax.transAxes, ha="center", va="center", fontsize=6, color="0.4")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best")


def layer_profile(ax, profiles: Sequence[tuple[str, list[float] | None]], *, ylabel: str, log_y: bool = True) -> None:
    """One line per ``(label, per-layer values)`` over the layer index (1 = first hidden
    layer); zeros are left out of a log axis (a note says how many)."""
    import matplotlib.cm as cm

    zeros = 0
    n = max(1, len(profiles))
    for i, (name, values) in enumerate(profiles):
        if not values:
            continue
        ys = [v if (v is not None and (v > 0 or not log_y)) else math.nan for v in values]
        zeros += sum(1 for v in ys if math.isnan(v))
        ax.plot(range(1, len(values) + 1), ys, marker="o", color=cm.viridis(i / max(n - 1, 1)), label=name)
    longest = max((len(v) for _, v in profiles if v), default=0)
    if 0 < longest <= 12:
        ax.set_xticks(range(1, longest + 1))
    if log_y and any(not math.isnan(y) for ln in ax.get_lines() for y in ln.get_ydata()):
        ax.set_yscale("log")
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    if zeros:
        ax.text(0.02, 0.02, f"{zeros} zero values not shown", transform=ax.transAxes, fontsize=5, color="0.4")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=5)


def curve(ax, c: dict | None, title: str) -> None:
    """Training, validation and test accuracy per epoch (percent)."""
    if not c:
        no_data(ax, "no finished run")
        return
    for i, (key, name) in enumerate((("train_accuracy", "train"), ("valid_accuracy", "valid."),
                                     ("test_accuracy", "test"))):
        ys = [v * 100 for v in c[key]]
        ax.plot(range(1, len(ys) + 1), ys, color=S.color(i), label=name, marker="o" if len(ys) < 8 else None)
    ax.set_xlabel("epoch")
    integer_ticks(ax)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 102)
    ax.legend(loc="lower right")
    ax.set_title(title, loc="left")


def no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=6, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])
