"""Firing rate and membrane with threshold and reset (fluctinit.theory.rates), against closed-form
limits and the simulator.

References: the deterministic LIF (sigma -> 0, mu > theta) fires at 1 / (tau ln((mu - V_r) /
(mu - theta))); Siegert's integral (Brunel 2000, eq. 21) in its plain form e^{x^2}(1 + erf x);
reset to 0 subtracts U_s >= theta, so the pooled mean with reset is at most
mu - rate theta dt / (1 - lambda_mem) (theory.rates.lif_reset_mean).  The colored-noise rate's
agreement with the simulation is a model error (docs/beyond.md: within 1.3x where the rate is
above 0.1 Hz); the test keeps it from getting worse.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from fluctinit.errors import ParameterError
from fluctinit.theory import lif_membrane_moments, lif_rate, lif_reset_mean, lif_stationary


def test_deterministic_limit():
    for mu in (1.5, 2.0, 4.0):
        expected = 1.0 / (0.02 * math.log(mu / (mu - 1.0)))
        got = lif_rate(mu, 1e-3, tau_syn=0.0, colored=False)
        assert math.isclose(got, expected, rel_tol=2e-3), (mu, got, expected)


def test_siegert_integral_in_its_plain_form():
    from scipy.integrate import quad

    mu, sigma_u = 0.2, 0.6
    s = sigma_u * math.sqrt(2.0)  # tau_syn = 0: white noise, free std sigma / sqrt(2)
    plain = quad(lambda x: math.exp(x * x) * (1 + math.erf(x)), (0 - mu) / s, (1 - mu) / s)[0]
    assert math.isclose(lif_rate(mu, sigma_u, tau_syn=0.0), 1 / (0.02 * math.sqrt(math.pi) * plain), rel_tol=1e-9)


def test_rate_grows_with_mean_and_fluctuations():
    sig = [lif_rate(0.0, s) for s in (0.3, 0.5, 1.0, 2.0, 3.0)]
    mus = [lif_rate(m, 0.5) for m in (-1.0, -0.5, 0.0, 0.5)]
    assert sig == sorted(sig) and mus == sorted(mus) and sig[0] > 0
    assert lif_rate(0.0, 0.05) < 1e-50  # xi = 20: no spikes in any simulation
    # the colored-noise correction raises the effective threshold: fewer spikes than white noise
    assert lif_rate(0.0, 1.0) < lif_rate(0.0, 1.0, colored=False)


def test_small_fluctuations_leave_the_free_gaussian():
    m, sd = lif_membrane_moments(0.0, 0.1)
    assert abs(m) < 1e-6 and math.isclose(sd, 0.1, rel_tol=1e-3)
    m, sd = lif_membrane_moments(0.0, 1.0)
    assert m < 0 and sd < 1.0  # reset pulls the mean down and narrows the distribution


@pytest.fixture(scope="module")
def simulated(tmp_path_factory, one_thread):
    from fluctinit.figures import fig1_regime as F1
    from fluctinit.figures._items import Context

    ctx = Context(out=Path(tmp_path_factory.mktemp("rates")), quick=True, quiet=True)
    out = {}
    for mu in (-0.5, 0.0):
        s = dict(F1.settings(ctx), mu_u=mu, sigma_us=[0.5, 1.0, 2.0], xis=[], trace_sigma_u=0.5, n_neurons=16,
                 trials=8, duration=2.0)
        out[mu] = (s, F1.compute(ctx, s)["sweep"])
    return out


def test_rate_prediction_against_the_simulator(simulated):
    for mu, (s, rows) in simulated.items():
        for r in rows:
            pred = lif_rate(mu, r["sigma_u"], tau_mem=s["tau_mem"], tau_syn=s["tau_syn"], theta=s["theta"])
            assert r["rate_reset"] > 0.1
            assert 1 / 1.35 < pred / r["rate_reset"] < 1.35, (mu, r["sigma_u"], pred, r["rate_reset"])
            white = lif_rate(mu, r["sigma_u"], colored=False)
            assert white / r["rate_reset"] > 2.5  # without the correction the theory is far off


def test_reset_lowers_the_mean_at_least_by_the_linear_bound(simulated):
    for mu, (s, rows) in simulated.items():
        for r in rows:
            bound = lif_reset_mean(r["mean_free"], r["rate_reset"], tau_mem=s["tau_mem"], dt=s["dt"], theta=s["theta"])
            assert r["mean_reset"] <= bound + 3 * r["mean_reset_se"], (mu, r["sigma_u"], r["mean_reset"], bound)


def test_stationary_grid_without_threshold_is_the_free_membrane():
    for mu, sigma in ((0.0, 0.5), (-1.0, 2.0), (0.3, 0.1)):
        st = lif_stationary(mu, sigma, theta=1e3)
        assert st.rate == 0.0 and math.isclose(st.density.sum(), 1.0, rel_tol=1e-9)
        # the grid's interpolation and the current's discretization widen it by < 0.5 %
        assert abs(st.mean - mu) < 1e-3 * sigma and 1.0 <= st.std / sigma < 1.005, (mu, sigma, st.mean, st.std)


def test_stationary_grid_against_the_simulator(simulated):
    """The discrete update's stationary state: rate, mean and std with reset within the
    simulation's standard errors plus 5 % (the inputs are Poisson shot noise, the grid's
    Gaussian) -- where the Siegert-type rate needs 1.35x and Brunel's density misses the mean by 3x."""
    for mu, (s, rows) in simulated.items():
        for r in rows:
            st = lif_stationary(mu, r["sigma_u"], tau_mem=s["tau_mem"], tau_syn=s["tau_syn"], dt=s["dt"], theta=s["theta"])
            assert abs(st.rate - r["rate_reset"]) < 4 * r["rate_reset_se"] + 0.05 * r["rate_reset"], (mu, r, st.rate)
            assert abs(st.mean - r["mean_reset"]) < 4 * r["mean_reset_se"] + 0.03 * r["sigma_u"], (mu, r, st.mean)
            assert abs(st.std / r["std_reset"] - 1.0) < 0.05, (mu, r, st.std)


def test_bad_input_names_the_argument():
    with pytest.raises(ParameterError, match="`reset` must be < theta"):
        lif_rate(0.0, 1.0, reset=1.0)
    with pytest.raises(ParameterError, match="`sigma_u` must be"):
        lif_rate(0.0, 0.0)
    with pytest.raises(ParameterError, match="`rate` must be"):
        lif_reset_mean(0.0, -1.0)
    assert np.isfinite(lif_rate(-50.0, 0.1))  # far below threshold: 0, no overflow
    with pytest.raises(ParameterError, match="`dt` must be"):
        lif_stationary(0.0, 1.0, dt=0.0)
    with pytest.raises(ParameterError, match="`reset` must be < theta"):
        lif_stationary(0.0, 1.0, reset=2.0)


def test_upcrossing_rate_matches_the_bivariate_normal_and_tends_to_rice():
    """No reset: the discrete crossing probability is Phi(xi) - Phi2(xi, xi; rho) (bivariate
    normal), and the rate tends to Rice's formula as dt -> 0."""
    from scipy.stats import multivariate_normal, norm

    from fluctinit.theory import lag_correlation, rice_rate, upcrossing_rate

    rho = lag_correlation(20e-3, 10e-3, 2e-3)
    for xi in (0.5, 1.0, 2.0):
        p = norm.cdf(xi) - multivariate_normal([0, 0], [[1, rho], [rho, 1]]).cdf([xi, xi])
        assert math.isclose(upcrossing_rate(xi, rho, 2e-3), p / 2e-3, rel_tol=1e-4)
    # as dt -> 0 the discrete rate converges to Rice's formula (first order in sqrt(dt) or better)
    errs = []
    for dt in (1e-3, 1e-4, 1e-5):
        r = upcrossing_rate(1.0, lag_correlation(20e-3, 10e-3, dt), dt)
        errs.append(abs(r / rice_rate(1.0, 20e-3, 10e-3) - 1))
    assert errs[0] > errs[1] > errs[2] and errs[2] < 1e-2
    assert math.isclose(rice_rate(0.0, 20e-3, 10e-3), 1 / (2 * math.pi * math.sqrt(2e-4)))


def test_lif_rates_are_lif_rate_at_once():
    from fluctinit.theory import lif_rates

    rng = np.random.default_rng(0)
    mu, sigma = rng.uniform(-3, 2, 300), rng.uniform(0.02, 4, 300)
    fast = lif_rates(mu, sigma)
    slow = np.array([lif_rate(m, s) for m, s in zip(mu, sigma)])
    big = slow > 1e-8
    np.testing.assert_allclose(fast[big], slow[big], rtol=1e-3)
    assert np.all(fast[~big] < 1e-6)
    assert lif_rates(np.array([0.5, 2.0]), 0.0)[0] == 0.0  # deterministic, below threshold: silent
    det = 1.0 / (0.02 * math.log(2.0 / (2.0 - 1.0)))  # deterministic above threshold (white-noise limit)
    assert math.isclose(float(lif_rates(2.0, 1e-6, tau_syn=0.0)), det, rel_tol=1e-3)


def test_stationary_rates_are_lif_stationary_at_once():
    """The tabulated ratio to the diffusion result gives lif_stationary's rate within 10 %
    (measured here: 0.97-1.05; 0.97-1.07 on 19 other points above 0.1 Hz, the table's coarser grid
    included), where lif_rates is 0.87-1.78x; a silent neuron stays silent."""
    from fluctinit.theory import lif_rates, stationary_rates

    rng = np.random.default_rng(3)
    sigma = np.exp(rng.uniform(math.log(0.1), math.log(6.0), 8))
    mu = 1.0 - rng.uniform(-2.5, 3.0, 8) * sigma
    mu, sigma = np.append(mu, 0.0), np.append(sigma, 6.0)  # far into the large-sigma_u regime
    exact = np.array([lif_stationary(m, s).rate for m, s in zip(mu, sigma)])
    table = stationary_rates(mu, sigma)
    big = exact > 0.1
    assert big.sum() >= 6
    np.testing.assert_allclose(table[big], exact[big], rtol=0.1)
    # the correction is needed: at mu_u = 0, sigma_u = 6 the diffusion formula is 1.8x high
    assert float(lif_rates(0.0, 6.0)) / exact[-1] > 1.5
    assert stationary_rates(0.5, 0.0) == 0.0 and stationary_rates(np.zeros((2, 3)), 1.0).shape == (2, 3)
    with pytest.raises(ParameterError, match="dt"):
        stationary_rates(0.0, 1.0, dt=0.0)


def test_adiabatic_rate_averages_over_the_drift():
    from fluctinit.theory import adiabatic_rate

    assert adiabatic_rate(0.0, 1.0, 0.0) == lif_rate(0.0, 1.0)
    z = np.random.default_rng(1).standard_normal(4000)
    mc = np.array([lif_rate(-0.3 + 0.8 * v, 0.6) for v in z])
    got = adiabatic_rate(-0.3, 0.6, 0.8)
    assert abs(got - mc.mean()) < 4 * mc.std(ddof=1) / math.sqrt(z.size), (got, mc.mean())
    # the same total variance on a slow time scale fires less than as fast fluctuations here
    assert got < lif_rate(-0.3, 1.0)


def test_local_rate_follows_a_drive_that_switches_slower_than_the_membrane(one_thread):
    """500 Poisson inputs whose rate switches between 0.5 and 40 Hz every 200 ms: the rate with
    reset is predicted from the free membrane's 50 ms blocks within 30 % (measured here: 0.78;
    the blocks that straddle a switch are not stationary), where one pooled (mu, sigma) per
    neuron overestimates it more than 1.5x (measured: 2.1x)."""
    import torch

    from fluctinit.sim import NeuronParams, fluctuation_normal_, lif_dense
    from fluctinit.theory import local_rate

    dt, n, T, trials = 2e-3, 500, 2000, 4
    g = torch.Generator().manual_seed(0)
    on = ((torch.arange(T) // 100) % 2 == 1).float()[None, :, None]  # 200 ms off, 200 ms on
    rate = 0.5 + 39.5 * on
    x = torch.poisson((rate * dt).expand(trials, T, n).contiguous(), generator=g)
    w = fluctuation_normal_(torch.empty(32, n), 20.25, sigma_u=0.6, mu_u=-0.7, generator=g)
    u = lif_dense(x, w, params=NeuronParams(mode="free"))[1][:, 50:]
    s = lif_dense(x, w, params=NeuronParams(mode="reset"))[0][:, 50:]
    measured = float(s.mean()) / dt
    pred = float(local_rate(u.numpy(), block=25, dt=dt).mean())
    pooled = float(np.mean([lif_rate(float(u[..., i].mean()), float(u[..., i].std())) for i in range(32)]))
    assert measured > 0.5 and abs(pred / measured - 1) < 0.3, (measured, pred, pooled)
    assert pooled / measured > 1.5, (measured, pooled)
    with pytest.raises(ParameterError, match="rates"):
        local_rate(u.numpy(), block=25, dt=dt, rates="exact")


def test_local_rate_with_stationary_block_rates_at_large_sigma(one_thread):
    """Stationary Poisson drive at sigma_u = 3: each 50 ms block's rate from the discrete
    update's stationary state predicts the rate with reset within 20 % (measured here: 1.13),
    the diffusion formula 1.44x high."""
    import torch

    from fluctinit.sim import NeuronParams, fluctuation_normal_, lif_dense
    from fluctinit.theory import local_rate

    dt, n, T, trials = 2e-3, 500, 2000, 4
    g = torch.Generator().manual_seed(0)
    x = torch.poisson(torch.full((trials, T, n), 20.0 * dt), generator=g)
    w = fluctuation_normal_(torch.empty(32, n), 20.0, sigma_u=3.0, mu_u=0.0, generator=g)
    u = lif_dense(x, w, params=NeuronParams(mode="free"))[1][:, 50:].numpy()
    measured = float(lif_dense(x, w, params=NeuronParams(mode="reset"))[0][:, 50:].mean()) / dt
    exact = float(local_rate(u, block=25, dt=dt, rates="stationary").mean())
    diffusion = float(local_rate(u, block=25, dt=dt).mean())
    assert abs(exact / measured - 1) < 0.2, (measured, exact, diffusion)
    assert diffusion / measured > 1.3, (measured, diffusion)
