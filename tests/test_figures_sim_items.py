"""Smoke and content tests of the simulation-backed figure items fig1, s2 and table7 (tiny settings).

Each item is rendered once into a module-wide folder (``Context(tiny=True)``), then checked:
the files, a non-blank PNG, the plotted numbers in the JSON, the cache on a second render, and
content that can fail: table 7's values against ``fluctinit.theory`` and the printed table
(paper table 7), the free membrane's std against the theory's per-neuron prediction (eq. 3,
tolerance from the trial-to-trial standard error, fixed seed), the deterministic no-spike
extreme (xi = 10: the reset never acts), and S2's predicted spread against
``validation.sweep``'s ``sigma_u_spread_predicted``.
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from fluctinit.figures._items import Context, get_item, render

ITEMS = ("fig1", "s2", "table7")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("sim_items")
    outcomes = {name: render(get_item(name), Context(out=out, tiny=True, quiet=True)) for name in ITEMS}
    return out, outcomes


def _data(out, name):
    with open(out / f"{name}.json") as f:
        obj = json.load(f)
    assert obj["item"] == name and obj["stamp"]["seed"] == 0
    return obj["data"]


def _finite(values) -> bool:
    return bool(np.all(np.isfinite(np.asarray(values, dtype=float))))


@pytest.mark.parametrize("name", ITEMS)
def test_item_writes_files_and_a_drawn_png(rendered, name):
    import matplotlib.image

    out, outcomes = rendered
    o = outcomes[name]
    assert o.status == "made" and not o.cached
    for ext in ("png", "pdf", "json"):
        assert (out / f"{name}.{ext}").stat().st_size > 0
    img = matplotlib.image.imread(out / f"{name}.png")[..., :3]
    grey = img.mean(axis=-1)
    assert img.std() > 0.1  # a white canvas has std 0
    assert 0.02 < float(np.mean(grey < 0.8)) < 0.7  # ink, but not a filled canvas


@pytest.mark.parametrize("name", ITEMS)
def test_second_render_reuses_the_cache(rendered, name):
    out, _ = rendered
    before = (out / f"{name}.json").read_bytes()
    o = render(get_item(name), Context(out=out, tiny=True, quiet=True))
    assert o.cached and o.status == "made"
    assert (out / f"{name}.json").read_bytes() == before


# -------------------------------------------------------------------------------- table 7


def test_table7_values_are_the_theory_kernels_and_round_to_the_printed_ones(rendered):
    from fluctinit import theory

    out, _ = rendered
    rows = _data(out, "table7")["rows"]
    by = {(r["network"], r["synapses"]): r for r in rows}
    for key in (("non-Dalian", "all"), ("Dalian", "excitatory")):
        r = by[key]
        # paper table 3: 20 ms, 10 ms; table 7: 0.0110, 0.0020 (dt = 2 ms, discrete)
        assert (r["tau_mem_ms"], r["tau_syn_ms"], r["dt_ms"]) == (20.0, 10.0, 2.0)
        assert r["epsilon_bar_discrete"] == theory.epsilon_bar(20e-3, 10e-3, 2e-3)
        assert r["epsilon_hat_discrete"] == theory.epsilon_hat(20e-3, 10e-3, 2e-3)
        assert round(r["epsilon_bar_discrete"], 4) == 0.0110 and round(r["epsilon_hat_discrete"], 4) == 0.0020
        assert r["agrees_at_4_decimals"] is True
        # continuous closed forms (supp. table S1): tau_syn and tau_syn^2 / (2 (tau_mem + tau_syn))
        assert math.isclose(r["epsilon_bar_continuous"], 10e-3)
        assert math.isclose(r["epsilon_hat_continuous"], 1e-4 / 0.06)
        # the kernel sum (the paper's "obtained numerically") equals the closed form
        assert math.isclose(r["epsilon_bar_numeric"], r["epsilon_bar_discrete"], rel_tol=1e-12)
        assert math.isclose(r["epsilon_hat_numeric"], r["epsilon_hat_discrete"], rel_tol=1e-12)
    inh = by[("Dalian", "inhibitory")]  # table 3: 20/20 ms; table 7 prints 0.0061/0.0012 (docs/theory.md item 6)
    assert (inh["epsilon_bar_printed"], inh["epsilon_hat_printed"]) == (0.0061, 0.0012)
    assert round(inh["epsilon_bar_discrete"], 4) == 0.0210 and round(inh["epsilon_hat_discrete"], 4) == 0.0055
    assert inh["agrees_at_4_decimals"] is False
    fit = next(r for r in rows if (r["tau_mem_ms"], r["tau_syn_ms"]) == (10.0, 5.0))
    assert fit["agrees_at_4_decimals"] is True  # the printed inhibitory values are those of 10 ms / 5 ms


def test_table7_csv_holds_the_rows(rendered):
    out, _ = rendered
    with open(out / "table7.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    data = _data(out, "table7")["rows"]
    assert len(rows) == len(data) == 4
    assert float(rows[0]["epsilon_bar_discrete"]) == data[0]["epsilon_bar_discrete"]
    assert [r["agrees_at_4_decimals"] for r in rows] == ["True", "True", "False", "True"]


# -------------------------------------------------------------------------------- fig 1


def test_fig1_data_hold_the_plotted_numbers(rendered):
    from fluctinit.figures import fig1_regime as F

    out, _ = rendered
    d = _data(out, "fig1")
    s = F.settings(Context(out=out, tiny=True))
    assert [r["sigma_u"] for r in d["sweep"]] == s["sigma_us"]
    assert [h["xi"] for h in d["hists"]] == s["xis"]
    for h in d["hists"]:
        assert len(h["edges"]) == s["hist_bins"] + 1 and len(h["density"]) == s["hist_bins"]
        assert _finite(h["density"]) and math.isclose(h["sigma_u"], s["theta"] / h["xi"])
        assert math.isclose(sum(np.diff(h["edges"]) * np.asarray(h["density"])), 1.0, abs_tol=0.02)
    tr = d["trace"]
    assert len(tr["t"]) == len(tr["u_free"]) == len(tr["u_reset"]) == round(s["trace_duration"] / s["dt"])
    assert _finite(tr["u_free"]) and _finite(tr["u_reset"])
    keys = ("std_free", "std_reset", "mean_reset", "rate_reset", "rate_up_free", "rate_up_pred", "rate_rice",
            "sigma_pred", "std_free_ratio", "std_free_ratio_se", "mean_shift", "mean_shift_se")
    for r in d["sweep"]:
        assert _finite([r[k] for k in keys])
        assert abs(r["mu_pred"] - s["mu_u"]) < 1e-6  # the centred weights put each neuron at its target mean


def test_fig1_free_std_matches_the_per_neuron_prediction(rendered):
    """Measured free std / predicted sigma_i (eq. 3) within 5 standard errors (trial to trial) of 1,
    plus the bias of a variance estimated over a finite window (at most 1 %)."""
    from fluctinit.figures import fig1_regime as F

    out, _ = rendered
    s = F.settings(Context(out=out, tiny=True))
    n, n_neurons = s["fan_in"], s["n_neurons"]
    for r in _data(out, "fig1")["sweep"]:
        assert abs(r["std_free_ratio"] - 1.0) <= 5 * r["std_free_ratio_se"] + 0.01, r
        # the prediction for the drawn (centred) weights is near the target: sigma_i^2 ~ sigma_u^2 chi2_{n-1}/n,
        # relative std about 1/sqrt(2n) per neuron, averaged over the neurons
        assert abs(r["sigma_pred"] / r["sigma_u"] - 1.0) < 5 / math.sqrt(2 * n * n_neurons), r


def test_fig1_reset_is_inert_without_spikes_and_matters_for_large_fluctuations(rendered):
    out, _ = rendered
    sweep = {r["sigma_u"]: r for r in _data(out, "fig1")["sweep"]}
    small = sweep[0.1]  # xi = 10: P(U >= theta) ~ 1e-23, no spike, so the reset never acts (deterministic)
    assert small["n_spikes"] == 0 and small["rate_reset"] == 0.0
    assert small["std_reset"] == small["std_free"] and small["mean_reset"] == small["mean_free"]
    large = sweep[3.0]  # xi = 1/3: repeated firing during supra-threshold excursions, the reset lowers U
    assert large["rate_reset"] > large["rate_up_free"] + 5 * (large["rate_reset_se"] + large["rate_up_free_se"])
    assert large["mean_shift"] < -5 * large["mean_shift_se"]  # paired per trial: the same inputs
    assert math.isclose(large["mean_shift"], large["mean_reset"] - large["mean_free"])
    assert large["std_reset"] < 0.9 * large["std_free"]


def test_fig1_membrane_with_reset_is_lif_stationarys(rendered):
    """Panel (e)'s data: the simulated density with reset (normalized) next to lif_stationary's
    for the same target, whose mean and std the simulation matches (tiny settings: 4 neurons x
    4 trials x 1 s, so loose bounds; benchmarks/lif_rates.py measures them at full size)."""
    from fluctinit.figures import fig1_regime as F
    from fluctinit.theory import lif_stationary

    out, _ = rendered
    s = F.settings(Context(out=out, tiny=True))
    hs = _data(out, "fig1")["reset_hists"]
    assert [h["sigma_u"] for h in hs] == s["reset_sigma_us"]
    for h in hs:
        assert math.isclose(sum(np.diff(h["edges"]) * np.asarray(h["density"])), 1.0, rel_tol=1e-9)
        st = lif_stationary(s["mu_u"], h["sigma_u"], tau_mem=s["tau_mem"], tau_syn=s["tau_syn"], dt=s["dt"])
        assert math.isclose(h["mean_pred"], st.mean) and math.isclose(h["std_pred"], st.std)
        assert abs(h["mean"] - st.mean) < 0.1 * h["sigma_u"] and abs(h["std"] / st.std - 1) < 0.1, h["sigma_u"]
        du = h["u_pred"][1] - h["u_pred"][0]
        assert math.isclose(sum(h["density_pred"]) * du, 1.0, rel_tol=1e-4)
    for r in _data(out, "fig1")["sweep"]:
        assert r["rate_grid"] >= 0 and _finite([r["mean_grid"], r["std_grid"]])


# -------------------------------------------------------------------------------- S2


def test_s2_predicted_spread_is_the_validation_report_value(rendered):
    from fluctinit import validation as V
    from fluctinit.figures import s2_spread as M

    out, _ = rendered
    d = _data(out, "s2")
    s = M.settings(Context(out=out, tiny=True))
    assert [(r["fan_in"], r["sigma_u"]) for r in d["rows"]] == [(n, v) for n in s["fan_ins"] for v in s["sigma_us"]]
    n = s["fan_ins"][0]
    src = V.poisson_source(n, s["nu"], duration=s["duration"], trials=s["trials"], dt=s["dt"],
                           burn_steps=V.burn_in_steps(s["tau_mem"], s["tau_syn"], s["dt"]), seed=12345)
    reports = V.sweep(src, s["sigma_us"], n_neurons=s["n_neurons"], nu=s["nu"], tau_mem=s["tau_mem"],
                      tau_syn=s["tau_syn"], seed=s["seed"], hist_neurons=0)
    for rep, row in zip(reports, d["rows"][:len(s["sigma_us"])]):
        assert row["sigma_spread_predicted"] == rep.sigma_u_spread_predicted  # the weights depend on the seed only
        assert row["mu_spread_predicted"] == rep.mu_u_spread_predicted
    h = d["hist"]
    assert len(h["sigma_measured"]) == len(h["sigma_predicted"]) == len(h["xi_measured"]) == s["n_neurons"]
    assert _finite(h["sigma_measured"]) and _finite(h["xi_measured"])


def test_s2_spreads_follow_the_closed_forms(rendered):
    """Zero-mean Gaussian weights: sigma_i ~ sigma_u sqrt(1 - nu dt) sqrt(chi2_n/n) and
    mu_i ~ N(0, sigma_u^2 nu eps_bar^2/eps_hat); a std over N neurons has relative SE 1/sqrt(2(N-1))."""
    from fluctinit.figures import s2_spread as M

    out, _ = rendered
    d = _data(out, "s2")
    for r in d["rows"]:
        tol = 5 / math.sqrt(2 * (r["n_neurons"] - 1))
        assert abs(r["sigma_spread_predicted"] / r["sigma_spread_expected"] - 1) < tol
        assert abs(r["mu_spread_predicted"] / r["mu_spread_expected"] - 1) < tol
        assert math.isclose(r["sigma_spread_expected"], M.expected_sigma_spread(r["fan_in"], r["sigma_u"],
                                                                                d["bernoulli_factor"]))
        # the measured spread carries measurement noise on top; its correction removes it in quadrature
        assert r["sigma_spread_corrected"] <= r["sigma_spread_measured"]
        assert _finite([r[k] for k in ("sigma_spread_measured", "sigma_noise", "mu_spread_measured", "mu_noise")])
    # the mean's spread does not shrink with n; sigma's does (1/sqrt(2n))
    one = [r for r in d["rows"] if r["sigma_u"] == 1.0]
    assert one[0]["sigma_spread_expected"] > 2 * one[-1]["sigma_spread_expected"]
    assert math.isclose(one[0]["mu_spread_expected"], one[-1]["mu_spread_expected"])
    assert math.isclose(M.expected_sigma_spread(700, 1.0), 1 / math.sqrt(2 * 700), rel_tol=2e-3)
