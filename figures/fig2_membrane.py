"""Paper figure 2: membrane statistics of free LIF neurons on Randman, SHD, FSDD and Poisson inputs.

    fluctinit figures fig2 [--quick] [--data-root DIR] [--out DIR]
    python -m fluctinit.figures.fig2_membrane [--config figures/configs/fig2.json]
        [--out results/fig2] [--compute-only | --plot-only] [--quick | --tiny]

One row of panels per data set (paper section 2, figure 2), the grid built from the rows
present:

* Randman (a-c): (a) two classes' one-dimensional manifolds embedded in 3-D (the spike times
  of units 0, 1, 2; :func:`randman_class_manifolds`, the generator's own random stream) and a
  spike raster of one sample of each class, marked on its manifold; (b) density histograms of
  the free membrane potential ``U`` (no threshold, no reset) of one neuron per shown target
  ``sigma_u``, against the Gaussian the theory predicts for that neuron's drawn weights,
  ``N(mu_i, sigma_i**2)`` with ``mu_i = sum_j w_ij nu_j epsilon_bar`` and
  ``sigma_i**2 = sum_j w_ij**2 nu_j epsilon_hat`` (paper eqs. 2-3, measured per-input rates
  ``nu_j``), and the target ``N(mu_u, sigma_u**2)`` (eqs. 4-5); (c) measured
  ``sigma_hat_U`` (mean over neurons, shaded: std across neurons) against the target; the
  expected relation for homogeneous independent Poisson inputs is the identity; error bars:
  the theory's per-neuron prediction for the drawn weights, mean +- its spread across
  neurons (``sigma_u_spread_predicted``, the variability from weight sampling alone, S2).
* SHD (d-f): (d) spike rasters of two samples, (e), (f) as (b), (c); from the official SHD
  training file (``shd.path``; the item: ``<data root>/shd_train.h5``).  Without the file
  the row is left out, with a note saying which file to put where; ``fluctinit figures
  --quick`` draws it from a generated stand-in file in SHD's format instead
  (:func:`fluctinit.datasets.standin.write_shd_standin`), labelled "SHD stand-in
  (generated)" and bannered.
* FSDD (g-i), not in the paper: the same for the Free Spoken Digit Dataset through SHD's
  cochlear model (real audio-derived spikes, labelled FSDD, never SHD), from
  ``fsdd_train.h5`` of ``fluctinit data fsdd`` (``fsdd.path``; the item:
  ``<data root>/fsdd_train.h5``); left out without the file (never stood in).
* Poisson (j-l), not in the paper: the case the theory assumes, homogeneous independent
  Poisson inputs (``poisson``: SHD's 700 inputs at its 15.8 Hz by default, Poisson counts per
  step so eq. 3 holds exactly, after a discarded burn-in): measured matches target within
  its standard error.

Weights: ``init`` (default ``feedforward``, zero mean, ``sigma_w`` from eq. 9 with the
data's mean rate; Poisson: the generating rate), ``neurons`` independent neurons per target
(``fluctinit.validation.sweep``, as ``fluctinit validate ... --sweep --hist``).  Units: times
in seconds, rates in Hz, ``U`` and ``sigma_u`` in threshold units.

The config (figures/configs/fig2.json) holds the paper's settings; its ``quick`` and ``tiny``
sections are overrides (quick: every row in seconds; tiny: smoke tests).  Per data set the
results are cached as ``fig2_<data set>.json`` (stamped: version, git commit, seed, config,
config hash; reused while the key -- config hash, plus the data file's size and mtime -- is
unchanged); the script writes them under ``--out``, the ``fluctinit figures`` item under
``<out>/cache/fig2/``.  Both draw the same figure (:func:`draw`) from the same plotted numbers
(:func:`figure_data`): ``fig2.png`` and ``fig2.pdf`` (stamp in the metadata and a footer).
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
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from pydantic import create_model, model_validator

from fluctinit.errors import Integer, Interval, OneOf, ParameterError
from fluctinit.training.schema import StrictModel, checked, config_error, constrained, validate
from fluctinit.validation import CONSTRAINTS as VALIDATION_CONSTRAINTS

from fluctinit.figures import _common as C
from fluctinit.figures._plots import gaussian
from fluctinit.figures import _style as S

NAME = "fig2"
DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "fig2.json"
#: the rows of the figure, in order
DATASETS = ("randman", "shd", "fsdd", "poisson")
INITS = ("feedforward", "recurrent", "dale-exponential", "dale-lognormal")
#: override sections of the config, by size
SIZES = ("quick", "tiny")

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
#: share theirs (a file in SHD's layout); Poisson's are fluctinit.validation's
RANDMAN_CONSTRAINTS: dict[str, Any] = {"seed": Integer(0), "max_samples": Integer(1)}
FILE_CONSTRAINTS: dict[str, Any] = {"duration": _POS, "max_samples": Integer(1)}
POISSON_CONSTRAINTS: dict[str, Any] = {
    **{k: VALIDATION_CONSTRAINTS[k] for k in ("fan_in", "nu", "duration", "trials", "poisson_mode")},
    "seed": Integer(0),
}
#: the generated SHD stand-in of ``fluctinit figures --quick`` (samples in its train and test files, seconds)
STANDIN_CONSTRAINTS: dict[str, Any] = {"n_train": Integer(1), "n_test": Integer(1), "duration": _POS}
_LIST_KEYS = ("sigma_us", "hist_sigma_us")
_FILE_DURATION = 0.7  # seconds, the paper's T_SHD (section 4.1); FSDD's loader keeps as much
#: points along each manifold of panel (a); spike rasters per file row (panel d)
MANIFOLD_POINTS = 1000  # the manifold (alpha = 1: amplitudes ~ 1/k) is rough at every scale
FILE_RASTERS = 2
#: rasters with more events per sample than this are drawn (and stored) as spike counts per
#: DENSITY_BIN (seconds, units): FSDD's ~100 Hz on 700 channels would be a solid block of dots
DENSE_EVENTS = 10_000
DENSITY_BIN = (0.005, 5)
#: the ``sweep`` numbers of a row that the figure plots (per target)
SWEEP_KEYS = ("sigma_u_target", "sigma_u_measured", "sigma_u_spread", "ratio", "ratio_sem", "sigma_u_predicted",
              "sigma_u_spread_predicted", "sigma_u_expected", "mu_u_measured", "n_neurons")
#: version of the per-data-set results' layout (part of their cache key)
_RESULT_LAYOUT = 3


@dataclass(frozen=True)
class _FileData:
    """A data set read from a file (``config.<name>.path``): its label in the figure, what the
    file is and where it comes from (the note when its row is left out)."""

    label: str
    file: str
    help: str


#: the data sets of the figure read from a file, by section name (Randman and Poisson are generated)
FILE_DATA = {
    "shd": _FileData("SHD", "shd_train.h5", "the official SHD training file from https://zenkelab.org/datasets/ "
                     "(gunzip shd_train.h5.gz), or `fluctinit data shd --root DIR --download`"),
    "fsdd": _FileData("FSDD", "fsdd_train.h5", "FSDD through SHD's cochlear model, made by "
                      "`fluctinit data fsdd --audio DIR --out DIR`"),
}
#: each row's label and panel letters (fixed, so that (d-f) is SHD as in the paper whatever is left out)
LABELS = {"randman": "Randman (generated)", "shd": "SHD", "fsdd": "FSDD", "poisson": "Poisson (generated)"}
STANDIN_LABEL = "SHD stand-in (generated)"
LETTERS = {"randman": "abc", "shd": "def", "fsdd": "ghi", "poisson": "jkl"}

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


PoissonSection = create_model(
    "PoissonSection", __base__=StrictModel,
    **{k: (constrained(c), ...) for k, c in POISSON_CONSTRAINTS.items() if k != "seed"},
    seed=(constrained(POISSON_CONSTRAINTS["seed"]), None),  # default: the config's seed
)
StandinSection = create_model("StandinSection", __base__=StrictModel,
                              **{k: (constrained(c), ...) for k, c in STANDIN_CONSTRAINTS.items()})


class _Fig2Base(StrictModel):
    @model_validator(mode="after")
    def _shown_targets_are_swept(self):
        for i, s in enumerate(self.hist_sigma_us):
            if not any(math.isclose(s, t) for t in self.sigma_us):
                raise config_error(f"hist_sigma_us[{i}]", s, "one of `config.sigma_us` "
                                   f"({', '.join(f'{t:g}' for t in self.sigma_us)})")
        return self


_SIGMAS = checked(list[constrained(_POS)], "a non-empty list of positive numbers", lambda v: len(v) > 0)

#: The whole figure-2 config (the ``quick`` and ``tiny`` overrides apart): every key required.
Fig2Config = create_model(
    "Fig2Config", __base__=_Fig2Base,
    **{k: (constrained(c), ...) for k, c in CONFIG_CONSTRAINTS.items()},
    **{k: (_SIGMAS, ...) for k in _LIST_KEYS},
    randman=(RandmanSection, ...), **{ds: (FileSection, ...) for ds in FILE_DATA},
    poisson=(PoissonSection, ...), standin=(StandinSection, ...),
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


def load_config(path: str | os.PathLike | None = None, *, tiny: bool = False, quick: bool = False) -> dict:
    """Read and check a figure-2 config; return the effective config (``tiny`` or ``quick``
    overrides applied; ``tiny`` wins).

    The ``quick`` and ``tiny`` sections are merged into the config when asked for and removed
    in any case; the effective config carries ``"quick"`` and ``"tiny"`` (true/false) so that
    results of different sizes never share a cache key.

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
    return check_config(raw, tiny=tiny, quick=quick)


def check_config(raw: dict, *, tiny: bool = False, quick: bool = False) -> dict:
    """Check a config dict (see :func:`load_config`) and return the effective config.

    The config and the config with each of its override sections are all checked, whichever
    is used: an error in the overrides names ``config.tiny.<key>`` (``config.quick.<key>``)
    when that key is overridden, else ends "(with the `config.tiny` overrides)".
    """
    if not isinstance(raw, dict):
        raise ParameterError(f"`config` must be a JSON object; got {raw!r}", ["config"], [raw])
    overrides = {}
    for size in SIZES:
        o = raw.get(size, {})
        if not isinstance(o, dict):
            raise ParameterError(f"`config.{size}` must be an object of overrides; got {o!r}", [f"config.{size}"], [o])
        overrides[size] = o
    base = {k: v for k, v in raw.items() if k not in SIZES}
    merged = {size: C.deep_update(base, o) for size, o in overrides.items()}
    models = {None: _check(base)}
    for size in ("tiny", "quick"):
        models[size] = _check(merged[size], overrides[size], size)
    use = "tiny" if tiny else ("quick" if quick else None)
    source = base if use is None else merged[use]
    cfg = models[use].model_dump()
    cfg["randman"]["generator"] = copy.deepcopy(source["randman"].get("generator", {}))
    if cfg["randman"]["seed"] is None:
        cfg["randman"]["seed"] = cfg["seed"]
    if cfg["poisson"]["seed"] is None:
        cfg["poisson"]["seed"] = cfg["seed"]
    for ds in FILE_DATA:
        if cfg[ds]["duration"] is None:
            cfg[ds]["duration"] = _FILE_DURATION
    cfg["quick"] = bool(quick)
    cfg["tiny"] = bool(tiny)
    return cfg


def _check(raw: dict, overrides: dict | None = None, size: str = ""):
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
        if not size:
            raise
        raise _in_overrides(err, overrides, size) from None
    return model


def _in_overrides(err: ParameterError, overrides: dict, size: str) -> ParameterError:
    """An error of the config with its ``size`` overrides: named ``config.<size>.<key>`` when
    that key is one of the overrides, else with "(with the `config.<size>` overrides)" appended."""
    path = err.names[0] if err.names else ""
    node: Any = overrides
    for key, index in re.findall(r"\.([A-Za-z0-9_\-]+)|\[(\d+)\]", path[len("config"):]):
        if key and isinstance(node, dict) and key in node:
            node = node[key]
        elif index and isinstance(node, list) and int(index) < len(node):
            node = node[int(index)]
        else:
            return ParameterError(str(err) + f" (with the `config.{size}` overrides)", err.names, err.values)
    named = f"config.{size}" + path[len("config"):]
    msg = str(err).replace(f"`{path}`", f"`{named}`", 1).replace("(did you mean `config.",
                                                                   f"(did you mean `config.{size}.")
    return ParameterError(msg, [named], err.values)


def _common_part(cfg: dict) -> dict:
    """The settings every data set's results depend on (the stand-in's only reach SHD's file)."""
    return {k: v for k, v in cfg.items() if k not in DATASETS and k != "standin"}


def dataset_key(cfg: dict, dataset: str) -> str:
    """Cache key of one data set's results: hash of the shared settings, that data set's
    section and (SHD, FSDD) the file's fingerprint (:func:`_common.file_fingerprint`)."""
    part = dict(_common_part(cfg), dataset=dataset, section=cfg[dataset], layout=_RESULT_LAYOUT)
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


def _randman_kwargs(cfg: dict, out: Path) -> dict:
    r = cfg["randman"]
    return dict(seed=r["seed"], cache_dir=C.cache_dir(out, "randman"), **r["generator"])


def _source(cfg: dict, dataset: str, out: Path):
    from fluctinit import validation as M

    if dataset == "randman":
        return M.randman_source(dt=cfg["dt"], batch_size=cfg["batch_size"], max_samples=cfg["randman"]["max_samples"],
                                **_randman_kwargs(cfg, out))
    if dataset == "poisson":
        p = cfg["poisson"]
        burn = M.init_burn_in_steps(cfg["init"], cfg["tau_mem"], cfg["tau_syn"], cfg["dt"])
        return M.poisson_source(p["fan_in"], p["nu"], duration=p["duration"], trials=p["trials"], dt=cfg["dt"],
                                burn_steps=burn, batch_size=cfg["batch_size"], seed=p["seed"],
                                poisson_mode=p["poisson_mode"])
    s = cfg[dataset]  # SHD, or FSDD through the same source under its own name
    return M.shd_source(_file_path(cfg, dataset), dt=cfg["dt"], duration=s["duration"],
                        batch_size=cfg["batch_size"], max_samples=s["max_samples"], dataset=dataset)


def _letters(dataset: str) -> str:
    a, _, c = LETTERS[dataset]
    return f"{a}-{c}"


def skip_reason(cfg: dict, dataset: str) -> str | None:
    """Why the row of a file's data set (SHD, FSDD) is left out (no path configured, or no file
    there), saying which file to put where; else None."""
    p, d = _file_path(cfg, dataset), FILE_DATA[dataset]
    row = f"{d.label} row ({_letters(dataset)}) left out"
    if p is None:
        return f"{row}: no {d.label} file configured (config {dataset}.path is null); set it to {d.file} ({d.help})"
    if not os.path.isfile(p):
        return f"{row}: no {d.label} file at {p!r}; put {d.file} there ({d.help})"
    return None


def _raster(times, units, n_units: int, duration: float, title: str, label: int | None = None, *,
            dense: bool = False) -> dict:
    """A raster's plotted numbers: the events (``t`` in s, ``unit``), or with ``dense`` the spike
    counts per :data:`DENSITY_BIN` (``counts[unit bin][time bin]``)."""
    import numpy as np

    r = dict(title=title, label=label, n_units=int(n_units), duration=float(duration), n_events=len(times))
    if not dense:
        return dict(r, kind="events", t=[round(float(v), 6) for v in times], unit=[int(u) for u in units])
    bt, bu = DENSITY_BIN
    nt, nu = math.ceil(duration / bt - 1e-9), math.ceil(n_units / bu)
    counts, _, _ = np.histogram2d(np.asarray(units, dtype=np.float64), np.asarray(times, dtype=np.float64),
                                  bins=[nu, nt], range=[[0, nu * bu], [0, nt * bt]])
    return dict(r, kind="density", time_bin=bt, unit_bin=bu, counts=counts.astype(int).tolist())


def _randman_examples(cfg: dict, out: Path) -> dict:
    """Panel (a): two classes' manifolds (units 0-2) and one training sample of each as a raster."""
    import numpy as np

    from fluctinit.datasets.randman import make_randman

    splits = make_randman(**_randman_kwargs(cfg, out))  # the cached data the sweep read
    config, train = splits.config, splits.train
    limit = cfg["randman"]["max_samples"] or len(train)
    classes = [c for c in range(min(2, config.n_classes))]
    from fluctinit.datasets.randman import randman_class_manifolds

    manifolds = randman_class_manifolds(config, classes, MANIFOLD_POINTS)
    units = list(range(min(3, config.n_units)))
    rasters, curves = [], []
    for c in classes:
        hits = np.flatnonzero(np.asarray(train.labels)[:limit] == c)
        if hits.size == 0:
            hits = np.flatnonzero(np.asarray(train.labels) == c)
        i = int(hits[0])
        t, u, _ = train.sample(i)
        rasters.append(_raster(t, u, config.n_units, config.duration, f"class {c}", c))
        m = manifolds[c]
        t, u = np.asarray(t, dtype=np.float64), np.asarray(u)
        # with one spike per unit the sample is a point of the manifold (else no single point)
        point = [float(t[u == k][0]) for k in units] if config.spikes_per_unit == 1 else None
        curves.append(dict(label=c, curve=None if m["curve"] is None else np.round(m["curve"][:, units], 6).tolist(),
                           points=None if m["curve"] is not None else np.round(m["samples"][:200, units], 6).tolist(),
                           sample=None if point is None else [round(v, 6) for v in point]))
    return dict(rasters=rasters, manifold=dict(units=units, dim=config.dim_manifold, classes=curves,
                                               spike_window=config.spike_window))


def _source_rasters(src, n: int, what: str) -> list[dict]:
    """Rasters of the first ``n`` samples of ``src`` as the neurons get them: the moments'
    window of the first mini-batch, binned at ``dt`` (a spike at the start of its step)."""
    import torch

    x = next(iter(src.batches()))
    a, b = src.window
    events = [torch.nonzero(x[i, a:b] > 0, as_tuple=True) for i in range(min(n, x.shape[0]))]
    dense = sum(len(s) for s, _ in events) > DENSE_EVENTS * len(events)  # one kind per row
    return [_raster((s.numpy() * src.dt).tolist(), u.tolist(), src.n_inputs, (b - a) * src.dt, f"{what} {i}",
                    dense=dense) for i, (s, u) in enumerate(events)]


def compute_dataset(cfg: dict, dataset: str, out: str | os.PathLike, *, force: bool = False) -> tuple[dict, str]:
    """Results of one data set, from the cache when its key matches, else computed and written.

    Returns:
        ``(result, status)`` with status ``"cached"``, ``"computed"`` or ``"skipped"``.
        ``result`` holds ``stamp``, ``dataset``, ``status``, and when computed ``rows``
        (one ``MembraneReport.to_dict(per_neuron=True)`` per target), ``histograms``
        (first neuron of each target: bin edges, density, measured and predicted moments),
        ``examples`` (``rasters``; Randman: ``manifold`` too), ``n_samples``, ``n_inputs``,
        ``nu`` (Hz), ``elapsed_s``; when skipped ``reason``.
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
    nu = cfg["poisson"]["nu"] if dataset == "poisson" else None  # the theory's case: weights for the generating rate
    reports = M.sweep(src, cfg["sigma_us"], init=cfg["init"], n_neurons=cfg["neurons"], nu=nu, mu_u=cfg["mu_u"],
                      tau_mem=cfg["tau_mem"], tau_syn=cfg["tau_syn"], mode=cfg["mode"], seed=cfg["seed"],
                      hist_neurons=1, hist_bins=cfg["hist_bins"], hist_width=cfg["hist_width"])
    elapsed = time.perf_counter() - t0
    hists = [dict(h) for r in reports for h in r.histograms]
    if dataset == "randman":
        examples = _randman_examples(cfg, out)
    else:
        examples = dict(rasters=_source_rasters(src, 1 if dataset == "poisson" else FILE_RASTERS,
                                                "trial" if dataset == "poisson" else "sample"))
    notes = []
    if dataset == "randman":
        notes.append("Randman data generated by fluctinit.datasets.make_randman (paper section 4.1), training split")
    res = dict(
        stamp=C.make_stamp(cfg, seed=cfg["seed"], key=key, notes=notes),
        dataset=dataset,
        status="computed",
        rows=[r.to_dict(per_neuron=True) for r in reports],
        histograms=hists,
        examples=examples,
        n_samples=src.n_samples,
        n_inputs=src.n_inputs,
        nu=float(reports[0].nu),
        elapsed_s=elapsed,
    )
    C.write_result(path, res)
    return res, "computed"


def compute(cfg: dict, out: str | os.PathLike, *, force: bool = False) -> dict[str, tuple[dict, str]]:
    """:func:`compute_dataset` for every row (:data:`DATASETS`); ``{dataset: (result, status)}``."""
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


def figure_data(cfg: dict, results: dict[str, dict], labels: dict[str, str] | None = None) -> dict:
    """The plotted numbers of the figure, from the per-data-set results.

    Returns:
        ``{"order": [data sets drawn], "rows": {data set: row}, "left_out": [notes of the rows
        left out], "notes": [...], "hist_sigma_us": [...]}``; a row holds ``label``,
        ``letters``, ``n_samples``, ``n_inputs``, ``nu`` (Hz), ``n_neurons``, ``sweep`` (per
        target: :data:`SWEEP_KEYS`), ``histograms`` (the shown targets') and ``examples``.
    """
    labels = labels or {}
    order, rows, left_out, notes = [], {}, [], []
    for ds in DATASETS:
        res = results[ds]
        notes.extend(n for n in res["stamp"].get("notes", []) if n not in notes)
        if res["status"] == "skipped":
            left_out.append(res["reason"])
            continue
        order.append(ds)
        hists = []
        for s in cfg["hist_sigma_us"]:
            hists.append(next(h for h in res["histograms"] if math.isclose(h["sigma_u_target"], s)))
        rows[ds] = dict(dataset=ds, label=labels.get(ds, LABELS[ds]), letters=list(LETTERS[ds]),
                        n_samples=res["n_samples"], n_inputs=res["n_inputs"], nu=res["nu"],
                        n_neurons=res["rows"][0]["n_neurons"], elapsed_s=res["elapsed_s"],
                        sweep=[{k: r.get(k) for k in SWEEP_KEYS} for r in res["rows"]], histograms=hists,
                        examples=res["examples"])
    return dict(order=order, rows=rows, left_out=left_out, notes=notes, hist_sigma_us=list(cfg["hist_sigma_us"]))


# --------------------------------------------------------------------------------------
# plotting (cheap): one figure from the plotted numbers alone

_ROW_H = 1.52  # inches per row of panels
_TOP = 0.40  # the legend (and the stand-in banner) above the rows
_BOTTOM = 0.42  # the last row's axis labels and the footer
_NOTE_H = 0.075  # one line of notes on rows left out
_EXAMPLE_WIDTHS = (1.3, 1.0)  # the examples: manifold or raster, raster
_STAT_WIDTHS = (1.0, 1.0, 1.0, 1.2)  # the histograms (3) and the sweep



def _hist_panel(ax, h: dict, title: str, first: bool) -> None:
    import numpy as np

    edges = np.asarray(h["edges"])
    dens = np.asarray(h["density"])
    x = np.linspace(edges[0], edges[-1], 400)
    g_pred = gaussian(x, h["mu_u_predicted"], h["sigma_u_predicted"])
    g_tgt = gaussian(x, h["mu_u_target"], h["sigma_u_target"])
    ax.stairs(dens, edges, fill=True, color="0.72", lw=0)
    ax.plot(x, g_pred, color=S.color(0), lw=1.0)
    ax.plot(x, g_tgt, color=S.color(3), lw=0.9, ls="--")
    top = 1.5 * max(g_pred.max(), g_tgt.max())
    ax.set_ylim(0, top)
    lines = [f"$\\hat\\sigma$ {h['sigma_u_measured']:.3f}", f"theory {h['sigma_u_predicted']:.3f}"]
    if dens.max() > top:  # Randman: a large peak at u = 0 (the paper truncates its axes instead)
        lines.append(f"peak {dens.max():.3g} (clipped)")
    outside = h.get("underflow", 0.0) + h.get("overflow", 0.0)
    if outside > 0:
        lines.append(f"{outside:.1%} off the axis")
    ax.text(0.98, 0.97, "\n".join(lines), transform=ax.transAxes, ha="right", va="top", fontsize=5,
            linespacing=1.1)
    ax.set_title(title)
    ax.set_xlabel("u (threshold units)", labelpad=1)
    if first:
        ax.set_ylabel("density", labelpad=1)


def _sweep_panel(ax, row: dict, title: str) -> None:
    import numpy as np

    rows = row["sweep"]
    t = np.array([r["sigma_u_target"] for r in rows])
    m = np.array([r["sigma_u_measured"] for r in rows])
    s = np.array([r["sigma_u_spread"] for r in rows])
    pm = np.array([r["sigma_u_predicted"] for r in rows])
    ps = np.array([r["sigma_u_spread_predicted"] for r in rows])
    xlim = 1.1 * t.max()
    lim = 1.1 * max(t.max(), (m + s).max(), (pm + ps).max())
    ax.plot([0, xlim], [0, xlim], color="k", ls="--", lw=0.8)
    ax.fill_between(t, m - s, m + s, color=S.color(1), alpha=0.3, lw=0)
    ax.plot(t, m, "o-", color=S.color(1), ms=2.5, lw=1.0)
    dx = 0.02 * (t.max() - t.min() if len(t) > 1 else t.max())
    ax.errorbar(t + dx, pm, yerr=ps, fmt="s", ms=1.8, color=S.color(0), elinewidth=0.8, capsize=1.2, lw=0)
    ax.set_xlim(0, xlim)
    ax.set_ylim(0, lim)
    ratios = [r["ratio"] for r in rows]
    ax.text(0.04, 0.97, "$\\hat\\sigma_U/\\sigma_U$ " + (f"{min(ratios):.2f}-{max(ratios):.2f}" if len(ratios) > 1
                                                          else f"{ratios[0]:.2f}"),
            transform=ax.transAxes, ha="left", va="top", fontsize=5.5)  # above the identity: empty
    ax.set_title(title)
    ax.set_xlabel("target $\\sigma_U$", labelpad=1)
    ax.set_ylabel("measured $\\hat\\sigma_U$", labelpad=1)


def _raster_panel(ax, r: dict, color: str, *, xlabel: bool = True, ylabel: str = "input", vmax: float = 1.0):
    """One spike raster (events as dots) or spike-count image (``kind == "density"``); returns
    the image (or None)."""
    import numpy as np

    image = None
    if r["kind"] == "density":
        counts = np.asarray(r["counts"])
        te = np.arange(counts.shape[1] + 1) * r["time_bin"]
        ue = np.arange(counts.shape[0] + 1) * r["unit_bin"] - 0.5
        image = ax.pcolormesh(te, ue, counts, cmap="Greys", vmin=0, vmax=vmax, shading="flat", rasterized=True)
    else:
        few = r["n_units"] <= 64
        ax.scatter(r["t"], r["unit"], s=4.0 if few else 0.5, marker="|" if few else "s", color=color,
                   linewidths=0.6 if few else 0, rasterized=len(r["t"]) > 2000)
    ax.set_xlim(0, r["duration"])
    ax.set_ylim(-0.5, r["n_units"] - 0.5)
    ax.set_yticks([0, r["n_units"] - 1])
    ax.tick_params(axis="y", pad=1)
    if xlabel:
        ax.set_xlabel("t (s)", labelpad=1)
    else:
        ax.set_xticklabels([])
    if ylabel:
        ax.set_ylabel(ylabel, labelpad=-6)
    return image


def _manifold_panel(fig, cell, man: dict, title: str, gid: str):
    """Panel (a): the classes' manifolds as 3-D curves (spike times of 3 units, ms), each
    raster's sample marked on its manifold."""
    import numpy as np

    ax = fig.add_subplot(cell, projection="3d")
    ax.set_gid(gid)
    for k, c in enumerate(man["classes"]):
        col = S.color(2 + 2 * k)
        if c["curve"] is not None:
            xyz = 1e3 * np.asarray(c["curve"])
            ax.plot(xyz[:, 0], xyz[:, 1], xyz[:, 2], color=col, lw=0.6)
        else:
            xyz = 1e3 * np.asarray(c["points"])
            ax.scatter(xyz[:, 0], xyz[:, 1], xyz[:, 2], color=col, s=1)
        if c["sample"] is not None:
            p = 1e3 * np.asarray(c["sample"])
            ax.scatter([p[0]], [p[1]], [p[2]], color=col, s=14, marker="o", edgecolors="k", linewidths=0.4,
                       depthshade=False)
    names = [f"unit {u}" for u in man["units"]]
    ax.set_xlabel(names[0] + " (ms)", fontsize=5, labelpad=-10)
    ax.set_ylabel(names[1] + " (ms)", fontsize=5, labelpad=-10)
    ax.set_zlabel(names[2] + " (ms)", fontsize=5, labelpad=-9)
    window = 1e3 * man["spike_window"]
    ticks = [0, window]
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_ticks(ticks)
        axis.set_ticklabels([f"{v:g}" for v in ticks])
        axis.set_pane_color((1, 1, 1, 0))
    ax.tick_params(labelsize=4.5, pad=-4)
    ax.view_init(elev=22, azim=35)  # the z axis on the left, clear of the rasters
    ax.set_box_aspect(None, zoom=1.1)
    ax.set_title(title, loc="left", pad=0)
    return ax


def draw(data: dict):
    """The figure from the plotted numbers (:func:`figure_data`), PAGE wide, one row of
    panels per data set drawn (call inside :func:`fluctinit.figures._style.style`)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    order, rows = data["order"], data["rows"]
    left_out = data.get("left_out", [])
    n = max(1, len(order))
    left_out = [line for note in left_out for line in textwrap.wrap(note, 200)]
    bottom = _BOTTOM + _NOTE_H * len(left_out)
    height = _TOP + n * _ROW_H + bottom
    fig = S.new_figure(S.PAGE, height)
    outer = fig.add_gridspec(n, 2, width_ratios=(sum(_EXAMPLE_WIDTHS), sum(_STAT_WIDTHS) + 0.35), left=0.05,
                             right=0.99, top=1 - (_TOP + 0.3) / height, bottom=bottom / height, wspace=0.2,
                             hspace=0.85)
    for r, ds in enumerate(order):
        exs = outer[r, 0].subgridspec(1, 2, width_ratios=_EXAMPLE_WIDTHS, wspace=0.45)
        sts = outer[r, 1].subgridspec(1, 4, width_ratios=_STAT_WIDTHS, wspace=0.55)
        row = rows[ds]
        a, b, c = row["letters"]
        gid = f"fig2:{ds}"
        ex = row["examples"]
        col = S.color(2)
        if "manifold" in ex:
            _manifold_panel(fig, exs[0], ex["manifold"], f"({a}) 2 manifolds", gid)
            sub = exs[1].subgridspec(len(ex["rasters"]), 1, hspace=0.35)
            for k, rast in enumerate(ex["rasters"]):
                ax = fig.add_subplot(sub[k])
                ax.set_gid(gid)
                last = k == len(ex["rasters"]) - 1
                _raster_panel(ax, rast, S.color(2 + 2 * k), xlabel=last, ylabel="")
                ax.text(0.98, 0.95, rast["title"], transform=ax.transAxes, ha="right", va="top", fontsize=5.5,
                        color=S.color(2 + 2 * k))
                if k == 0:
                    ax.set_title("samples: unit vs t", fontsize=6)
        elif len(ex["rasters"]) == 1:
            ax = fig.add_subplot(exs[0:2])
            ax.set_gid(gid)
            _raster_panel(ax, ex["rasters"][0], col)
            ax.set_title(f"({a}) {ex['rasters'][0]['title']}, {row['n_inputs']} inputs")
        else:
            shown = ex["rasters"][:2]
            dense = [x for x in shown if x["kind"] == "density"]
            vmax = max([1] + [max(map(max, x["counts"])) for x in dense])  # one grey scale for the row
            for k, rast in enumerate(shown):
                ax = fig.add_subplot(exs[k])
                ax.set_gid(gid)
                image = _raster_panel(ax, rast, col, ylabel="channel" if k == 0 else "", vmax=vmax)
                ax.set_title(f"({a}) {rast['title']}" if k == 0 else rast["title"])
                if image is not None and k == len(shown) - 1:
                    cax = ax.inset_axes([1.04, 0.0, 0.05, 1.0])
                    bar = fig.colorbar(image, cax=cax, ticks=[0, vmax])
                    bar.ax.tick_params(labelsize=5, pad=1, length=2)
                    bar.outline.set_linewidth(0.4)
                    bt, bu = rast["time_bin"], rast["unit_bin"]
                    cax.set_title(f"spikes per\n{bt * 1e3:g} ms x {bu} ch.", fontsize=4.5, pad=2, loc="left")
        for k, h in enumerate(row["histograms"]):
            ax = fig.add_subplot(sts[k])
            ax.set_gid(gid)
            s = f"$\\sigma_U$ = {h['sigma_u_target']:g}"
            _hist_panel(ax, h, f"({b}) {s}" if k == 0 else s, k == 0)
        ax = fig.add_subplot(sts[3])
        ax.set_gid(gid)
        _sweep_panel(ax, row, f"({c}) " + "$\\hat\\sigma_U$ vs target")
        y = exs[0].get_position(fig).y1 + 0.19 / height
        fig.text(0.005, y, f"{row['label']}: {row['n_inputs']} inputs, mean rate {row['nu']:.2f} Hz, "
                 f"{row['n_samples']} {'trials' if ds == 'poisson' else 'samples'}, {row['n_neurons']} neurons per "
                 "target", fontsize=7, weight="bold", va="bottom", ha="left", gid=gid)
    handles = [Patch(color="0.72", label="measured U (one neuron)"),
               Line2D([], [], color=S.color(0), lw=1.0, label="theory for its drawn w (eqs. 2-3)"),
               Line2D([], [], color=S.color(3), lw=0.9, ls="--", label="target N($\\mu_U$, $\\sigma_U^2$)"),
               Line2D([], [], color="k", lw=0.8, ls="--", label="expected (Poisson): $\\hat\\sigma_U=\\sigma_U$"),
               (Patch(color=S.color(1), alpha=0.3, lw=0), Line2D([], [], color=S.color(1), marker="o", ms=2.5)),
               Line2D([], [], color=S.color(0), marker="s", ms=1.8, ls="")]
    labels = [h.get_label() for h in handles[:4]] + ["measured mean, std across neurons",
                                                      "theory for drawn w, spread from weight sampling"]
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1 - 0.13 / height), ncol=3,
               fontsize=6, handlelength=1.8, columnspacing=1.2, borderaxespad=0)
    for i, note in enumerate(left_out):
        fig.text(0.005, (0.09 + _NOTE_H * (len(left_out) - 1 - i)) / height, note, fontsize=5, color="0.2",
                 ha="left", va="bottom")
    return fig


def plot(cfg: dict, results: dict[str, dict], out: str | os.PathLike) -> list[Path]:
    """Draw the rows computed (:func:`draw`); write ``fig2.png`` and ``fig2.pdf`` under ``out``.

    Returns:
        the written paths.
    """
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
    extra = [f"{d.label} file {_file_path(cfg, ds)}" for ds, d in FILE_DATA.items()
             if results[ds]["status"] != "skipped"]
    extra.append("tiny (smoke-test sizes)" if cfg["tiny"] else "quick settings" if cfg["quick"] else "paper settings")
    with S.style():
        fig = draw(figure_data(cfg, results))
        try:
            S.finish(fig, C.stamp_footer(stamp, " | ".join(extra)))
            return C.save_figure(fig, out, NAME, stamp, title="fluctinit figure 2: membrane statistics")
        finally:
            plt.close(fig)


# --------------------------------------------------------------------------------------
# the item of ``fluctinit figures``


def item_settings(ctx, sizes: str | None = None) -> dict:
    """The effective config of the item: the shipped config at ``sizes`` (``"full"``,
    ``"quick"``, ``"tiny"``; default from ``ctx``), its files ``<ctx.data_root>/shd_train.h5``
    and ``<ctx.data_root>/fsdd_train.h5``."""
    sizes = sizes or ("tiny" if ctx.tiny else "quick" if ctx.quick else "full")
    raw = json.loads(DEFAULT_CONFIG.read_bytes())
    root = os.path.abspath(ctx.data_root)
    for ds, d in FILE_DATA.items():
        raw[ds]["path"] = os.path.join(root, d.file)
    return check_config(raw, tiny=sizes == "tiny", quick=sizes == "quick")


def _item_needs(ctx, settings: dict) -> list:
    from fluctinit.figures._items import Need

    out = ctx.out / "cache" / NAME
    needs = [Need(f"{LABELS[ds]} membrane sweep", "run",
                  C.load_cached(result_path(out, ds), dataset_key(settings, ds)) is not None,
                  f"{settings['neurons']} neurons x {len(settings['sigma_us'])} targets")
             for ds in ("randman", "poisson")]
    for ds, d in FILE_DATA.items():
        p = _file_path(settings, ds)
        hint = f"{d.file}: {d.help}; without it the {d.label} row is left out"
        if ds == "shd":
            hint += " (--quick: drawn from a generated stand-in)"
        needs.append(Need(f"{d.label} file {p}", "data", os.path.isfile(p), hint, required=False, paths=(p,)))
    return needs


def _standin_file(ctx, settings: dict) -> Path:
    """The generated SHD stand-in's training file, sized by the config's ``standin`` section
    (:func:`fluctinit.figures._runs.standin_root`: written once per sizes)."""
    from fluctinit.datasets import SHD_FILES

    from ._runs import standin_root

    return standin_root(ctx, "shd", dict(settings["standin"]), settings["seed"]) / SHD_FILES["train"]


def _item_compute(ctx, settings: dict) -> dict:
    cfg = copy.deepcopy(settings)
    out = C.cache_dir(ctx.out, NAME)
    labels, sources, standins, notes = {}, {}, [], []
    sources["randman"] = sources["poisson"] = "generated"
    for ds in FILE_DATA:
        if skip_reason(cfg, ds) is None:
            sources[ds] = _file_path(cfg, ds)
        elif ds == "shd" and ctx.quick:
            path = _standin_file(ctx, cfg)
            notes.append(f"{skip_reason(cfg, ds)}; --quick: the row is drawn from a generated stand-in "
                         f"{path} instead, no result on SHD")
            cfg["shd"]["path"] = str(path)
            labels["shd"] = STANDIN_LABEL
            standins.append(FILE_DATA["shd"].label)
            sources["shd"] = f"generated stand-in files, not SHD ({os.path.relpath(path.parent, ctx.out)})"
    results = {}
    for ds in DATASETS:
        res, status = compute_dataset(cfg, ds, out, force=ctx.force)
        ctx.log(f"fig2: {ds} {status}" + (f" in {res['elapsed_s']:.1f} s" if status == "computed" else ""))
        results[ds] = res
    data = figure_data(cfg, results, labels)
    data.update(notes=notes + data["notes"], sources=sources, standins=standins)
    return data


def _item_plot(ctx, settings: dict, data: dict):
    return draw(data)


def _make_items() -> dict:
    from fluctinit.figures._items import Item

    return {NAME: Item(NAME, "membrane statistics: measured vs target (Randman, SHD, FSDD, Poisson)",
                       item_settings, _item_needs, _item_compute, _item_plot)}


ITEMS = _make_items()


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
    s = p.add_mutually_exclusive_group()
    s.add_argument("--quick", action="store_true", help="apply the config's quick overrides (seconds per row)")
    s.add_argument("--tiny", action="store_true", help="apply the config's tiny overrides (smoke test)")
    p.add_argument("--force", action="store_true", help="recompute even when a cached result matches")
    return p


def run(argv: Sequence[str] | None = None) -> dict:
    """Parse ``argv``, compute and/or plot; returns ``{"status": {dataset: status}, "files": [...]}``."""
    a = build_parser().parse_args(argv)
    out = C.check_paths(a.config, a.out)
    cfg = load_config(a.config, tiny=a.tiny, quick=a.quick)
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
