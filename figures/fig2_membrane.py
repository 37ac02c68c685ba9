"""Paper figure 2: membrane statistics of free LIF neurons on Randman and SHD data (and FSDD).

    python -m fluctinit.figures.fig2_membrane [--config figures/configs/fig2.json]
        [--out results/fig2] [--compute-only | --plot-only] [--tiny]

Panels (paper section 2, figure 2):

* (b) Randman: density histogram of the free membrane potential ``U`` (no threshold, no
  reset) of one neuron per shown target ``sigma_u``, against the Gaussian the theory predicts
  for that neuron's drawn weights, ``N(mu_i, sigma_i**2)`` with ``mu_i = sum_j w_ij nu_j
  epsilon_bar`` and ``sigma_i**2 = sum_j w_ij**2 nu_j epsilon_hat`` (paper eqs. 2-3, measured
  per-input rates ``nu_j``), and the target ``N(mu_u, sigma_u**2)`` (eqs. 4-5).
* (c) Randman: measured ``sigma_hat_U`` (mean over neurons, shaded: std across neurons)
  against the target ``sigma_u``; the expected relation for homogeneous independent Poisson
  inputs is the identity ``sigma_hat_U = sigma_u``; error bars: the theory's per-neuron
  prediction for the drawn weights, mean +- its spread across neurons
  (``sigma_u_spread_predicted``, the variability expected from weight sampling alone,
  supplementary S2).
* (e), (f): the same for SHD, only when the official SHD training file is at the config's
  ``shd.path``; otherwise these panels are skipped, with a note in the results, the stamp
  and the figure.  Generated data never stand in for SHD.
* (g), (h), not in the paper: the same for FSDD (the Free Spoken Digit Dataset through SHD's
  cochlear model: real audio-derived spikes, never labelled SHD), only when a converted FSDD
  file (``fsdd_train.h5`` of ``fluctinit data fsdd``) is at the config's ``fsdd.path``;
  skipped with a note otherwise, as the SHD panels are.

Weights: ``init`` (default ``feedforward``, zero mean, ``sigma_w`` from eq. 9 with the
data's mean rate), ``neurons`` independent neurons per target (``fluctinit.validation.sweep``;
the same computation as ``fluctinit validate randman|shd|fsdd --sweep --out ... --hist ...``).
Units: times in seconds, rates in Hz, ``U`` and ``sigma_u`` in threshold units.

Outputs under ``--out``: ``fig2_randman.json``, ``fig2_shd.json`` and ``fig2_fsdd.json``
(results, written atomically, each with a stamp: version, git commit, seed, config, config
hash), reused when their cache key (config hash, plus the data file's size and mtime) is
unchanged; ``fig2.png``
and ``fig2.pdf`` (stamp in the metadata and a footer); ``cache/randman/`` (the generated
Randman data).  ``--tiny``: the config's ``tiny`` overrides (few neurons and samples) for
smoke tests.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from pydantic import create_model, model_validator

from fluctinit.errors import Integer, Interval, OneOf, ParameterError
from fluctinit.training.schema import StrictModel, checked, config_error, constrained, validate

from fluctinit.figures import _common as C

NAME = "fig2"
DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "fig2.json"
DATASETS = ("randman", "shd", "fsdd")
INITS = ("feedforward", "recurrent", "dale-exponential", "dale-lognormal")

_POS = Interval(0.0, None, "neither")

#: constraints of the config's top-level scalar entries (one table; tests push each out of range)
CONFIG_CONSTRAINTS: dict[str, Any] = {
    "seed": Integer(0),
    "neurons": Integer(2),
    "init": OneOf(INITS),
    "mu_u": Interval(),
    "dt": _POS,
    "tau_mem": _POS,
    "tau_syn": _POS,
    "mode": OneOf(("discrete", "continuous")),
    "hist_bins": Integer(2),
    "hist_width": _POS,
    "batch_size": Integer(1),
}
#: constraints of the data-set sections (``max_samples`` may be null: all samples); SHD and FSDD
#: share theirs (a file in SHD's layout)
RANDMAN_CONSTRAINTS: dict[str, Any] = {"seed": Integer(0), "max_samples": Integer(1)}
FILE_CONSTRAINTS: dict[str, Any] = {"duration": _POS, "max_samples": Integer(1)}
_LIST_KEYS = ("sigma_us", "hist_sigma_us")
_FILE_DURATION = 0.7  # seconds, the paper's T_SHD (section 4.1); FSDD's loader keeps as much


@dataclass(frozen=True)
class _FileData:
    """A data set read from a file (``config.<name>.path``): its label in the figure, its panels
    and what the file is (the skip note)."""

    label: str
    panels: tuple[str, str]
    file: str


#: the data sets of the figure read from a file, by section name (Randman is generated)
FILE_DATA = {
    "shd": _FileData("SHD", ("e", "f"), "the official shd_train.h5"),
    "fsdd": _FileData("FSDD", ("g", "h"), "fsdd_train.h5 made by `fluctinit data fsdd`"),
}

#: number of times a data set was computed in this process (tests check that caches are reused)
COMPUTE_COUNT = {ds: 0 for ds in DATASETS}


# --------------------------------------------------------------------------------------
# configuration: a strict schema (fluctinit.training.schema), key paths ``config.<key>``


def _max_samples(c: Integer):
    return checked(Optional[int], f"{c.describe()} or null (all samples)", lambda v: v is None or c.contains(v))


class RandmanSection(StrictModel):
    seed: constrained(RANDMAN_CONSTRAINTS["seed"]) = None  # default: the config's seed
    max_samples: _max_samples(RANDMAN_CONSTRAINTS["max_samples"]) = None
    generator: checked(dict, "an object of RandmanConfig fields (fluctinit.datasets.RandmanConfig)") = {}


class FileSection(StrictModel):
    """``config.shd``, ``config.fsdd``: the file, the seconds kept per sample, the samples used."""

    path: checked(Optional[str], "a file path or null", lambda v: v is None or v.strip() != "") = None
    duration: constrained(FILE_CONSTRAINTS["duration"]) = None  # default: _FILE_DURATION
    max_samples: _max_samples(FILE_CONSTRAINTS["max_samples"]) = None


class _Fig2Base(StrictModel):
    @model_validator(mode="after")
    def _shown_targets_are_swept(self):
        for i, s in enumerate(self.hist_sigma_us):
            if not any(math.isclose(s, t) for t in self.sigma_us):
                raise config_error(f"hist_sigma_us[{i}]", s, "one of `config.sigma_us` "
                                   f"({', '.join(f'{t:g}' for t in self.sigma_us)})")
        return self


_SIGMAS = checked(list[constrained(_POS)], "a non-empty list of positive numbers", lambda v: len(v) > 0)

#: The whole figure-2 config (the ``tiny`` overrides apart): every key required.
Fig2Config = create_model(
    "Fig2Config", __base__=_Fig2Base,
    **{k: (constrained(c), ...) for k, c in CONFIG_CONSTRAINTS.items()},
    **{k: (_SIGMAS, ...) for k in _LIST_KEYS},
    randman=(RandmanSection, ...), **{ds: (FileSection, ...) for ds in FILE_DATA},
)


@functools.cache
def _generator_model():
    """The schema of ``randman.generator``: RandmanConfig's fields and constraints, but the seed."""
    from dataclasses import fields

    from fluctinit.datasets.randman import RANDMAN_CONSTRAINTS as RC, RandmanConfig

    defaults = {f.name: f.default for f in fields(RandmanConfig)}

    class Base(StrictModel):
        @model_validator(mode="after")
        def _split_sums(self):
            get = {k: defaults[k] if getattr(self, k) is None else getattr(self, k)
                   for k in ("n_train", "n_valid", "n_test", "samples_per_class")}
            total = get["n_train"] + get["n_valid"] + get["n_test"]
            if total != get["samples_per_class"]:
                raise config_error("samples_per_class", get["samples_per_class"],
                                   f"n_train + n_valid + n_test = {total} (RandmanConfig defaults where not given)")
            return self

    return create_model("RandmanGenerator", __base__=Base,
                        **{k: (constrained(c), None) for k, c in RC.items() if k != "seed"})


def load_config(path: str | os.PathLike | None = None, *, tiny: bool = False) -> dict:
    """Read and check a figure-2 config; return the effective config (``tiny`` overrides applied).

    The ``tiny`` section is merged into the config when ``tiny`` is true and removed in any
    case; the effective config carries ``"tiny": true/false`` so that tiny and full results
    never share a cache key.

    Raises:
        ParameterError: a file that is not JSON, an unknown key, a value of the wrong JSON type
            or out of range, ``hist_sigma_us`` not among ``sigma_us``: one error naming the key
            path (``config.randman.max_samples``).
        FileNotFoundError: no file at ``path``.
    """
    path = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        raw = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ParameterError(f"`--config` must be a valid JSON file; got {str(path)!r} ({err})",
                             ["--config"], [str(path)]) from None
    return check_config(raw, tiny=tiny)


def check_config(raw: dict, *, tiny: bool = False) -> dict:
    """Check a config dict (see :func:`load_config`) and return the effective config.

    Both the config and the config with its ``tiny`` overrides are checked, whichever is used:
    an error in the overrides ends "(with the `config.tiny` overrides)".
    """
    if not isinstance(raw, dict):
        raise ParameterError(f"`config` must be a JSON object; got {raw!r}", ["config"], [raw])
    overrides = raw.get("tiny", {})
    if not isinstance(overrides, dict):
        raise ParameterError(f"`config.tiny` must be an object of overrides; got {overrides!r}", ["config.tiny"],
                             [overrides])
    base = {k: v for k, v in raw.items() if k != "tiny"}
    merged = C.deep_update(base, overrides)
    checked_base = _check(base)
    checked_tiny = _check(merged, overrides, " (with the `config.tiny` overrides)")
    model, source = (checked_tiny, merged) if tiny else (checked_base, base)
    cfg = model.model_dump()
    cfg["randman"]["generator"] = copy.deepcopy(source["randman"].get("generator", {}))
    if cfg["randman"]["seed"] is None:
        cfg["randman"]["seed"] = cfg["seed"]
    for ds in FILE_DATA:
        if cfg[ds]["duration"] is None:
            cfg[ds]["duration"] = _FILE_DURATION
    cfg["tiny"] = bool(tiny)
    return cfg


def _check(raw: dict, overrides: dict | None = None, note: str = ""):
    """The validated model of one config (the generator options against RandmanConfig too)."""
    from fluctinit.datasets.randman import RandmanConfig

    try:
        model = validate(Fig2Config, raw, root="config", label="`config`")
        gen = model.randman.generator
        validate(_generator_model(), gen, root="config.randman.generator", label="`config.randman.generator`")
        try:
            RandmanConfig(seed=model.randman.seed or 0, **gen)  # its own checks, before any work
        except ParameterError as err:
            msg = str(err)
            for name in err.names:
                msg = msg.replace(f"`{name}`", f"`config.randman.generator.{name}`")
            raise ParameterError(msg, [f"config.randman.generator.{n}" for n in err.names], err.values) from None
    except ParameterError as err:
        if not note:
            raise
        raise _in_overrides(err, overrides, note) from None
    return model


def _in_overrides(err: ParameterError, overrides: dict, note: str) -> ParameterError:
    """An error of the config with its tiny overrides: named ``config.tiny.<key>`` when that
    key is one of the overrides, else with ``note`` appended."""
    path = err.names[0] if err.names else ""
    node: Any = overrides
    for key, index in re.findall(r"\.([A-Za-z0-9_\-]+)|\[(\d+)\]", path[len("config"):]):
        if key and isinstance(node, dict) and key in node:
            node = node[key]
        elif index and isinstance(node, list) and int(index) < len(node):
            node = node[int(index)]
        else:
            return ParameterError(str(err) + note, err.names, err.values)
    tiny = "config.tiny" + path[len("config"):]
    msg = str(err).replace(f"`{path}`", f"`{tiny}`", 1).replace("(did you mean `config.", "(did you mean `config.tiny.")
    return ParameterError(msg, [tiny], err.values)


def _common_part(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k not in DATASETS}


def dataset_key(cfg: dict, dataset: str) -> str:
    """Cache key of one data set's results: hash of the shared settings, that data set's
    section and (SHD, FSDD) the file's fingerprint (:func:`_common.file_fingerprint`)."""
    part = dict(_common_part(cfg), dataset=dataset, section=cfg[dataset])
    if dataset in FILE_DATA:
        part["file"] = C.file_fingerprint(_file_path(cfg, dataset))
    return C.config_hash(part)


def _file_path(cfg: dict, dataset: str) -> str | None:
    p = cfg[dataset]["path"]
    return None if p is None else os.path.abspath(os.path.expanduser(p))


def result_path(out: str | os.PathLike, dataset: str) -> Path:
    return Path(out) / f"{NAME}_{dataset}.json"


# --------------------------------------------------------------------------------------
# computation (cached)


def _source(cfg: dict, dataset: str, out: Path):
    from fluctinit import validation as M

    if dataset == "randman":
        r = cfg["randman"]
        return M.randman_source(dt=cfg["dt"], seed=r["seed"], batch_size=cfg["batch_size"], max_samples=r["max_samples"],
                                cache_dir=C.cache_dir(out, "randman"), **r["generator"])
    s = cfg[dataset]  # SHD, or FSDD through the same source under its own name
    return M.shd_source(_file_path(cfg, dataset), dt=cfg["dt"], duration=s["duration"],
                        batch_size=cfg["batch_size"], max_samples=s["max_samples"], dataset=dataset)


def skip_reason(cfg: dict, dataset: str) -> str | None:
    """Why the panels of a file's data set (SHD, FSDD) are skipped (no path configured, or no
    file there), else None."""
    p, d = _file_path(cfg, dataset), FILE_DATA[dataset]
    panels = f"{d.label} panels ({', '.join(d.panels)}) skipped"
    if p is None:
        return f"{panels}: no {d.label} file configured (config {dataset}.path is null)"
    if not os.path.isfile(p):
        return f"{panels}: no {d.label} file at {p!r}"
    return None


def compute_dataset(cfg: dict, dataset: str, out: str | os.PathLike, *, force: bool = False) -> tuple[dict, str]:
    """Results of one data set, from the cache when its key matches, else computed and written.

    Returns:
        ``(result, status)`` with status ``"cached"``, ``"computed"`` or ``"skipped"``.
        ``result`` holds ``stamp``, ``dataset``, ``status``, and when computed ``rows``
        (one ``MembraneReport.to_dict(per_neuron=True)`` per target), ``histograms``
        (first neuron of each target: bin edges, density, measured and predicted moments),
        ``n_samples``, ``n_inputs``, ``nu`` (Hz), ``elapsed_s``; when skipped ``reason``.
    """
    out = Path(out)
    key = dataset_key(cfg, dataset)
    path = result_path(out, dataset)
    if not force:
        cached = C.load_cached(path, key)
        if cached is not None:
            return cached, "cached"
    if dataset in FILE_DATA:
        reason = skip_reason(cfg, dataset)
        if reason is not None:
            res = dict(stamp=C.make_stamp(cfg, seed=cfg["seed"], key=key, notes=[reason]), dataset=dataset,
                       status="skipped", reason=reason)
            C.write_result(path, res)
            return res, "skipped"
    from fluctinit import validation as M

    COMPUTE_COUNT[dataset] += 1
    t0 = time.perf_counter()
    src = _source(cfg, dataset, out)
    reports = M.sweep(src, cfg["sigma_us"], init=cfg["init"], n_neurons=cfg["neurons"], mu_u=cfg["mu_u"],
                      tau_mem=cfg["tau_mem"], tau_syn=cfg["tau_syn"], mode=cfg["mode"], seed=cfg["seed"],
                      hist_neurons=1, hist_bins=cfg["hist_bins"], hist_width=cfg["hist_width"])
    elapsed = time.perf_counter() - t0
    hists = []
    for r in reports:
        for h in r.histograms:
            hists.append(dict(h))
    notes = []
    if dataset == "randman":
        notes.append("Randman data generated by fluctinit.datasets.make_randman (paper section 4.1), training split")
    res = dict(
        stamp=C.make_stamp(cfg, seed=cfg["seed"], key=key, notes=notes),
        dataset=dataset,
        status="computed",
        rows=[r.to_dict(per_neuron=True) for r in reports],
        histograms=hists,
        n_samples=src.n_samples,
        n_inputs=src.n_inputs,
        nu=float(reports[0].nu),
        elapsed_s=elapsed,
    )
    C.write_result(path, res)
    return res, "computed"


def compute(cfg: dict, out: str | os.PathLike, *, force: bool = False) -> dict[str, tuple[dict, str]]:
    """:func:`compute_dataset` for Randman, SHD and FSDD; ``{dataset: (result, status)}``."""
    return {ds: compute_dataset(cfg, ds, out, force=force) for ds in DATASETS}


def load_results(cfg: dict, out: str | os.PathLike) -> dict[str, dict]:
    """The cached results matching ``cfg`` (for ``--plot-only``).

    Raises:
        FileNotFoundError: a result is missing or was computed for another config (the
            message gives both hashes and says to run without ``--plot-only``).
    """
    res = {}
    for ds in DATASETS:
        path = result_path(out, ds)
        key = dataset_key(cfg, ds)
        obj = C.load_cached(path, key)
        if obj is None:
            found = None
            try:
                with open(path) as f:
                    found = json.load(f).get("stamp", {}).get("key")
            except (OSError, ValueError, AttributeError):
                pass
            what = "is missing" if found is None else f"was computed for key {found}, not the current {key}"
            raise FileNotFoundError(f"{path} {what}; run without --plot-only (or with --compute-only) first")
        res[ds] = obj
    return res


# --------------------------------------------------------------------------------------
# plotting (cheap)


def _gauss(x, mu, sd):
    import numpy as np

    return np.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


def _hist_panel(ax, h: dict, label: str) -> None:
    import numpy as np

    edges = np.asarray(h["edges"])
    dens = np.asarray(h["density"])
    x = np.linspace(edges[0], edges[-1], 400)
    g_pred = _gauss(x, h["mu_u_predicted"], h["sigma_u_predicted"])
    g_tgt = _gauss(x, h["mu_u_target"], h["sigma_u_target"])
    ax.stairs(dens, edges, fill=True, color="0.75", label="measured")
    ax.plot(x, g_pred, color="C0", lw=1.5, label="theory (drawn w)")
    ax.plot(x, g_tgt, color="C3", lw=1.0, ls="--", label="target")
    top = 1.6 * max(g_pred.max(), g_tgt.max())
    if dens.max() > top:
        ax.set_ylim(0, top)
        k = int(np.argmax(dens))
        ax.text(0.02, 0.97, f"peak {dens.max():.3g} at u={0.5 * (edges[k] + edges[k + 1]):.2g} (clipped)",
                transform=ax.transAxes, va="top", fontsize=6)
    outside = h.get("underflow", 0.0) + h.get("overflow", 0.0)
    ax.set_title(f"{label}: $\\sigma_U$={h['sigma_u_target']:g}", fontsize=8)
    ax.text(0.98, 0.80, f"meas. {h['sigma_u_measured']:.3f}\ntheory {h['sigma_u_predicted']:.3f}"
            + (f"\nout of range {outside:.1%}" if outside > 0 else ""),
            transform=ax.transAxes, ha="right", va="top", fontsize=6)
    ax.set_xlabel("u (threshold units)", fontsize=7)
    ax.tick_params(labelsize=6)


def _sweep_panel(ax, res: dict, label: str) -> None:
    import numpy as np

    rows = res["rows"]
    t = np.array([r["sigma_u_target"] for r in rows])
    m = np.array([r["sigma_u_measured"] for r in rows])
    s = np.array([r["sigma_u_spread"] for r in rows])
    pm = np.array([r["sigma_u_predicted"] for r in rows])
    ps = np.array([r["sigma_u_spread_predicted"] for r in rows])
    xlim = 1.1 * t.max()  # the targets' range; data above target widen the y axis only
    lim = 1.1 * max(t.max(), (m + s).max())
    ax.plot([0, xlim], [0, xlim], color="k", ls="--", lw=1, label="expected (Poisson): $\\hat\\sigma_U=\\sigma_U$")
    ax.fill_between(t, m - s, m + s, color="C1", alpha=0.3, lw=0, label="measured, std across neurons")
    ax.plot(t, m, "o-", color="C1", ms=3, lw=1.2, label="measured mean")
    dx = 0.015 * (t.max() - t.min() if len(t) > 1 else t.max())
    ax.errorbar(t + dx, pm, yerr=ps, fmt="s", ms=2.5, color="C0", elinewidth=1, capsize=2,
                label="theory for drawn w, spread from weight sampling")
    ax.set_xlim(0, xlim)
    ax.set_ylim(0, lim)
    ax.set_xlabel("target $\\sigma_U$", fontsize=7)
    ax.set_ylabel("measured $\\hat\\sigma_U$", fontsize=7)
    ratios = [f"{r['ratio']:.2f}" for r in rows]
    ratios = "\n".join(", ".join(ratios[i:i + 4]) for i in range(0, len(ratios), 4))
    ax.set_title(f"{label}: {rows[0]['n_neurons']} neurons/target, {res['n_samples']} samples, "
                 f"$\\nu$={res['nu']:.2f} Hz", fontsize=7)
    ax.text(0.98, 0.03, f"mean ratio $\\hat\\sigma_U/\\sigma_U$ per target:\n{ratios}", transform=ax.transAxes,
            ha="right", va="bottom", fontsize=5.5)
    ax.legend(fontsize=5.5, loc="upper left", frameon=False)
    ax.tick_params(labelsize=6)


def plot(cfg: dict, results: dict[str, dict], out: str | os.PathLike) -> list[Path]:
    """Draw panels (b, c) and, when SHD and FSDD were computed, (e, f) and (g, h); write
    ``fig2.png`` and ``fig2.pdf``.

    Returns:
        the written paths.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    notes = []
    keys = {}
    for ds in DATASETS:
        keys[ds] = results[ds]["stamp"]["key"]
        notes.extend(results[ds]["stamp"].get("notes", []))
    stamp = C.make_stamp(cfg, seed=cfg["seed"], key=C.config_hash(keys), notes=notes)
    stamp["results"] = {ds: dict(key=keys[ds], git_commit=results[ds]["stamp"].get("git_commit"),
                                 created_utc=results[ds]["stamp"].get("created_utc"), status=results[ds]["status"])
                        for ds in DATASETS}
    n_h, n_rows = len(cfg["hist_sigma_us"]), len(DATASETS)
    height = 3.1 * n_rows
    fig, axes = plt.subplots(n_rows, n_h + 1, figsize=(3.0 * (n_h + 1) + 1.0, height),
                             gridspec_kw=dict(width_ratios=[1] * n_h + [1.5]))
    panel = {"randman": ("b", "c", "Randman"), **{ds: (*d.panels, d.label) for ds, d in FILE_DATA.items()}}
    for row, ds in enumerate(DATASETS):
        res = results[ds]
        hl, sl, name = panel[ds]
        if res["status"] == "skipped":
            for ax in axes[row]:
                ax.axis("off")
            axes[row][0].text(0.0, 0.5, f"({hl}), ({sl}) {name}: {res['reason']}.\nGenerated data are never "
                              f"substituted for {name}; set {ds}.path in the config to {FILE_DATA[ds].file}.",
                              transform=axes[row][0].transAxes, fontsize=8, va="center")
            continue
        by_target = {h["sigma_u_target"]: h for h in res["histograms"]}
        for i, s in enumerate(cfg["hist_sigma_us"]):
            h = next(v for k, v in by_target.items() if math.isclose(k, s))
            _hist_panel(axes[row][i], h, f"({hl}) {name}")
        axes[row][0].set_ylabel("density", fontsize=7)
        axes[row][0].legend(fontsize=5.5, frameon=False, loc="upper left", bbox_to_anchor=(0.0, 0.9))
        _sweep_panel(axes[row][-1], res, f"({sl}) {name}")
    extra = [n for n in notes if "skipped" in n]
    extra += [f"{d.label} file {_file_path(cfg, ds)}" for ds, d in FILE_DATA.items()
              if results[ds]["status"] != "skipped"]
    if cfg["tiny"]:
        extra.append("tiny (smoke-test sizes)")
    fig.text(0.005, 0.005, C.stamp_footer(stamp, " | ".join(extra)), fontsize=5.5, color="0.4", ha="left",
             va="bottom")
    fig.suptitle("Figure 2: free-membrane statistics, measured vs theory (eqs. 2-5, 9)", fontsize=9)
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.62 / height, top=1 - 0.62 / height, wspace=0.3, hspace=0.5)
    try:
        return C.save_figure(fig, out, NAME, stamp, title="fluctinit figure 2: membrane statistics")
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------------------
# command line


def summary_lines(results: dict[str, dict]) -> list[str]:
    """Text summary: one line per target (measured, ratio +- s.e.m., spreads)."""
    lines = []
    for ds, res in results.items():
        if res["status"] == "skipped":
            lines.append(f"{ds}: {res['reason']}")
            continue
        lines.append(f"{ds}: {res['n_samples']} samples, {res['n_inputs']} inputs, nu {res['nu']:.3f} Hz, "
                     f"{res['rows'][0]['n_neurons']} neurons/target, computed in {res['elapsed_s']:.1f} s")
        for r in res["rows"]:
            lines.append(f"  sigma_u {r['sigma_u_target']:<5g} measured {r['sigma_u_measured']:.4f} "
                         f"(std across neurons {r['sigma_u_spread']:.4f})  ratio {r['ratio']:.4f} +- {r['ratio_sem']:.4f}"
                         f"  theory {r['sigma_u_predicted']:.4f} (weight-sampling spread {r['sigma_u_spread_predicted']:.4f})")
    return lines


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fluctinit.figures.fig2_membrane",
                                description="Regenerate paper figure 2 (membrane statistics) from cached results.")
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="JSON config (default: figures/configs/fig2.json)")
    p.add_argument("--out", default="results/fig2", help="output folder (results JSON, fig2.png/pdf, cache/)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--compute-only", action="store_true", help="compute (or reuse) the results, no plot")
    g.add_argument("--plot-only", action="store_true", help="plot from cached results matching the config")
    p.add_argument("--tiny", action="store_true", help="apply the config's tiny overrides (smoke test)")
    p.add_argument("--force", action="store_true", help="recompute even when a cached result matches")
    return p


def run(argv: Sequence[str] | None = None) -> dict:
    """Parse ``argv``, compute and/or plot; returns ``{"status": {dataset: status}, "files": [...]}``."""
    a = build_parser().parse_args(argv)
    out = C.check_paths(a.config, a.out)
    cfg = load_config(a.config, tiny=a.tiny)
    status: dict[str, str] = {}
    if a.plot_only:
        results = load_results(cfg, out)
        status = {ds: "cached" for ds in DATASETS}
    else:
        done = compute(cfg, out, force=a.force)
        results = {ds: r for ds, (r, _) in done.items()}
        status = {ds: s for ds, (_, s) in done.items()}
    for ds in DATASETS:
        print(f"{ds}: {status[ds]} ({result_path(out, ds)})")
    print("\n".join(summary_lines(results)))
    files: list[Path] = []
    if not a.compute_only:
        files = plot(cfg, results, out)
        print("wrote " + ", ".join(str(f) for f in files))
    return dict(status=status, files=[str(f) for f in files])


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry (:func:`_common.run_command`): bad input (config values, paths, a
    missing cache for ``--plot-only``, a malformed SHD or FSDD file) and failed writes print
    one line to stderr and return 2; output into a pipe that closes early (``| head``) ends
    quietly, 0."""
    return C.run_command(run, argv, prog="fig2_membrane")


if __name__ == "__main__":
    sys.exit(main())
