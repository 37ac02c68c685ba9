"""Parameter sweeps: a grid of config values times seeds, one ordinary training run per cell.

A sweep is the Cartesian product of a **grid** -- dotted config keys (``init.sigma_u``,
``training.lr``, ``network.hidden``) each with a list of values -- times the seeds 0..N-1.
Each **cell** is one run of :func:`~fluctinit.training.train_experiment` into its own folder
``DIR/cells/<name>/`` (checkpoint and results JSON as ``fluctinit train`` writes them), so a
cell with the same config and seed gives exactly what ``fluctinit train`` gives.  Cells run
as Dask tasks (:mod:`fluctinit.training.sweep_engine`); this module is the part that needs no
cluster:

* :func:`parse_grid` -- ``["init.sigma_w=logspace(-2,1,13)", "network.hidden=[128],[128,128]"]``
  to ``{key: [values]}`` (:data:`GRID_SYNTAX`);
* :func:`cell_names` -- readable, unique folder names (``sigma_u=0.5_seed0``);
* :func:`train_cells` -- every cell's config, validated with
  :func:`~fluctinit.training.resolve_config` before any work (one line naming the key, the
  value and its valid range), and what its folder holds already (:func:`~fluctinit.training.plan_run`);
* :func:`train_row` -- the results-table columns of a finished run (:data:`TRAIN_COLUMNS`);
* :func:`sweep_record`, :func:`check_sweep_folder` -- ``DIR/sweep.json`` and the rule that a
  folder holding a sweep is continued only with ``resume`` and only for the very same sweep.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any, Callable, Sequence

from fluctinit.errors import Integer, ParameterError, conflict

__all__ = [
    "GRID_SYNTAX", "GRID_FUNCTIONS", "parse_grid", "parse_values", "set_key", "cell_names", "Cell", "grid_cells", "train_cells",
    "inspect_train_cell", "describe_values", "rate_columns", "error_line",
    "train_row", "TRAIN_COLUMNS", "STATUSES", "SWEEP_FILE", "TABLE_FILE", "CELLS_DIR", "sweep_record",
    "check_sweep_folder", "read_record", "format_value",
]

#: how ``--grid`` values are written (also the error messages' description)
GRID_SYNTAX = ("KEY=V1,V2,... (values split on top-level commas, each parsed as JSON, else taken as a string), "
               "or a range: linspace(a,b,n), logspace(a,b,n) (10**linspace), range(a,b[,step]) (integers)")
#: a dotted key path: identifiers joined by dots
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_CALL = re.compile(r"\s*([a-z]+)\((.*)\)\s*", re.S)
#: a cell's status in the results table
STATUSES = ("pending", "running", "done", "failed")
SWEEP_FILE, TABLE_FILE, CELLS_DIR = "sweep.json", "results.csv", "cells"
#: more values than this in one grid (a typo such as linspace(0,1,1e6) in a list) are refused
MAX_CELLS = 100_000


def _linspace(name: str, args: list) -> list[float]:
    import numpy as np

    a, b, n = _range_args(name, args)
    return [float(v) for v in np.linspace(a, b, n)]


def _logspace(name: str, args: list) -> list[float]:
    import numpy as np

    a, b, n = _range_args(name, args)
    with np.errstate(over="ignore"):
        values = [float(v) for v in np.logspace(a, b, n)]
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise _bad_range(name, args, "exponents for which 10**x is a positive finite float")
    return values


def _range(name: str, args: list) -> list[int]:
    if not (2 <= len(args) <= 3 and all(Integer().contains(a) for a in args)) or (len(args) == 3 and args[2] == 0):
        raise _bad_range(name, args, "(start, stop) or (start, stop, step) with integers, step not 0")
    if len(range(*args)) > MAX_CELLS:
        raise _bad_range(name, args, f"at most {MAX_CELLS} integers")
    values = list(range(*args))
    if not values:
        raise _bad_range(name, args, "a range holding at least one integer")
    return values


#: the range syntax of ``--grid`` values: name -> expander(name, parsed arguments)
GRID_FUNCTIONS: dict[str, Callable[[str, list], list]] = {"linspace": _linspace, "logspace": _logspace,
                                                          "range": _range}


def _bad_range(name: str, args: list, what: str) -> ParameterError:
    text = f"{name}({', '.join(map(str, args))})"
    return ParameterError(f"`grid` range {name} must have {what}; got {text!r}", ["grid"], [text])


def _range_args(name: str, args: list) -> tuple[float, float, int]:
    finite = lambda a: isinstance(a, (int, float)) and not isinstance(a, bool) and math.isfinite(a)  # noqa: E731
    if not (len(args) == 3 and finite(args[0]) and finite(args[1]) and Integer(1).contains(args[2])):
        raise _bad_range(name, args, "(start, stop, num) with finite start and stop and an integer num >= 1")
    if args[2] > MAX_CELLS:
        raise _bad_range(name, args, f"num <= {MAX_CELLS}")
    return float(args[0]), float(args[1]), int(args[2])


def _split_top_level(text: str) -> list[str]:
    """``text`` split on the commas outside brackets, braces, parentheses and double quotes."""
    parts, depth, start, quoted, escaped = [], 0, 0, False, False
    for i, ch in enumerate(text):
        if quoted:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
            continue
        if ch == '"':
            quoted = True
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
            if depth < 0:
                break
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    if depth != 0 or quoted:
        raise ParameterError(f"`grid` values must have balanced brackets and quotes; got {text!r}", ["grid"], [text])
    return parts


def _one_value(item: str) -> Any:
    try:
        return json.loads(item)
    except json.JSONDecodeError:
        return item


def parse_values(text: str) -> list[Any]:
    """The values of one ``--grid`` entry (the part after ``KEY=``), in order (:data:`GRID_SYNTAX`).

    >>> parse_values("0.5,1,[128,128],pooled")
    [0.5, 1, [128, 128], 'pooled']
    >>> parse_values("logspace(-1,1,3)")
    [0.1, 1.0, 10.0]

    Raises:
        ParameterError: an empty value, unbalanced brackets, a bad range, a value given twice.
    """
    values: list[Any] = []
    for item in _split_top_level(text):
        item = item.strip()
        if not item:
            raise ParameterError(f"`grid` values must be non-empty (no stray comma); got {text!r}", ["grid"], [text])
        call = _CALL.fullmatch(item)
        if call and call.group(1) in GRID_FUNCTIONS:
            args = [_one_value(a.strip()) for a in _split_top_level(call.group(2))] if call.group(2).strip() else []
            values.extend(GRID_FUNCTIONS[call.group(1)](call.group(1), args))
        else:
            values.append(_one_value(item))
    seen: set = set()
    for v in values:
        if _same(v) in seen:
            raise ParameterError(f"`grid` values must differ (each cell once); got {v!r} twice in {text!r}",
                                 ["grid"], [text])
        seen.add(_same(v))
    return values


def _same(value: Any) -> Any:
    """A hashable key equal for values a config cannot tell apart (``1`` and ``1.0``)."""
    if isinstance(value, bool) or value is None:
        return ("b", value)
    if isinstance(value, (int, float)):
        return ("n", float(value))
    if isinstance(value, list):
        return ("l", tuple(_same(v) for v in value))
    if isinstance(value, dict):
        return ("d", tuple(sorted((k, _same(v)) for k, v in value.items())))
    return ("s", str(value))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def parse_grid(specs: Sequence[str], *, reserved: dict[str, str] | None = None) -> dict[str, list[Any]]:
    """``["KEY=V1,V2", ...]`` -> ``{KEY: [V1, V2], ...}`` in the order given (:data:`GRID_SYNTAX`).

    Args:
        specs: one ``KEY=VALUES`` string per grid key.
        reserved: keys that may not be swept -> why (said in the error).

    Raises:
        ParameterError: "`grid` must be KEY=V1,V2,...; got ..." for a malformed entry, a key given
            twice or reserved, or any error of :func:`parse_values`.
    """
    grid: dict[str, list[Any]] = {}
    reserved = reserved or {}
    for spec in specs:
        key, eq, text = str(spec).partition("=")
        key = key.strip()
        if not eq or not _KEY.fullmatch(key) or not text.strip():
            raise ParameterError(f"`grid` must be {GRID_SYNTAX}; got {spec!r}", ["grid"], [spec])
        if key in grid:
            raise ParameterError(f"`grid` must name each key once; got {key!r} twice", ["grid"], [spec])
        if key in reserved:
            raise ParameterError(f"`grid` must not sweep {key!r} ({reserved[key]}); got {spec!r}", ["grid"], [spec])
        grid[key] = parse_values(text)
    n = math.prod(len(v) for v in grid.values()) if grid else 0
    if n > MAX_CELLS:
        raise ParameterError(f"`grid` must have at most {MAX_CELLS} combinations; got {n}", ["grid"], [n])
    return grid


def set_key(config: dict[str, Any], key: str, value: Any, *, what: str = "the experiment config") -> None:
    """Set the dotted ``key`` of ``config`` in place (sections created where missing).

    Raises:
        ParameterError: a part of the path holds a value, not a section.
    """
    parts = key.split(".")
    node = config
    for i, part in enumerate(parts[:-1]):
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            prefix = ".".join(parts[: i + 1])
            raise ParameterError(f"`grid` key must be a path into {what}; got {key!r} (`{prefix}` holds "
                                 f"{json.dumps(nxt)}, not a section)", ["grid"], [key])
        node = nxt
    node[parts[-1]] = copy.deepcopy(value)


# ----------------------------------------------------------------------------- cells
def format_value(value: Any) -> str:
    """A grid value as the results table writes it: numbers as Python writes them, strings as
    they are, anything else as compact JSON (``[128,128]``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, separators=(",", ":"))


def _readable(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        text = "x".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in value)
    else:
        text = format_value(value)
    # a leading minus is the value's sign (mu_w=-3 and mu_w=3 must not read alike)
    slug = re.sub(r"[^A-Za-z0-9._+-]+", "-", text).rstrip("-")
    return (slug if text.startswith("-") else slug.lstrip("-")) or "x"


def _short_keys(keys: Sequence[str]) -> dict[str, str]:
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last)}


def cell_names(grid: dict[str, list[Any]]) -> list[str]:
    """A folder name per combination of ``grid`` values (in :func:`itertools.product` order):
    ``<key>=<value>`` joined by ``_`` (the key's last part unless two keys share it), e.g.
    ``sigma_u=0.5_lr=0.01``; combinations whose readable names coincide (values equal to 6
    digits, characters a file name cannot hold) get a hash of their exact values appended."""
    short = _short_keys(list(grid))
    combos = list(product(*grid.values()))
    names = ["_".join(f"{short[k]}={_readable(v)}" for k, v in zip(grid, combo)) or "cell" for combo in combos]
    counts = Counter(names)
    for i, (name, combo) in enumerate(zip(names, combos)):
        if counts[name] > 1 or len(name) > 160:
            digest = hashlib.sha1(_canonical(list(combo)).encode()).hexdigest()[:8]
            names[i] = f"{name[:150]}-{digest}"
    return names


@dataclass
class Cell:
    """One cell of a sweep: grid values and seed, its folder and its state.

    Attributes:
        name: the folder name under ``DIR/cells`` (unique in the sweep), e.g. ``sigma_u=0.5_seed0``.
        values: grid key -> value, in grid order.  seed: the cell's seed.
        folder: ``DIR/cells/<name>`` (absolute).
        payload: what the cell's task needs (a training cell: its validated config).
        status: one of :data:`STATUSES`.  result: the result columns once done.  error: one line.
        note: what the folder held at the start (``"resumes at epoch 3"``), for the progress lines.
        start_epoch: the epoch its checkpoint has done (cells batch only with cells at the same epoch).
    """

    name: str
    values: dict[str, Any]
    seed: int
    folder: Path
    payload: Any = None
    status: str = "pending"
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    note: str = ""
    start_epoch: int = 0


def grid_cells(grid: dict[str, list[Any]], seeds: Sequence[int], out: str | os.PathLike) -> list[Cell]:
    """The cells of ``grid`` times ``seeds`` (seeds innermost), named and placed under ``out/cells``."""
    folder = Path(os.path.abspath(out)) / CELLS_DIR
    cells = []
    for base, combo in zip(cell_names(grid), product(*grid.values())):
        for seed in seeds:
            name = f"{base}_seed{seed}" if grid else f"seed{seed}"
            cells.append(Cell(name, dict(zip(grid, combo)), int(seed), folder / name))
    return cells


def error_line(err: BaseException) -> str:
    """One line for a failed cell: a ParameterError's message, else ``Type: message`` (at most
    500 characters)."""
    text = str(err) if isinstance(err, ParameterError) else f"{type(err).__name__}: {err}"
    text = " ".join(text.split())
    return text if len(text) <= 500 else text[:497] + "..."


def describe_values(values: dict[str, Any], seed: int | None = None) -> str:
    """``init.sigma_u=0.5 training.lr=0.01 seed=0`` (for messages)."""
    parts = [f"{k}={format_value(v)}" for k, v in values.items()] + ([f"seed={seed}"] if seed is not None else [])
    return " ".join(parts)


#: keys no grid may sweep, and why
TRAIN_RESERVED = {"source": "set by load_experiment", "seed": "seeds are --seeds"}


def train_cells(
    config: dict[str, Any], grid: dict[str, list[Any]], seeds: Sequence[int], out: str | os.PathLike, *,
    epochs: int | None = None, device: str = "cpu", check_cuda: bool = True,
) -> list[Cell]:
    """The training cells of a sweep, every cell's config validated (reads and writes nothing).

    Args:
        config: the experiment config (:func:`~fluctinit.training.load_experiment`).
        grid: dotted config key -> values (:func:`parse_grid`).  seeds: the seeds of every combination.
        out: the sweep folder.  epochs: override ``training.epochs`` of every cell.
        device: "cpu" or "cuda".  check_cuda: refuse "cuda" where this machine has none (off when
            the cells run on a remote cluster).

    Returns:
        One :class:`Cell` per combination and seed (status "pending"); ``payload`` is the cell's
        validated config (:func:`inspect_train_cell` reads its folder).

    Raises:
        ParameterError: an unknown key, a value the schema refuses (the key, the value and its
            valid range, and the cell), ``epochs`` with a grid over ``training.epochs``.
    """
    from .loop import resolve_config

    for key, why in TRAIN_RESERVED.items():
        if key in grid:
            raise ParameterError(f"`grid` must not sweep {key!r} ({why}); got {key!r}", ["grid"], [key])
    if epochs is not None and "training.epochs" in grid:
        raise conflict("give the epochs once: by `epochs` or by a grid over training.epochs", epochs=epochs,
                       grid="training.epochs")
    base = {k: v for k, v in config.items() if k != "source"}
    cells = grid_cells(grid, seeds, out)
    by_values: dict[str, dict] = {}
    for cell in cells:
        combo = _canonical(list(cell.values.values()))
        if combo not in by_values:
            cfg = copy.deepcopy(base)
            for key, value in cell.values.items():
                set_key(cfg, key, value)
            cfg["source"] = config.get("source")
            try:
                by_values[combo], _ = resolve_config(cfg, epochs=epochs, device=device if check_cuda else "cpu")
            except ParameterError as err:
                where = f" (grid cell {describe_values(cell.values)})" if grid else ""
                raise ParameterError(f"{err}{where}", err.names, err.values) from None
        cell.payload = by_values[combo]
    return cells


def inspect_train_cell(cell: Cell) -> None:
    """Read what ``cell.folder`` holds of the cell's run (:func:`~fluctinit.training.plan_run`
    with ``resume``): finished -> status ``"done"`` with its result columns; a checkpoint ->
    ``start_epoch`` and a note; nothing -> unchanged.

    Raises:
        ParameterError: the folder holds files the run cannot continue from (naming them).
    """
    from .runs import plan_run, read_results

    if not cell.folder.is_dir():
        return
    plan = plan_run(cell.payload, cell.seed, cell.folder, resume=True)
    if plan.action == "done":
        cell.status, cell.result, cell.note = "done", train_row(read_results(plan.results)), "stored"
    elif plan.action == "resume":
        cell.start_epoch, cell.note = plan.epochs_done, f"resumes after epoch {plan.epochs_done}"


# ----------------------------------------------------------------------------- results
#: result columns of a training cell, after the grid keys, ``seed`` and ``status``
TRAIN_COLUMNS = ("train_accuracy", "valid_accuracy", "test_accuracy", "best_valid_epoch", "best_valid_test_accuracy",
                 "epochs_to_90", "epochs_completed", "time_s")


def train_row(results: dict[str, Any]) -> dict[str, Any]:
    """The results-table columns of one run's results dict (:data:`TRAIN_COLUMNS` and the final
    hidden rates ``rate_hz_<layer>``: the last epoch's mean rates, Hz)."""
    final, best = results["final"], results.get("best_validation") or {}
    history = results.get("history") or []
    row = {
        "train_accuracy": final["train_accuracy"], "valid_accuracy": final["validation_accuracy"],
        "test_accuracy": final["test_accuracy"], "best_valid_epoch": best.get("epoch"),
        "best_valid_test_accuracy": best.get("test_accuracy"),
        "epochs_to_90": (results.get("recording") or {}).get("epochs_to_90_train"),
        "epochs_completed": results.get("epochs_completed"), "time_s": results.get("time_s"),
    }
    for i, rate in enumerate(history[-1].get("rates_hz") or [] if history else []):
        row[f"rate_hz_{i}"] = rate
    return row


def rate_columns(cells: Sequence[Cell]) -> list[str]:
    """``rate_hz_0 .. rate_hz_<L-1>`` for the deepest network of the sweep."""
    depth = max((len(c.payload["network"]["hidden"]) for c in cells if c.payload), default=0)
    return [f"rate_hz_{i}" for i in range(depth)]


# ----------------------------------------------------------------------------- the sweep folder
def sweep_record(kind: str, base: dict[str, Any], grid: dict[str, list[Any]], seeds: Sequence[int],
                 cells: Sequence[Cell], engine: dict[str, Any]) -> dict[str, Any]:
    """The contents of ``DIR/sweep.json``: what was swept (compared on resume), the cells, the
    code version and the engine settings."""
    from fluctinit.provenance import code_version

    return {"kind": kind, "base": base, "grid": grid, "seeds": list(seeds),
            "cells": [{"name": c.name, "values": c.values, "seed": c.seed} for c in cells],
            "code_version": code_version(), "engine": engine}


def read_record(path: Path) -> dict[str, Any]:
    """A stored ``sweep.json``.

    Raises:
        ParameterError: unreadable, or not a sweep's record.
    """
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        record, why = None, getattr(err, "strerror", None) or str(err).splitlines()[0]
    else:
        why = "not a sweep record"
    if not (isinstance(record, dict) and {"kind", "base", "grid", "seeds"} <= set(record)):
        raise ParameterError(f"`out` must hold a sweep written by fluctinit sweep; {str(path)!r} is not one ({why}); "
                             "use another `out`", ["out"], [str(path.parent)])
    return record


def _differences(stored: dict[str, Any], new: dict[str, Any]) -> list[str]:
    from .checkpoint import run_differences

    rows = []
    if stored["kind"] != new["kind"]:
        rows.append(f"kind {stored['kind']!r} -> {new['kind']!r}")
    rows += [f"config {d}" for d in run_differences(stored["base"], None, new["base"], None)]  # epochs: below
    before, after = _epochs(stored["base"]), _epochs(new["base"])
    if before is not None and after is not None and after < before:
        rows.append(f"config training.epochs {before} -> {after} (the epochs of a sweep may grow on resume, "
                    "not shrink)")
    old_grid, new_grid = stored["grid"], new["grid"]
    if list(old_grid) != list(new_grid):
        rows.append(f"grid keys {list(old_grid)} -> {list(new_grid)}")
    rows += [f"grid {k} {old_grid[k]} -> {new_grid[k]}" for k in new_grid if k in old_grid and old_grid[k] != new_grid[k]]
    if stored["seeds"] != new["seeds"]:
        rows.append(f"seeds {stored['seeds']} -> {new['seeds']}")
    return rows


def _epochs(base: Any) -> Any:
    training = base.get("training") if isinstance(base, dict) else None
    return training.get("epochs") if isinstance(training, dict) else None


def check_sweep_folder(out: str | os.PathLike, record: dict[str, Any], *, resume: bool) -> bool:
    """Whether ``out`` already holds this very sweep (True: continue it), after the rules.

    A folder holding a sweep (``sweep.json``) is refused without ``resume``; with ``resume`` it
    must be the same sweep: kind, config, grid and seeds equal (engine settings may differ, and
    ``training.epochs`` may grow: every cell then continues from its checkpoint).

    Raises:
        ParameterError: the folder is no writable folder; it holds a sweep and ``resume`` is
            not given; it holds another sweep (every difference named, stored value first);
            it holds cells or a results table but no ``sweep.json``.
    """
    from fluctinit._io import check_output_path

    out = check_output_path("out", out, kind="dir")
    path = out / SWEEP_FILE
    if not path.exists():
        leftovers = [p.name for p in (out / CELLS_DIR, out / TABLE_FILE) if p.exists()]
        if leftovers:
            raise ParameterError(f"`out` {str(out)!r} holds {', '.join(leftovers)} but no {SWEEP_FILE}: not a sweep "
                                 "this command can continue; use another `out`", ["out"], [str(out)])
        return False
    if not resume:
        raise ParameterError(f"`out` {str(out)!r} already holds a sweep ({SWEEP_FILE}); pass `resume` to continue "
                             "it, or choose another `out`", ["out", "resume"], [str(out), False])
    stored = read_record(path)
    new = json.loads(json.dumps({k: record[k] for k in ("kind", "base", "grid", "seeds")}))
    diff = _differences(stored, new)
    if diff:
        shown = "; ".join(diff[:4]) + (f"; and {len(diff) - 4} more" if len(diff) > 4 else "")
        raise ParameterError(f"`resume` needs the sweep asked for to be the one in {str(out)!r}; it differs: {shown} "
                             "(stored -> asked; use another `out` for another sweep)",
                             ["resume", "out"], [True, str(out)])
    return True
