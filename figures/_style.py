"""The one matplotlib style of every figure: sizes for a paper column, a colour-blind-safe
palette, the stamp footer and the stand-in banner.

* Sizes: :data:`COLUMN` (3.4 in, one column of a two-column paper) and :data:`PAGE` (7.0 in,
  the full width); fonts 7 pt, ticks 6 pt.
* Colours: the Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"), distinguishable
  under the common colour-vision deficiencies; sequential maps are ``viridis``/``cividis``.
* :func:`finish`: the footer line (code version with dirty flag, seeds, settings hash, data
  source) and, for panels on generated stand-in files, a watermark across the figure and the
  footer saying "generated stand-in data, not SHD", so no one mistakes them for results.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator

__all__ = ["COLUMN", "PAGE", "PALETTE", "color", "RC", "style", "new_figure", "finish", "panel_label", "log_axis"]

COLUMN = 3.4  # inches
PAGE = 7.0
#: Okabe-Ito, in the order lines use them
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
RC = {
    "font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "legend.fontsize": 6, "xtick.labelsize": 6,
    "ytick.labelsize": 6, "axes.spines.top": False, "axes.spines.right": False, "axes.linewidth": 0.6,
    "lines.linewidth": 1.2, "lines.markersize": 3, "legend.frameon": False, "image.cmap": "viridis",
    "savefig.dpi": 150, "figure.dpi": 100, "pdf.fonttype": 42,
}


def color(i: int) -> str:
    """The ``i``-th colour of :data:`PALETTE` (cycling)."""
    return PALETTE[i % len(PALETTE)]


@contextmanager
def style() -> Iterator[None]:
    """The shared rc settings and the palette as the colour cycle, for the ``with`` block."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from cycler import cycler

    with plt.rc_context({**RC, "axes.prop_cycle": cycler(color=list(PALETTE))}):
        yield


def new_figure(width: float = PAGE, height: float = 2.4, **kwargs):
    """A figure ``width`` x ``height`` inches (call inside :func:`style`)."""
    import matplotlib.pyplot as plt

    return plt.figure(figsize=(width, height), **kwargs)


def panel_label(ax, letter: str, title: str = "") -> None:
    """``(a) title`` at the top left of ``ax``."""
    ax.set_title(f"({letter}) {title}".rstrip(), loc="left", fontsize=7)


def log_axis(ax, axis: str = "x") -> None:
    """A log axis whose ticks read as plain numbers (0.1, 1, 10)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    getattr(ax, f"set_{axis}scale")("log")
    getattr(ax, f"{axis}axis").set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    getattr(ax, f"{axis}axis").set_minor_formatter(NullFormatter())


def finish(fig, footer: str, *, standins: Iterable[str] = ()) -> None:
    """The footer at the bottom and, when ``standins`` names data sets, the watermark
    "generated stand-in data, not <names>" across ``fig`` (and the same words in the footer).

    A footer longer than one line wraps, and the figure grows by the extra lines at its bottom
    (every axes and text keeps its size and place in inches), so the footer never covers what
    an item drew near the bottom."""
    import textwrap

    names = sorted(set(standins))
    if names:
        text = "generated stand-in data, not " + ", ".join(names)
        size = min(20.0, 0.75 * fig.get_figwidth() * 72 / (0.62 * len(text)))  # about 3/4 of the width
        fig.text(0.5, 0.5, text, fontsize=size, color="#D55E00", alpha=0.16, ha="center", va="center", rotation=12,
                 weight="bold", zorder=10)
        footer = f"{text.upper()} (--quick: made-up files in the official formats; no result on these data sets) | " + footer
    lines = textwrap.wrap(footer, int(fig.get_figwidth() * 28))  # characters of 4.5 pt per line (about 2.5 pt wide)
    _grow_bottom(fig, (len(lines) - 1) * 4.5 * 1.1 / 72)
    fig.text(0.005, 0.003, "\n".join(lines), fontsize=4.5, color="#D55E00" if names else "0.4", ha="left",
             va="bottom", linespacing=1.1)


def _grow_bottom(fig, extra: float) -> None:
    """Add ``extra`` inches below everything drawn on ``fig`` so far."""
    if extra <= 0:
        return
    w, h = fig.get_size_inches()
    fig.set_size_inches(w, h + extra)
    scale, shift = h / (h + extra), extra / (h + extra)
    for ax in fig.axes:
        x0, y0, aw, ah = ax.get_position().bounds
        ax.set_position([x0, y0 * scale + shift, aw, ah * scale])
    for t in fig.texts:
        x, y = t.get_position()
        t.set_position((x, y * scale + shift))
