"""Inverse maps: reference values, round trips through the forward map, sympy, misprints."""

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy import stats

from fluctinit.errors import ParameterError
from fluctinit import theory as T
from fluctinit.theory import symbolic as S

fan_ins = st.integers(1, 5000)
rates = st.floats(0.1, 200.0)
sigmas = st.floats(0.05, 5.0)
alphas = st.floats(0.02, 0.98)
kernels = st.builds(
    lambda tm, ts, dt, mode: T.kernel_integrals(tm, ts, dt, mode),
    st.floats(2e-3, 0.1), st.floats(1e-3, 0.05), st.floats(1e-4, 2e-3), st.sampled_from(["discrete", "continuous"]),
)


def test_shd_sigma_w_reproduces_paper_with_continuous_kernel():
    # Source: section 2.1, sigma_W^(SHD) = 0.23 for n = 700, nu = 15.8 Hz, sigma_U = 1 (eq. 9).
    # It is reproduced by the continuous-time kernel (0.2329), not by table 7's discrete one (0.2108).
    cont = T.feedforward_params(700, 15.8, sigma_u=1.0, kernel=T.kernel_integrals(mode="continuous"))
    disc = T.feedforward_params(700, 15.8, sigma_u=1.0)
    assert round(cont.sigma_w, 2) == 0.23
    assert round(disc.sigma_w, 2) == 0.21


def test_shd_over_randman_ratio():
    # Source: section 2.1, sigma_W^(SHD) ~ 1e-1 sigma_W^(Randman); exactly sqrt(20*5 / (700*15.8)).
    ratio = T.feedforward_params(700, 15.8).sigma_w / T.feedforward_params(20, 5.0).sigma_w
    assert ratio == pytest.approx(math.sqrt(100 / (700 * 15.8)), rel=1e-12)
    assert 0.05 < ratio < 0.2


def test_kaiming_eq56():
    assert T.kaiming_params(700).sigma_w == pytest.approx(math.sqrt(2 / 700), rel=1e-15)
    assert T.kaiming_params(9, gain=1.0).sigma_w == pytest.approx(1 / 3)


@given(fan_ins, rates, sigmas, st.floats(-3.0, 0.9), kernels)
def test_feedforward_round_trip(n, nu, sigma_u, mu_frac, kernel):
    mu_u = mu_frac * sigma_u  # keeps mu_u < theta = 1 for sigma_u <= ~1 and a feasible target
    assume(mu_u < 1.0)
    max_mu = sigma_u * kernel.epsilon_bar * math.sqrt(n * nu / kernel.epsilon_hat)
    assume(abs(mu_u) < max_mu)
    p = T.feedforward_params(n, nu, sigma_u=sigma_u, mu_u=mu_u, kernel=kernel)
    mu, sigma = p.predicted_moments()
    assert mu == pytest.approx(mu_u, rel=1e-9, abs=1e-12)
    assert sigma == pytest.approx(sigma_u, rel=1e-9)
    assert p.xi == pytest.approx((1.0 - mu_u) / sigma_u)


@given(fan_ins, rates, st.floats(0.5, 3.0), st.floats(-0.5, 0.5))
def test_feedforward_xi_target(n, nu, xi, mu_u):
    k = T.kernel_integrals()
    sigma_u = (1.0 - mu_u) / xi
    feasible = sigma_u**2 / (n * nu * k.epsilon_hat) >= (mu_u / (n * nu * k.epsilon_bar)) ** 2
    if not feasible:  # the mean alone exceeds the target variance: must raise, naming the target
        with pytest.raises(ParameterError) as err:
            T.feedforward_params(n, nu, xi=xi, mu_u=mu_u, theta=1.0)
        assert {"mu_u", "sigma_u"} <= set(err.value.names)
        return
    p = T.feedforward_params(n, nu, xi=xi, mu_u=mu_u, theta=1.0)
    _, sigma = p.predicted_moments()
    assert (1.0 - mu_u) / sigma == pytest.approx(xi, rel=1e-9)


@given(fan_ins, fan_ins, rates, rates, sigmas, alphas, st.floats(-0.3, 0.3), kernels)
def test_recurrent_round_trip(n_f, n_r, nu, nu_r, sigma_u, alpha, mu_frac, kernel):
    mu_u = mu_frac * sigma_u
    assume(mu_u < 1.0)  # below theta (mu_u >= theta is a separate must-raise case)
    try:
        p = T.recurrent_params(n_f, n_r, nu, alpha=alpha, sigma_u=sigma_u, mu_u=mu_u, nu_rec=nu_r, kernel=kernel)
    except ParameterError as err:  # infeasible: the common mean exceeds a variance share
        assert "< 0" in str(err)
        return
    mu, sigma, alpha_out = p.predicted_moments()
    assert mu == pytest.approx(mu_u, rel=1e-9, abs=1e-12)
    assert sigma == pytest.approx(sigma_u, rel=1e-9)
    assert alpha_out == pytest.approx(alpha, rel=1e-9)
    assert p.mu_v == p.mu_w


@given(
    fan_ins, st.integers(1, 500), st.one_of(st.none(), st.integers(1, 500)), rates, rates, rates, sigmas, alphas,
    kernels, kernels, st.sampled_from(["exponential", "lognormal"]), st.floats(0.1, 2.0),
)
def test_dale_round_trip(n_e, n_i, n_r, nu_e, nu_i, nu_r, sigma_u, alpha, k_e, k_i, dist, sigma_log):
    kwargs = dict(sigma_u=sigma_u, kernel_exc=k_e, kernel_inh=k_i, dist=dist)
    if dist == "lognormal":
        kwargs["sigma_log"] = sigma_log
    if n_r is not None:
        kwargs.update(n_exc_rec=n_r, alpha=alpha, nu_exc_rec=nu_r)
    p = T.dale_params(n_e, n_i, nu_e, nu_i, **kwargs)
    mu, sigma = p.predicted_moments()
    assert mu == pytest.approx(0.0, abs=1e-9 * sigma_u)
    assert sigma == pytest.approx(sigma_u, rel=1e-9)
    if n_r is not None:  # alpha: feed-forward share of the excitatory variance (eq. 50)
        ff = n_e * nu_e * k_e.epsilon_hat * p.mean_exc**2
        rec = n_r * nu_r * k_e.epsilon_hat * p.mean_exc_rec**2
        assert ff / (ff + rec) == pytest.approx(alpha, rel=1e-9)


def test_dale_distribution_parameters_match_scipy():
    # The reported parameters mean what they say: scipy's distributions with them have the
    # mean weights and second moments the derivation needs.
    p = T.dale_params(700, 32, 15.8, n_exc_rec=128, alpha=0.9)
    for rate, mean in [(p.rate_exc, p.mean_exc), (p.rate_inh, p.mean_inh), (p.rate_exc_rec, p.mean_exc_rec)]:
        d = stats.expon(scale=1 / rate)
        assert d.mean() == pytest.approx(mean) and d.moment(2) == pytest.approx(2 * mean**2)
    q = T.dale_params(700, 32, 15.8, n_exc_rec=128, alpha=0.9, dist="lognormal", sigma_log=0.7)
    for mu_log, mean in [(q.mu_log_exc, q.mean_exc), (q.mu_log_inh, q.mean_inh), (q.mu_log_exc_rec, q.mean_exc_rec)]:
        d = stats.lognorm(s=0.7, scale=math.exp(mu_log))
        assert d.mean() == pytest.approx(mean) and d.moment(2) == pytest.approx(math.exp(0.49) * mean**2)


def test_dale_feedforward_matches_paper_eqs_44_47():
    # Equal rates, exponential weights: the paper's lambda_I = Delta_EI lambda_E (eq. 44) and eq. 47.
    ke, ki = T.kernel_integrals(tau_syn=10e-3), T.kernel_integrals(tau_syn=20e-3)
    n_e, n_i, nu, s = 700, 32, 15.8, 0.8
    p = T.dale_params(n_e, n_i, nu, sigma_u=s, kernel_exc=ke, kernel_inh=ki)
    d_ei = n_i * nu * ki.epsilon_bar / (n_e * nu * ke.epsilon_bar)
    lam_e = math.sqrt(2 * (d_ei**2 * n_e * nu * ke.epsilon_hat + n_i * nu * ki.epsilon_hat)) / (s * d_ei)
    assert p.rate_exc == pytest.approx(lam_e, rel=1e-12)
    assert p.rate_inh == pytest.approx(d_ei * lam_e, rel=1e-12)


# ---- sympy: the numeric path equals the symbolic solution of the moment equations ----

def _f(expr, names):
    return sp.lambdify([S.SYM[n] for n in names], expr, "math")


@given(fan_ins, rates, sigmas, st.floats(-0.5, 0.5), kernels)
def test_feedforward_matches_sympy(n, nu, sigma_u, mu_u, kernel):
    sol = S.feedforward_solution()
    names = ["n", "nu", "epsilon_bar", "epsilon_hat", "mu_u", "sigma_u"]
    vals = (n, nu, kernel.epsilon_bar, kernel.epsilon_hat, mu_u, sigma_u)
    var_w = _f(sol["var_w"], names)(*vals)
    assume(var_w >= 0)
    p = T.feedforward_params(n, nu, sigma_u=sigma_u, mu_u=mu_u, kernel=kernel)
    assert p.mu_w == pytest.approx(_f(sol["mu_w"], names)(*vals), rel=1e-10, abs=1e-300)
    assert p.sigma_w**2 == pytest.approx(var_w, rel=1e-8, abs=1e-12 * sigma_u**2 / (n * nu * kernel.epsilon_hat))


@given(fan_ins, fan_ins, rates, rates, sigmas, alphas, st.floats(-0.2, 0.2), kernels)
def test_recurrent_matches_sympy(n_f, n_r, nu_f, nu_r, sigma_u, alpha, mu_u, kernel):
    sol = S.recurrent_solution()
    names = ["n_F", "n_R", "nu_F", "nu_R", "epsilon_bar", "epsilon_hat", "mu_u", "sigma_u", "alpha"]
    vals = (n_f, n_r, nu_f, nu_r, kernel.epsilon_bar, kernel.epsilon_hat, mu_u, sigma_u, alpha)
    var_w, var_v = _f(sol["var_w"], names)(*vals), _f(sol["var_v"], names)(*vals)
    assume(var_w >= 0 and var_v >= 0)
    p = T.recurrent_params(n_f, n_r, nu_f, alpha=alpha, sigma_u=sigma_u, mu_u=mu_u, nu_rec=nu_r, kernel=kernel)
    scale_w = alpha * sigma_u**2 / (n_f * nu_f * kernel.epsilon_hat)
    scale_v = (1 - alpha) * sigma_u**2 / (n_r * nu_r * kernel.epsilon_hat)
    assert p.mu_w == pytest.approx(_f(sol["mu_wv"], names)(*vals), rel=1e-10, abs=1e-300)
    assert p.sigma_w**2 == pytest.approx(var_w, rel=1e-8, abs=1e-10 * scale_w)
    assert p.sigma_v**2 == pytest.approx(var_v, rel=1e-8, abs=1e-10 * scale_v)


@pytest.mark.parametrize("recurrent", [False, True])
@given(
    n_f=fan_ins, n_r=st.integers(1, 500), n_i=st.integers(1, 500), nu_f=rates, nu_r=rates, nu_i=rates,
    sigma_u=sigmas, alpha=alphas, k_e=kernels, k_i=kernels, sigma_log=st.floats(0.1, 2.0),
)
def test_dale_matches_sympy(recurrent, n_f, n_r, n_i, nu_f, nu_r, nu_i, sigma_u, alpha, k_e, k_i, sigma_log):
    sol = S.dale_solution(recurrent)
    names = ["n_F", "n_R", "n_I", "nu_F", "nu_R", "nu_I", "alpha", "kappa", "sigma_u", "eb_E", "eh_E", "eb_I", "eh_I"]
    kappa = math.exp(sigma_log**2)
    vals = (n_f, n_r, n_i, nu_f, nu_r, nu_i, alpha, kappa, sigma_u, k_e.epsilon_bar, k_e.epsilon_hat, k_i.epsilon_bar, k_i.epsilon_hat)
    extra = dict(n_exc_rec=n_r, alpha=alpha, nu_exc_rec=nu_r) if recurrent else {}
    p = T.dale_params(
        n_f, n_i, nu_f, nu_i, sigma_u=sigma_u, kernel_exc=k_e, kernel_inh=k_i, dist="lognormal",
        sigma_log=sigma_log, **extra,
    )
    assert p.mean_exc == pytest.approx(_f(sol["m_F"], names)(*vals), rel=1e-9)
    assert p.mean_inh == pytest.approx(_f(sol["m_I"], names)(*vals), rel=1e-9)
    if recurrent:
        assert p.mean_exc_rec == pytest.approx(_f(sol["m_R"], names)(*vals), rel=1e-9)


# ---- the paper's printed formulas: which disagree with the derivation (docs/theory.md) ----

def _equal(a, b) -> bool:
    return sp.simplify(a - b) == 0


def test_table8_misprints_and_text_equations():
    printed = S.paper_printed()
    ff = S.feedforward_solution()
    rec = S.recurrent_solution()
    eq_rates = {S.SYM["nu_F"]: S.SYM["nu"], S.SYM["nu_R"]: S.SYM["nu"]}
    # Table 8, non-centered feed-forward: mu_W printed with epsilon_hat; eq. 6 has epsilon_bar.
    assert not _equal(printed["table8_mu_w"], ff["mu_w"])
    assert _equal(printed["table8_mu_w"].subs(S.SYM["epsilon_hat"], S.SYM["epsilon_bar"]), ff["mu_w"])
    # Table 8, recurrent: variances printed over n_F n_R; the derivation (and eqs. 38-39) divide by n_F or n_R.
    centered = {S.SYM["mu_u"]: 0}
    assert not _equal(printed["table8_var_w_centered_rec"], rec["var_w"].subs(eq_rates).subs(centered))
    assert not _equal(printed["table8_var_v_centered_rec"], rec["var_v"].subs(eq_rates).subs(centered))
    assert _equal(printed["table8_var_w_centered_rec"] * S.SYM["n_R"], rec["var_w"].subs(eq_rates).subs(centered))
    assert _equal(printed["table8_var_v_centered_rec"] * S.SYM["n_F"], rec["var_v"].subs(eq_rates).subs(centered))
    # Table 8, recurrent common mean: epsilon_hat printed, eq. 37 has epsilon_bar.
    assert not _equal(printed["table8_mu_wv"], rec["mu_wv"].subs(eq_rates))
    # The text's eqs. 38-39 are right.
    assert _equal(printed["eq38_var_w"], rec["var_w"].subs(eq_rates))
    assert _equal(printed["eq39_var_v"], rec["var_v"].subs(eq_rates))


def test_eq55_misprint_and_eq47():
    printed = S.paper_printed()
    nu = S.SYM["nu"]
    same = {S.SYM["nu_F"]: nu, S.SYM["nu_R"]: nu, S.SYM["nu_I"]: nu, S.SYM["kappa"]: 2}
    d_ff = S.dale_solution(False)
    d_rec = S.dale_solution(True)
    # eq. 47 (lambda_E = 1/m_F without excitatory recurrence) is right.
    assert _equal(printed["eq47_lambda_e"], (1 / d_ff["m_F"]).subs(same))
    # eqs. 51 and 53 are right: lambda_R = lambda_F Delta_R, lambda_I = lambda_F Delta_EI^R.
    lam_f = (1 / d_rec["m_F"]).subs(same)
    point = {
        S.SYM["n_F"]: 700, S.SYM["n_R"]: 128, S.SYM["n_I"]: 32, nu: 15.8, S.SYM["alpha"]: sp.Rational(9, 10),
        S.SYM["sigma_u"]: 1, S.SYM["eb_E"]: 0.011, S.SYM["eh_E"]: 0.002, S.SYM["eb_I"]: 0.021, S.SYM["eh_I"]: 0.0055,
    }
    num = lambda e: float(e.subs(point))  # noqa: E731
    assert num((1 / d_rec["m_R"]).subs(same)) == pytest.approx(num(lam_f * printed["eq51_delta_r"]), rel=1e-12)
    assert num((1 / d_rec["m_I"]).subs(same)) == pytest.approx(num(lam_f * printed["eq53_delta_eir"]), rel=1e-12)
    # eq. 55 (and table 9) print Delta_EI^R N_F; the derivation needs (Delta_EI^R)^2 N_F.
    assert num(printed["eq55_lambda_f"]) != pytest.approx(num(lam_f), rel=1e-3)
    assert num(printed["eq55_lambda_f_corrected"]) == pytest.approx(num(lam_f), rel=1e-12)


# ---- forward maps ----

def test_membrane_moments_from_weights_per_neuron():
    rng = np.random.default_rng(0)
    w = rng.normal(0.1, 0.3, size=(7, 40))
    rates = rng.uniform(1, 30, size=40)
    k = T.kernel_integrals()
    mu, sigma = T.membrane_moments_from_weights(w, rates, k)
    for i in range(7):  # eqs. 2-3 written out
        assert mu[i] == pytest.approx(sum(w[i, j] * rates[j] * k.epsilon_bar for j in range(40)))
        assert sigma[i] ** 2 == pytest.approx(sum(w[i, j] ** 2 * rates[j] * k.epsilon_hat for j in range(40)))


def test_membrane_moments_from_weights_per_input_kernels():
    ke, ki = T.kernel_integrals(tau_syn=10e-3), T.kernel_integrals(tau_syn=20e-3)
    w = np.array([[0.2, 0.2, -0.5]])
    mu, sigma = T.membrane_moments_from_weights(w, 10.0, [ke, ke, ki])
    assert mu[0] == pytest.approx(10 * (0.4 * ke.epsilon_bar - 0.5 * ki.epsilon_bar))
    assert sigma[0] ** 2 == pytest.approx(10 * (0.08 * ke.epsilon_hat + 0.25 * ki.epsilon_hat))


@given(fan_ins, rates, st.floats(-1, 1), st.floats(0, 2))
def test_mean_of_per_neuron_variance_matches_population_forward_map(n, nu, mu_w, sigma_w):
    # E over weight draws of the per-neuron variance is n (sigma_W^2 + mu_W^2) nu epsilon_hat (eq. 5):
    # check the identity on the exact expectation of W^2 rather than by sampling.
    k = T.kernel_integrals()
    mu, sigma = T.membrane_moments(n, nu, mu_w, sigma_w, k)
    w_sq_mean = sigma_w**2 + mu_w**2
    assert sigma**2 == pytest.approx(n * w_sq_mean * nu * k.epsilon_hat, rel=1e-12)
    assert mu == pytest.approx(n * mu_w * nu * k.epsilon_bar, rel=1e-12, abs=1e-300)


def test_bernoulli_variance_factor():
    assert T.bernoulli_variance_factor(15.8, 2e-3) == pytest.approx(1 - 0.0316)
    with pytest.raises(ParameterError):
        T.bernoulli_variance_factor(600.0, 2e-3)
