"""The paper's figures and tables as items of ``fluctinit figures``: what each needs, how it is
computed (cached) and how it is drawn.

An :class:`Item` keeps computation apart from plotting (STYLE.md practice 13):

* ``settings(ctx)``: the effective settings (the paper's, or the small ``--quick`` ones), a
  JSON object; its hash is the cache key together with the fingerprints of the data files.
* ``needs(ctx, settings)``: the :class:`Need` list -- runs (sweeps through the sweep engine,
  simulations) and data files -- with whether each is present (``--list`` prints them).
* ``compute(ctx, settings)``: runs what is missing and returns the plotted numbers (a JSON
  object; ``standins`` lists the data sets read from generated stand-in files, ``sources``
  says where each data set came from, ``notes`` anything the reader must know).
* ``plot(ctx, settings, data)``: the matplotlib figure, drawn from ``data`` alone.
* ``tables(data)`` (tables only): ``{name: rows}`` also written as CSV.

:func:`render` ties them together: in full mode an item whose required data are missing is
skipped with one line saying which files to put where; the computed data are written as
``<out>/<name>.json`` (stamped: code version with dirty flag, seed, settings, data sources)
and reused while their key is unchanged; the figure is ``<out>/<name>.png`` and ``.pdf``.
"""

from __future__ import annotations

import csv
import importlib
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from fluctinit._io import atomic_write_text

from . import _common as C
from . import _style as S

__all__ = ["Context", "Need", "Item", "Outcome", "REGISTRY", "NAMES", "get_item", "render", "describe_needs",
           "simulation_need"]

#: item name -> module of fluctinit.figures defining it (in its ``ITEMS`` dict)
REGISTRY: dict[str, str] = {
    "fig1": "fig1_regime",
    "fig2": "fig2_membrane",
    "fig3": "fig3_shallow",
    "fig4": "fig4_deep",
    "fig5": "fig5_homeostasis",
    "fig6": "fig6_kaiming",
    "table1": "fig6_kaiming",
    "fig7": "fig7_dale",
    "table7": "table7_kernels",
    "s2": "s2_spread",
}
NAMES = tuple(REGISTRY)


@dataclass
class Context:
    """Where and how items are made.

    Attributes:
        out: the output folder (figures, data JSON, CSV tables, ``cache/``).
        runs: where the items' sweeps run (default ``<out>/runs``).
        quick: the small settings (every item in minutes on a 2-core CPU, stand-in files for
            missing SHD, CIFAR-10 and DVS-Gesture).
        workers: Dask workers of the sweeps (None: the engine's default).
        data_root: where SHD, FSDD, CIFAR-10 and DVS-Gesture files are looked for.
        quiet: no progress lines.
        force: recompute the items' data even when the cache matches (sweeps still resume).
        tiny: smoke-test sizes, smaller still than ``quick`` (tests; implies ``quick``).
    """

    out: Path
    runs: Path | None = None
    quick: bool = False
    workers: int | None = None
    data_root: Path = Path("data")
    quiet: bool = False
    force: bool = False
    tiny: bool = False
    log_stream: Any = None

    def __post_init__(self) -> None:
        self.quick = self.quick or self.tiny
        self.out = Path(self.out)
        self.runs = self.out / "runs" if self.runs is None else Path(self.runs)
        self.data_root = Path(self.data_root)

    def log(self, line: str) -> None:
        if not self.quiet:
            print(line, file=self.log_stream or sys.stderr, flush=True)


@dataclass(frozen=True)
class Need:
    """One input of an item.  ``kind``: ``"run"`` (made here when missing: a sweep, a
    simulation) or ``"data"`` (files the user supplies).  ``present``: there already (a run:
    finished).  ``hint``: where it lives or what to put where.  ``required``: without it the
    item cannot be made in full mode (else only some panels are left out).  ``paths``: a data
    need's files, whose size and modification time enter the cache key (a file replaced at the
    same path is read again)."""

    what: str
    kind: str
    present: bool
    hint: str = ""
    required: bool = True
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class Item:
    """One figure or table (see the module docstring)."""

    name: str
    title: str
    settings: Callable[[Context], dict]
    needs: Callable[[Context, dict], list[Need]]
    compute: Callable[[Context, dict], dict]
    plot: Callable[[Context, dict, dict], Any]
    tables: Callable[[dict], dict[str, list[dict]]] | None = None
    seed: Callable[[dict], int] = field(default=lambda s: int(s.get("seed", 0)))


@dataclass
class Outcome:
    """What :func:`render` did: ``status`` ``"made"`` (``cached``: data from the cache) or
    ``"skipped"``; ``line``: the one line for the user; ``files``: what was written."""

    name: str
    status: str
    line: str
    files: list[Path] = field(default_factory=list)
    cached: bool = False


def get_item(name: str) -> Item:
    """The item ``name`` (one of :data:`NAMES`)."""
    module = importlib.import_module(f"fluctinit.figures.{REGISTRY[name]}")
    return module.ITEMS[name]


def describe_needs(needs: list[Need]) -> list[str]:
    return [f"{'present' if n.present else ('missing' if n.kind == 'data' else 'to run')}: {n.what}"
            + (f" ({n.hint})" if n.hint else "") for n in needs]


def _data_key(ctx: Context, settings: dict, needs: list[Need]) -> str:
    present = [n for n in needs if n.kind == "data" and n.present]
    return C.config_hash({"settings": settings, "quick": ctx.quick, "tiny": ctx.tiny,
                          "data": sorted(n.what for n in present),
                          "files": [C.file_fingerprint(p) for n in present for p in n.paths]})


def simulation_need(ctx: Context, name: str, settings: dict, what: str) -> Need:
    """The :class:`Need` of an item computed in this process (a simulation of seconds): present
    when ``<out>/<name>.json`` holds its data for these settings."""
    done = C.load_cached(ctx.out / f"{name}.json", _data_key(ctx, settings, [])) is not None
    return Need(what, "run", done, "in-process (seconds)")


def render(item: Item, ctx: Context) -> Outcome:
    """Make ``item`` in ``ctx`` (see the module docstring)."""
    settings = item.settings(ctx)
    needs = item.needs(ctx, settings)
    missing = [n for n in needs if n.kind == "data" and n.required and not n.present]
    if missing and not ctx.quick:
        what = "; ".join(f"{n.what}: {n.hint}" if n.hint else n.what for n in missing)
        return Outcome(item.name, "skipped", f"{item.name}: skipped, needs {what}")
    key = _data_key(ctx, settings, needs)
    path = ctx.out / f"{item.name}.json"
    cached = None if ctx.force else C.load_cached(path, key)
    if cached is None:
        data = item.compute(ctx, settings)
        notes = list(data.get("notes", []))
        stamp = C.make_stamp(settings, seed=item.seed(settings), key=key, notes=notes)
        stamp.update(quick=ctx.quick, sources=data.get("sources", {}), standins=sorted(data.get("standins", [])))
        C.write_result(path, {"stamp": stamp, "item": item.name, "data": data})
    else:
        data, stamp = cached["data"], cached["stamp"]
    files = [path]
    if item.tables is not None:
        for tname, rows in item.tables(data).items():
            files.append(_write_csv(ctx.out / f"{tname}.csv", rows))
    import matplotlib.pyplot as plt

    with S.style():
        fig = item.plot(ctx, settings, data)
        try:
            source = "; ".join(f"{k}: {v}" for k, v in sorted(data.get("sources", {}).items()))
            extra = " | ".join(x for x in ("quick settings" if ctx.quick else "paper settings", source) if x)
            S.finish(fig, C.stamp_footer(stamp, extra), standins=data.get("standins", []))
            files += C.save_figure(fig, ctx.out, item.name, stamp, title=f"fluctinit {item.name}: {item.title}")
        finally:
            plt.close(fig)
    how = "from cached data" if cached is not None else "computed"
    return Outcome(item.name, "made", f"{item.name}: {how}; wrote {', '.join(str(f) for f in files)}", files,
                   cached is not None)


def _write_csv(path: Path, rows: list[dict]) -> Path:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    atomic_write_text(path, buf.getvalue())
    return path
