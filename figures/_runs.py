"""Training runs of the figure items: sweeps through the sweep engine, data sets real or stood in.

A :class:`SweepSpec` is one sweep an item needs: a shipped experiment (``fluctinit
experiments``), config overrides, a grid of dotted keys, seeds and epochs.  :func:`run_spec`
runs what is missing into ``<ctx.runs>/<tag>`` through
:func:`~fluctinit.training.train_sweep` and :func:`~fluctinit.training.run_sweep` (with
``resume``: a finished sweep is read back, an interrupted one continues from its checkpoints,
a folder holding another sweep is refused naming what differs) and returns one
:class:`CellRun` per cell: its grid values, seed, results-table row and the run's results
JSON (history, recording at initialization).

Data: Randman is generated.  SHD, FSDD, CIFAR-10 and DVS-Gesture are read from
``ctx.data_root`` (the files ``fluctinit train`` reads, :func:`~fluctinit.training.required_files`);
in ``--quick`` a missing SHD, CIFAR-10 or DVS-Gesture is replaced by generated files in the
official formats (:mod:`fluctinit.datasets.standin`) under ``<out>/cache/standin/<data set>/``,
and the item says so in its figure (:func:`data_source`).

:data:`QUICK` holds the small settings of ``--quick`` per data set (a few seconds per run on
one core); ``tiny`` shrinks them further for the tests.
"""

from __future__ import annotations

import copy
import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._items import Context, Need

__all__ = ["SweepSpec", "CellRun", "DataSource", "data_source", "standin_root", "data_need", "sweep_need", "run_spec",
           "spec_config", "QUICK", "LABELS", "label", "summarize", "aggregate", "item_sources", "rows_of", "at_value", "check_specs", "number"]

#: the data sets' names in figures
LABELS = {"randman": "Randman", "shd": "SHD", "fsdd": "FSDD", "cifar10": "CIFAR-10", "dvs_gesture": "DVS-Gesture"}
#: --quick overrides of an experiment by data set (dotted keys; "hidden" is a width per layer; the
#: stand-ins' learning rates, as the end-to-end tests', let the few quick epochs learn something;
#: CIFAR-10's encoder needs 25 steps: in 10, some seeds' sensory layer stays silent and its rate
#: cannot be measured)
QUICK: dict[str, dict[str, Any]] = {
    "randman": {"data.samples_per_class": 200, "data.split": [160, 20, 20], "training.batch_size": 200,
                "training.lr": 0.02, "hidden": 64},
    "shd": {"data.duration": 0.1, "training.batch_size": 32, "training.lr": 0.02, "hidden": 8, "init.nu": "measured"},
    "fsdd": {"data.duration": 0.1, "training.batch_size": 32, "hidden": 8},
    "cifar10": {"data.duration": 0.05, "training.batch_size": 32, "training.lr": 0.02, "hidden": 4,
                "init.nu": "measured"},
    "dvs_gesture": {"data.duration": 0.05, "data.size": 16, "training.batch_size": 16, "training.lr": 0.01, "hidden": 4},
}
#: the stand-in files' sizes (quick; tiny: fewer samples)
_STANDIN = {"shd": dict(n_train=96, n_test=32, duration=0.1), "cifar10": dict(n_per_batch=20, n_test=20),
            "dvs_gesture": dict(n_train=48, n_test=16)}
_STANDIN_TINY = {"shd": dict(n_train=40, n_test=16, duration=0.1), "cifar10": dict(n_per_batch=8, n_test=8),
                 "dvs_gesture": dict(n_train=16, n_test=8)}


def label(dataset: str) -> str:
    return LABELS.get(dataset, dataset)


# ----------------------------------------------------------------------------- data
@dataclass(frozen=True)
class DataSource:
    """Where a data set comes from: ``root`` (None: not available), ``source`` (one line for
    the stamp and footer) and ``standin`` (generated files in the official formats)."""

    dataset: str
    root: Path | None
    source: str
    standin: bool = False


def standin_root(ctx: Context, dataset: str, sizes: dict[str, Any], seed: int = 0) -> Path:
    """The folder of ``dataset``'s generated stand-in files with the writer's ``sizes``
    (:func:`fluctinit.datasets.standin.write_standin`): ``OUT/cache/standin/<dataset>/<hash of
    sizes and seed>``, written once."""
    from fluctinit.datasets.standin import write_standin
    from fluctinit.training import data_files_present

    from ._common import config_hash

    root = ctx.out / "cache" / "standin" / dataset / config_hash(dict(sizes, seed=seed))
    if not data_files_present(dataset, root):
        write_standin(dataset, root, seed=seed, **sizes)
    return root


def data_source(ctx: Context, dataset: str) -> DataSource:
    """The data set's files: ``ctx.data_root`` when they are there; in quick mode a generated
    stand-in (:func:`standin_root`) for SHD, CIFAR-10 and DVS-Gesture; else unavailable."""
    from fluctinit.datasets.standin import STANDIN_DATASETS
    from fluctinit.training import data_files_present

    if dataset == "randman":
        return DataSource(dataset, ctx.data_root, "Randman generated (fluctinit.datasets.make_randman)")
    if data_files_present(dataset, ctx.data_root):
        return DataSource(dataset, ctx.data_root, f"{label(dataset)} files in {ctx.data_root.resolve()}")
    if ctx.quick and dataset in STANDIN_DATASETS:
        root = standin_root(ctx, dataset, (_STANDIN_TINY if ctx.tiny else _STANDIN)[dataset])
        return DataSource(dataset, root, f"generated stand-in files, not {label(dataset)}", standin=True)
    return DataSource(dataset, None, f"{label(dataset)} missing")


def data_need(ctx: Context, dataset: str, *, required: bool = True) -> Need:
    """The :class:`Need` of a data set's files (present: real files at ``ctx.data_root``)."""
    from fluctinit.datasets.standin import STANDIN_DATASETS
    from fluctinit.training import DATA_FILES, DATA_SOURCES, data_files_present

    needed = DATA_FILES[dataset][0]
    files = ", ".join(needed) or "generated"
    present = dataset == "randman" or data_files_present(dataset, ctx.data_root)
    hint = "" if present else f"put them in {ctx.data_root}: {DATA_SOURCES[dataset]}" + (
        " (--quick: generated stand-in files instead)" if ctx.quick and dataset in STANDIN_DATASETS else "")
    paths = tuple(str((ctx.data_root / f).resolve()) for f in needed) if present else ()
    return Need(f"{label(dataset)} ({files})", "data", present, hint, required, paths)


# ----------------------------------------------------------------------------- sweeps
@dataclass(frozen=True)
class SweepSpec:
    """One sweep of an item (see the module docstring).

    Attributes:
        tag: the folder under ``ctx.runs``.  experiment: a shipped experiment name.
        grid: dotted key -> values.  seeds: the seeds.  epochs: supervised epochs (None: the
        config's).  overrides: dotted key -> value applied to the experiment first.
        quick: apply :data:`QUICK` for the experiment's data set (``hidden`` sets every hidden
        layer's width; Dale's-law nets get a quarter of it inhibitory).
    """

    tag: str
    experiment: str
    grid: dict[str, list[Any]]
    seeds: tuple[int, ...] = (0,)
    epochs: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    quick: bool = False

    def to_json(self) -> dict:
        return {"tag": self.tag, "experiment": self.experiment, "grid": self.grid, "seeds": list(self.seeds),
                "epochs": self.epochs, "overrides": self.overrides, "quick": self.quick}


def spec_config(spec: SweepSpec) -> dict:
    """The base config of ``spec``: the experiment with its overrides (and :data:`QUICK`)."""
    from fluctinit.training import load_experiment
    from fluctinit.training.sweep import set_key

    config = copy.deepcopy(load_experiment(spec.experiment))
    dataset = config["data"]["dataset"]
    overrides = dict(spec.overrides)
    if spec.quick:
        quick = dict(QUICK[dataset])
        width = quick.pop("hidden")
        n = len(config["network"]["hidden"])
        overrides = {**quick, "network.hidden": [width] * n, **overrides}
        if config["network"].get("dale"):
            overrides.setdefault("network.n_inh", [max(width // 4, 1)] * n)
        if dataset == "dvs_gesture":
            overrides.setdefault("network.n_in", [16, 16])
    for key, value in overrides.items():
        set_key(config, key, value)
    if spec.quick and "data.duration" in overrides:
        config["network"]["tau_out"] = config["data"]["duration"]
    return config


def sweep_need(ctx: Context, spec: SweepSpec) -> Need:
    """The :class:`Need` of a sweep: present when its results table says every cell is done
    with the epochs asked for (a sweep run for fewer epochs continues on resume)."""
    folder = ctx.runs / spec.tag
    rows = _table(folder)
    n = len(spec.seeds)
    for values in spec.grid.values():
        n *= len(values)
    epochs = spec.epochs if spec.epochs is not None else spec_config(spec)["training"]["epochs"]
    done = sum(r.get("status") == "done" and str(r.get("epochs_completed")) == str(epochs) for r in rows)
    what = (f"sweep {spec.tag}: {spec.experiment} x {', '.join(spec.grid)} ({n} cells, {epochs} epochs, "
            f"seeds {list(spec.seeds)})")
    return Need(what, "run", bool(rows) and done == n == len(rows), f"{folder}: {done}/{n} done")


def _table(folder: Path) -> list[dict[str, str]]:
    try:
        with open(folder / "results.csv", newline="") as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


@dataclass
class CellRun:
    """One finished cell: grid ``values``, ``seed``, its results-table ``row`` and ``results``
    (the run's results JSON; None for a failed cell)."""

    values: dict[str, Any]
    seed: int
    row: dict[str, str]
    results: dict[str, Any] | None


def run_spec(ctx: Context, spec: SweepSpec, source: DataSource | None = None) -> list[CellRun]:
    """Run what is missing of ``spec`` (see the module docstring); one :class:`CellRun` per cell."""
    from fluctinit.training import DATA_FILES, DATA_SOURCES, Engine, run_sweep, train_sweep

    config = spec_config(spec)
    dataset = config["data"]["dataset"]
    source = data_source(ctx, dataset) if source is None else source
    if source.root is None:
        raise FileNotFoundError(f"{spec.tag} needs {label(dataset)}: put {', '.join(DATA_FILES[dataset][0])} in "
                                f"{ctx.data_root}: {DATA_SOURCES[dataset]}")
    folder = ctx.runs / spec.tag
    job = train_sweep(config, spec.grid, list(spec.seeds), folder, epochs=spec.epochs, data_root=source.root)
    need = sweep_need(ctx, spec)
    if not need.present:
        ctx.log(f"running {need.what} into {folder}")
    engine = Engine(workers=ctx.workers, processes=not ctx.tiny)  # tiny (tests): threads, no process start-up
    resume = (folder / "sweep.json").exists()
    run_sweep(job, folder, engine=engine, resume=resume, quiet=ctx.quiet)
    rows = {(r["folder"]): r for r in _table(folder)}
    out = []
    for cell in job.cells:
        row = rows.get(f"cells/{cell.name}", {})
        results = None
        for path in sorted((folder / "cells" / cell.name).glob(f"*_seed{cell.seed}.json")):
            results = json.loads(path.read_text())
        out.append(CellRun(dict(cell.values), cell.seed, row, results))
    return out


def number(v) -> float | None:
    """``v`` as a finite float (a results-table cell), else None."""
    import math

    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def summarize(cell: CellRun) -> dict[str, Any]:
    """The plotted numbers of one cell: grid values, seed, status, final accuracies, epochs to
    90 % training accuracy, the rate the initialization assumed (``nu_hz``), the recording at initialization (per-layer rates in Hz,
    surrogate-gradient and weight-update magnitudes, layer names), the last epoch's rates and
    the accuracy curve (per supervised epoch)."""
    r = cell.results or {}
    rec = (r.get("recording") or {}).get("at_init") or {}
    sup = [h for h in r.get("history", []) if h["phase"] == "supervised"]
    return {
        "values": cell.values, "seed": cell.seed, "status": cell.row.get("status", "missing"),
        "train_accuracy": number(cell.row.get("train_accuracy")), "valid_accuracy": number(cell.row.get("valid_accuracy")),
        "test_accuracy": number(cell.row.get("test_accuracy")), "epochs_to_90": number(cell.row.get("epochs_to_90")),
        "epochs": len(sup), "nu_hz": r.get("nu_hz"), "rates_init_hz": rec.get("rates_hz"), "sg_init": rec.get("sg_magnitude"),
        "dw_init": rec.get("dw_magnitude"), "layers": rec.get("layers"),
        "rates_final_hz": sup[-1]["rates_hz"] if sup else None,
        "curve": {"train_accuracy": [h["train_accuracy"] for h in sup], "valid_accuracy": [h["valid_accuracy"] for h in sup],
                  "test_accuracy": [h["test_accuracy"] for h in sup]} if sup else None,
    }


def aggregate(rows: list[dict], key: str, value: str) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds of ``value`` per grid value ``values[key]``
    (done cells only), in the grid's order: ``[{"x", "mean", "std", "n"}]``."""
    import numpy as np

    out: dict[Any, list[float]] = {}
    for r in rows:
        x = r["values"].get(key)
        out.setdefault(json.dumps(x), [])
        if r["status"] == "done" and r.get(value) is not None:
            out[json.dumps(x)].append(r[value])
    return [{"x": json.loads(k), "mean": float(np.mean(v)) if v else None,
             "std": float(np.std(v)) if len(v) > 1 else (0.0 if v else None), "n": len(v)} for k, v in out.items()]


def item_sources(ctx: Context, datasets, data: dict) -> dict[str, DataSource]:
    """The sources of ``datasets`` that are available, recorded in ``data`` (``sources``,
    ``standins``, and a note for each one left out)."""
    out = {}
    for ds in datasets:
        src = data_source(ctx, ds)
        if src.root is None:
            data.setdefault("notes", []).append(f"{label(ds)} panels left out: {data_need(ctx, ds).hint}")
            continue
        data.setdefault("sources", {})[ds] = src.source
        if src.standin:
            data.setdefault("standins", []).append(label(ds))
        out[ds] = src
    return out


def check_specs(specs) -> None:
    """Every cell config of every spec validated (one line naming the key, its value and the
    valid range), before an item runs any of them."""
    from fluctinit.training import train_cells

    for spec in specs:
        train_cells(spec_config(spec), spec.grid, list(spec.seeds), "unused", epochs=spec.epochs)


def rows_of(ctx: Context, spec: SweepSpec, source: DataSource | None = None) -> list[dict[str, Any]]:
    """:func:`summarize` of every cell of ``spec`` (run what is missing first)."""
    return [summarize(c) for c in run_spec(ctx, spec, source)]


def at_value(rows: list[dict], key: str, value: Any) -> list[dict]:
    """The done rows whose grid value ``key`` equals ``value`` (numbers compared as floats)."""
    def same(v):
        try:
            return abs(float(v) - float(value)) <= 1e-12 * max(1.0, abs(float(value)))
        except (TypeError, ValueError):
            return v == value
    return [r for r in rows if r["status"] == "done" and same(r["values"].get(key))]
