"""Reports: target against measured membrane statistics, one per target (paper figure 2c/2f).

:func:`sweep` draws one independent population per target ``sigma_u`` (weights for the
data's measured mean rate unless a rate is given), streams the data once through all of them
(:func:`measure_membrane`) and sets the measured moments against the target and against the
theory's per-neuron prediction for the drawn weights (paper eqs. 2-3 with the per-input
rates; its spread across neurons is the variability expected from finite weight sampling
alone, supplementary S2).  Reports on Poisson input carry the exact Bernoulli expectation
``sigma_u_target * sqrt(1 - nu dt)`` as ``sigma_u_expected``.

:func:`write_table_atomic` writes a sweep table (CSV or JSON), :func:`write_histograms_atomic`
the membrane histograms of its reports (JSON), both atomically.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from fluctinit._io import atomic_write_json, atomic_write_text
from fluctinit.errors import Integer, ParameterError, check, check_all, conflict

from ._constraints import CONSTRAINTS
from .calibrate import input_statistics, recurrent_kernels
from .measure import MembraneMeasurement, measure_membrane
from .population import NeuronPopulation, draw_population, generated_inputs, predicted_moments
from .resources import check_resources, sweep_bytes
from .sources import SpikeSource, measure_rates

__all__ = ["MembraneReport", "sweep", "validate", "TABLE_COLUMNS", "write_table_atomic", "write_histograms_atomic"]


@dataclass
class MembraneReport:
    """Target against measured membrane statistics for one target (paper figure 2c/2f point).

    All ``sigma``/``mu`` values are in threshold units; spreads are standard deviations
    across neurons (``ddof=1``); ``ratio`` is the across-neuron mean of
    ``sigma_measured_i / sigma_u_target`` and ``ratio_sem`` its standard error
    (spread / sqrt(n_neurons)).  ``sigma_u_spread_predicted`` is the across-neuron spread
    of the theory's per-neuron prediction for the drawn weights (eqs. 2-3, per-input rates;
    supplementary S2), ``sigma_u_predicted`` its mean.  ``sigma_u_expected`` (Poisson input
    only) is the exact expectation ``sigma_u_target * sqrt(1 - nu dt)`` for Bernoulli inputs.
    """

    data: str
    init: str
    sigma_u_target: float
    mu_u_target: float
    sigma_u_measured: float
    sigma_u_spread: float
    ratio: float
    ratio_sem: float
    mu_u_measured: float
    mu_u_spread: float
    mu_u_sem: float
    sigma_u_predicted: float
    sigma_u_spread_predicted: float
    mu_u_predicted: float
    mu_u_spread_predicted: float
    sigma_u_expected: float | None
    nu: float
    nu_used: float
    n_neurons: int
    n_inputs: int
    n_samples: int
    n_steps: int
    window: tuple[int, int]
    dt: float
    tau_mem: float
    tau_syn: float
    mode: str
    seed: int
    per_neuron: dict = field(default_factory=dict, repr=False)
    histograms: list = field(default_factory=list, repr=False)

    def to_dict(self, per_neuron: bool = False) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k not in ("per_neuron", "histograms")}
        d["window"] = list(self.window)
        if per_neuron:
            d["per_neuron"] = self.per_neuron
        return d


def _std(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1)) if len(x) > 1 else 0.0


def _report(source: SpikeSource, pop: NeuronPopulation, meas: MembraneMeasurement, sel: np.ndarray, *,
            nu_used: float, pred_mu: np.ndarray, pred_sigma: np.ndarray, tau_mem: float, tau_syn: float,
            mode: str, seed: int) -> MembraneReport:
    """The report of the neurons ``sel`` (one target's population) of a stacked measurement."""
    sig_t = float(pop.sigma_u[sel][0])
    mu_t = float(pop.mu_u[sel][0])
    s = meas.sigma_u[sel]
    m = meas.mu_u[sel]
    r = s / sig_t
    n = len(s)
    nu = float(np.mean(meas.rates))
    expected = None
    if source.variance_factor is not None:
        expected = sig_t * math.sqrt(source.variance_factor)
    hist = []
    for h in meas.hist:
        if sel[h["neuron"]]:
            k = h["neuron"]
            edges = np.asarray(h["edges"])
            counts = np.asarray(h["counts"])
            dens = counts / (meas.n_values * np.diff(edges))
            hist.append(dict(neuron=int(k - np.argmax(sel)), edges=edges.tolist(), density=dens.tolist(),
                             underflow=h["underflow"] / meas.n_values, overflow=h["overflow"] / meas.n_values,
                             mu_u_measured=float(meas.mu_u[k]), sigma_u_measured=float(meas.sigma_u[k]),
                             mu_u_predicted=float(pred_mu[k]), sigma_u_predicted=float(pred_sigma[k]),
                             mu_u_target=mu_t, sigma_u_target=sig_t))
    return MembraneReport(
        data=source.name, init=pop.init, sigma_u_target=sig_t, mu_u_target=mu_t,
        sigma_u_measured=float(np.mean(s)), sigma_u_spread=_std(s), ratio=float(np.mean(r)),
        ratio_sem=_std(r) / math.sqrt(n), mu_u_measured=float(np.mean(m)), mu_u_spread=_std(m),
        mu_u_sem=_std(m) / math.sqrt(n), sigma_u_predicted=float(np.mean(pred_sigma[sel])),
        sigma_u_spread_predicted=_std(pred_sigma[sel]), mu_u_predicted=float(np.mean(pred_mu[sel])),
        mu_u_spread_predicted=_std(pred_mu[sel]), sigma_u_expected=expected, nu=nu, nu_used=float(nu_used),
        n_neurons=n, n_inputs=source.n_inputs, n_samples=source.n_samples, n_steps=source.n_steps,
        window=tuple(source.window), dt=source.dt, tau_mem=tau_mem, tau_syn=tau_syn, mode=mode, seed=int(seed),
        per_neuron=dict(mu_u=m.tolist(), sigma_u=s.tolist(), mu_u_predicted=pred_mu[sel].tolist(),
                        sigma_u_predicted=pred_sigma[sel].tolist()),
        histograms=hist,
    )


def sweep(
    source: SpikeSource,
    sigma_us: Sequence[float],
    *,
    init: str = "feedforward",
    n_neurons: int = 128,
    nu: float | None = None,
    mu_u: float = 0.0,
    xi: float | None = None,
    tau_mem: float = 20e-3,
    tau_syn: float = 10e-3,
    mode: str = "discrete",
    seed: int = 0,
    hist_neurons: int = 1,
    hist_bins: int = 80,
    hist_width: float = 6.0,
    input_seed: int | None = None,
    **init_kwargs: Any,
) -> list[MembraneReport]:
    """Measured against target membrane statistics for several targets ``sigma_u`` (figure 2c/2f).

    For each target an independent population of ``n_neurons`` is drawn (weights from
    ``init`` with rate ``nu``; by default the data's mean rate, measured in a first pass
    over the window); all populations are stacked and the data set is streamed once.

    Args:
        source: the data (see :func:`poisson_source`, :func:`shd_source`, ...).
        sigma_us: target fluctuation magnitudes (threshold units).
        mode: kernel integrals of the weights: ``"discrete"``, ``"continuous"`` (the paper's
            formulas), or ``"calibrated"``: the data channel's integrals from the data's own
            pooled input statistics (:mod:`fluctinit.validation.calibrate`, one extra streaming
            pass), and the per-neuron prediction the exact ``w'm``, ``w'Cw``.
        hist_neurons: keep the ``U`` histogram of the first this-many neurons per target,
            ``hist_bins`` bins over the predicted mean +- ``hist_width`` predicted stds.
        seed: seeds the weight draws.
        input_seed: seeds the generated recurrent/inhibitory Poisson inputs (default: derived
            from ``seed``); the same ``seed`` with another ``input_seed`` keeps the weights.
        init_kwargs: passed to :func:`draw_population` (``alpha``, ``fan_in_rec``, ...).

    Returns:
        one :class:`MembraneReport` per target, in order.
    """
    p = check_all(CONSTRAINTS, init=init, n_neurons=n_neurons, nu=nu, mu_u=mu_u, xi=xi, tau_mem=tau_mem,
                  tau_syn=tau_syn, mode=mode, hist_neurons=hist_neurons, hist_bins=hist_bins, hist_width=hist_width)
    if len(sigma_us) < 1:
        raise ParameterError("`sigma_u` must be a non-empty list of positive numbers; got []", ["sigma_u"], [list(sigma_us)])
    sigmas = [check("sigma_u", s, CONSTRAINTS["sigma_u"]) for s in sigma_us]
    if xi is not None and len(sigmas) > 1:
        raise conflict("a sweep over sigma_u cannot also fix xi; drop --xi", xi=xi, sigma_u=list(sigma_us))
    _check_size(source, p["init"], p["n_neurons"], len(sigmas), init_kwargs)
    rates = None
    if nu is None:
        rates = measure_rates(source)
        nu_used = float(np.mean(rates))
        if not nu_used > 0:
            raise ValueError(f"the {source.name} data have no spikes in the window; cannot set the weights")
    else:
        nu_used = p["nu"]
    wseed, iseed = (int(v) for v in np.random.SeedSequence(int(seed)).generate_state(2))
    if input_seed is not None:
        iseed = int(check("input_seed", input_seed, Integer(0)))
    gen = torch.Generator().manual_seed(wseed)
    stats = None
    calibrated = {}
    if p["mode"] == "calibrated":  # the data's own pooled statistics, one streaming pass
        stats = input_statistics(source, tau_mem=p["tau_mem"], tau_syn=p["tau_syn"])
        calibrated["data_kernel"] = stats.kernel(nu_used)
        if init == "recurrent":  # the generated recurrent inputs beside the data, one Jensen factor for both
            n_rec = generated_inputs(init, source.n_inputs, p["n_neurons"], fan_in_rec=init_kwargs.get("fan_in_rec"))
            nu_rec = init_kwargs.get("nu_rec") or nu_used
            both = stats.with_poisson_inputs(n_rec["rec"], nu_rec)
            calibrated["data_kernel"], calibrated["rec_kernel"] = recurrent_kernels(
                both, source.n_inputs, nu_used, nu_rec, init_kwargs.get("alpha", 0.9))
    pops = [draw_population(init, p["n_neurons"], source.n_inputs, nu_used, sigma_u=s, mu_u=p["mu_u"], xi=p["xi"],
                            tau_mem=p["tau_mem"], tau_syn=p["tau_syn"], dt=source.dt, mode=p["mode"],
                            generator=gen, **calibrated, **init_kwargs) for s in sigmas]
    pop = NeuronPopulation.stack(pops)
    if rates is None:
        rates = np.full(source.n_inputs, source.poisson_rate) if source.poisson_rate is not None else measure_rates(source)
    pred_mu, pred_sigma = predicted_moments(pop, rates, tau_mem=p["tau_mem"], dt=source.dt,
                                            bernoulli_data=source.variance_factor is not None and source.variance_factor < 1,
                                            statistics=stats)
    edges = {}
    for k in range(len(sigmas)):
        for h in range(min(p["hist_neurons"], p["n_neurons"])):
            i = k * p["n_neurons"] + h
            sd = max(pred_sigma[i], 1e-12)
            edges[i] = np.linspace(pred_mu[i] - p["hist_width"] * sd, pred_mu[i] + p["hist_width"] * sd, p["hist_bins"] + 1)
    meas = measure_membrane(source, pop, tau_mem=p["tau_mem"], seed=iseed, hist_edges=edges)
    reports = []
    for k in range(len(sigmas)):
        sel = np.zeros(pop.n_post, dtype=bool)
        sel[k * p["n_neurons"]:(k + 1) * p["n_neurons"]] = True
        reports.append(_report(source, pop, meas, sel, nu_used=nu_used, pred_mu=pred_mu, pred_sigma=pred_sigma,
                               tau_mem=p["tau_mem"], tau_syn=p["tau_syn"], mode=p["mode"], seed=seed))
    return reports


def _check_size(source: SpikeSource, init: str, n_neurons: int, n_targets: int, init_kwargs: dict) -> None:
    """Refuse, before anything is drawn, a sweep that does not fit in memory or would run for weeks."""
    extra = generated_inputs(init, source.n_inputs, n_neurons, fan_in_rec=init_kwargs.get("fan_in_rec"),
                             n_inh=init_kwargs.get("n_inh"))
    batch = source.batch_size if source.batch_size is not None else source.n_samples
    need = sweep_bytes(n_neurons=n_neurons, n_targets=n_targets, n_inputs=source.n_inputs, n_steps=source.n_steps,
                       batch_size=batch, n_generated=sum(extra.values()))
    check_resources(need, updates=source.n_samples * source.n_steps * n_neurons * n_targets, n_neurons=n_neurons,
                    n_targets=n_targets, n_inputs=source.n_inputs, n_steps=source.n_steps, n_samples=source.n_samples,
                    batch_size=batch, **{f"n_{k}": v for k, v in extra.items()})


def validate(source: SpikeSource, *, sigma_u: float = 1.0, **kwargs: Any) -> MembraneReport:
    """One target: :func:`sweep` with a single ``sigma_u``.  See there for the arguments."""
    return sweep(source, [sigma_u], **kwargs)[0]


# --------------------------------------------------------------------------------------
# atomic output


TABLE_COLUMNS = ("sigma_u_target", "sigma_u_measured", "sigma_u_spread", "ratio", "ratio_sem", "mu_u_target",
                 "mu_u_measured", "mu_u_spread", "sigma_u_predicted", "sigma_u_spread_predicted", "nu", "nu_used")


def write_table_atomic(path: str | os.PathLike, reports: Sequence[MembraneReport], meta: dict | None = None) -> None:
    """Write a sweep table: CSV (``.csv``: one row per target, columns :data:`TABLE_COLUMNS`)
    or JSON (otherwise: ``{"meta": ..., "rows": [report dicts]}``), atomically."""
    path = os.fspath(path)
    if path.endswith(".csv"):
        lines = [",".join(TABLE_COLUMNS)]
        for r in reports:
            d = r.to_dict()
            lines.append(",".join(repr(float(d[c])) for c in TABLE_COLUMNS))
        atomic_write_text(path, "\n".join(lines) + "\n")
    else:
        atomic_write_json(path, {"meta": meta or {}, "rows": [r.to_dict() for r in reports]})


def write_histograms_atomic(path: str | os.PathLike, reports: Sequence[MembraneReport], meta: dict | None = None) -> None:
    """Write the membrane histograms of ``reports`` as JSON, atomically (figure 2b/2e).

    ``{"meta": ..., "histograms": [...]}``: every report's :attr:`MembraneReport.histograms` in
    order (per neuron: bin edges, density, underflow/overflow fractions, measured and predicted
    mean and std, the target)."""
    atomic_write_json(path, {"meta": meta or {}, "histograms": [h for r in reports for h in r.histograms]})
