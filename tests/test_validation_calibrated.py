"""The calibrated kernel mode (fluctinit.validation.calibrate): the data's pooled filtered-input
statistics, estimated in one streaming pass, give the measured free-membrane moments exactly and
put the mean measured sigma_u on target where the paper's formula misses it (Randman).

References: the filtered input is y = K * x with the discrete PSP kernel (theory.psp_kernel,
eqs. 10-11); the pooled moments of U = w'y are w'm and w'Cw exactly (module docstring); for
z ~ N(0, I_n), E sqrt(z'z) = sqrt(2) Gamma((n+1)/2) / Gamma(n/2) (the chi distribution's mean).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fluctinit import validation as V
from fluctinit.cli import main
from fluctinit.errors import ParameterError
from fluctinit.theory import kernel_integrals, psp_kernel


def _brute_force(x: np.ndarray, dt: float, tau_mem=20e-3, tau_syn=10e-3):
    """Pooled mean and covariance of y_j[k, n] = sum_m K[n-m] x_j[k, m], by direct convolution in float64."""
    S, T, n = x.shape
    K = psp_kernel(tau_mem, tau_syn, dt, T)
    y = np.zeros_like(x, dtype=float)
    for t in range(T):
        y[:, t] = np.einsum("m,kmj->kj", K[t::-1][: t + 1], x[:, : t + 1])
    flat = y.reshape(-1, n)
    return flat.mean(0), np.cov(flat.T, bias=True)


def test_streaming_statistics_equal_the_direct_convolution():
    rng = np.random.default_rng(0)
    x = (rng.random((13, 40, 6)) < 0.08).astype(np.float32)
    x[:, :, 1] += x[:, :, 0]  # correlated inputs: C has off-diagonal terms
    src = V.tensor_source(x, 2e-3, batch_size=5)
    st = V.input_statistics(src, max_elements=7 * 40 * 6)  # several chunks per batch
    m, C = _brute_force(x.astype(float), 2e-3)
    np.testing.assert_allclose(st.mean, m, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(st.cov, C, rtol=1e-4, atol=1e-8)
    assert st.n_values == 13 * 40 and abs(st.cov[0, 1]) > 0.3 * math.sqrt(st.cov[0, 0] * st.cov[1, 1])
    assert st.correlation_excess > 1.0  # positively correlated inputs


def test_calibrated_prediction_is_the_measured_moment_per_neuron():
    """On the data it was estimated from, w'm and w'Cw are the measured per-neuron moments (float32 rounding)."""
    src = V.randman_source(max_samples=300)
    rep = V.validate(src, sigma_u=1.0, n_neurons=24, mode="calibrated", seed=3)
    pn = rep.per_neuron
    np.testing.assert_allclose(pn["sigma_u"], pn["sigma_u_predicted"], rtol=2e-4)
    np.testing.assert_allclose(pn["mu_u"], pn["mu_u_predicted"], rtol=2e-3, atol=2e-4)
    assert math.isclose(rep.sigma_u_spread, rep.sigma_u_spread_predicted, rel_tol=2e-3)
    assert rep.mode == "calibrated"


def test_calibrated_mode_puts_randman_on_target_where_the_formula_does_not():
    """Mean measured/target over 8 targets (independent populations): calibrated within 4 standard
    errors of 1; the paper's formula (discrete kernel) more than 4 below (figure 2c's bias)."""
    src = V.randman_source(max_samples=2000)
    targets = [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    out = {}
    for mode in ("calibrated", "discrete"):
        reps = V.sweep(src, targets, n_neurons=96, mode=mode, seed=0)
        mean = np.mean([r.ratio for r in reps])
        sem = math.sqrt(sum(r.ratio_sem ** 2 for r in reps)) / len(reps)
        out[mode] = (mean, sem)
    mean, sem = out["calibrated"]
    assert abs(mean - 1.0) < 4 * sem, out
    mean, sem = out["discrete"]
    assert mean < 1.0 - 4 * sem, out


def test_calibrated_recurrent_population_is_on_target():
    """--init recurrent: the data channel's kernel and the generated recurrent inputs' share one
    Jensen factor (recurrent_kernels of the data's statistics with the Poisson inputs appended):
    mean measured/target within 4 standard errors of 1, the predicted spread across neurons the
    measured one, and the feed-forward channel 0.9 of the predicted variance."""
    src = V.randman_source(max_samples=2000)
    reps = V.sweep(src, [0.5, 1.0, 1.5, 2.0], n_neurons=96, mode="calibrated", init="recurrent", seed=1)
    mean = np.mean([r.ratio for r in reps])
    sem = math.sqrt(sum(r.ratio_sem ** 2 for r in reps)) / len(reps)
    assert abs(mean - 1.0) < 4 * sem, (mean, sem)
    for r in reps:
        assert abs(r.sigma_u_spread / r.sigma_u_spread_predicted - 1.0) < 0.03, r
    st = V.input_statistics(src).with_poisson_inputs(96, 5.0)
    k, k_rec = V.recurrent_kernels(st, 20, 5.0, 5.0, 0.9)
    assert math.isclose(k_rec.epsilon_hat / k.epsilon_hat,
                        (st.part(slice(20, None)).trace / 96) / (st.part(slice(0, 20)).trace / 20), rel_tol=1e-9)


def test_poisson_limit_is_the_discrete_kernel():
    """Stationary independent Bernoulli inputs after the burn-in: tr C / n = nu eps_hat (1 - nu dt) and
    1'm / n = nu eps_bar (eqs. 2-3), within 5 standard errors across the inputs."""
    nu, dt = 20.0, 2e-3
    src = V.poisson_source(64, nu, duration=4.0, trials=8, dt=dt, burn_steps=V.burn_in_steps(), seed=1)
    st = V.input_statistics(src)
    k = kernel_integrals(mode="discrete")
    var = np.diag(st.cov)
    assert abs(var.mean() - nu * k.epsilon_hat * (1 - nu * dt)) < 5 * var.std(ddof=1) / math.sqrt(var.size)
    assert abs(st.mean.mean() - nu * k.epsilon_bar) < 5 * st.mean.std(ddof=1) / math.sqrt(st.mean.size)
    off = st.cov - np.diag(var)
    assert np.abs(off).mean() < 0.1 * var.mean()  # independent inputs: no cross-covariance to speak of


@pytest.mark.parametrize("n", [1, 4, 20, 300])
def test_sigma_factor_is_the_chi_mean(n):
    st = V.InputStatistics(np.ones(n), np.eye(n), 100, 0.02, 0.01, 0.002)
    chi_mean = math.sqrt(2) * math.exp(math.lgamma((n + 1) / 2) - math.lgamma(n / 2))
    assert math.isclose(st.sigma_factor(), chi_mean / math.sqrt(n), rel_tol=3e-3)
    rms = st.kernel(10.0, statistic="rms")
    assert math.isclose(rms.epsilon_hat * n * 10.0, n) and math.isclose(rms.epsilon_bar * n * 10.0, n)


def test_calibrated_mode_refusals():
    src = V.randman_source(max_samples=50)
    with pytest.raises(ParameterError, match="`init`.*'dale-exponential'.*mode discrete"):
        V.validate(src, mode="calibrated", init="dale-exponential", n_neurons=4)
    with pytest.raises(ParameterError, match="`rec_kernel` applies to mode 'calibrated' only"):
        V.draw_population("recurrent", 4, 20, 5.0, rec_kernel=kernel_integrals())
    with pytest.raises(ParameterError, match="`data_kernel`"):
        V.draw_population("feedforward", 4, 20, 5.0, mode="calibrated")
    with pytest.raises(ParameterError, match="`statistic` must be one of"):
        V.InputStatistics(np.ones(2), np.eye(2), 1, 0.02, 0.01, 0.002).kernel(5.0, statistic="median")
    silent = V.tensor_source(np.zeros((3, 10, 2), np.float32), 2e-3)
    with pytest.raises(ValueError, match="no input variance"):
        V.input_statistics(silent).kernel(5.0)


def test_cli_calibrated_mode(capsys):
    assert main(["validate", "randman", "--mode", "calibrated", "--max-samples", "200", "--neurons", "16",
                 "--json"]) == 0
    out = capsys.readouterr().out
    assert '"mode": "calibrated"' in out
    assert main(["validate", "randman", "--mode", "calibrated", "--init", "dale-exponential"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "calibrated" in err[0] and "--init" in err[0]
    assert main(["validate", "randman", "--mode", "psd"]) == 2
    assert "`--mode` must be one of 'discrete', 'continuous', 'calibrated'" in capsys.readouterr().err
