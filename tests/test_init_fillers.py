"""torch.nn.init-style fillers (paper section 4.3, tables 8-9, eq. 56).

Sample moments are compared with the theory's parameters within a few standard errors
(fixed generator seeds): for a normal sample of size N, SE(mean) = sigma/sqrt(N) and
SE(std) ~= sigma/sqrt(2N); for an exponential with mean m, SE(mean) = m/sqrt(N) and
SE(std) ~= m sqrt(2/N) (from var(s^2) = (mu_4 - sigma^4)/N with mu_4 = 9 m^4).
"""

import math

import pytest
import torch

from fluctinit import theory
from fluctinit.sim import (
    dale_exponential_,
    dale_lognormal_,
    fan_in_of,
    fluctuation_normal_,
    fluctuation_recurrent_,
    kaiming_normal_,
)
from fluctinit.errors import ParameterError

Z = 4.0  # tolerance in standard errors


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def assert_normal(w, mu, sigma):
    n = w.numel()
    assert abs(w.mean().item() - mu) < Z * sigma / math.sqrt(n)
    assert abs(w.std().item() - sigma) < Z * sigma / math.sqrt(2 * n)


def test_fan_in_of_matrix_and_kernels():
    assert fan_in_of(torch.empty(5, 7)) == 7
    assert fan_in_of(torch.empty(8, 3, 5)) == 15
    assert fan_in_of(torch.empty(8, 3, 3, 3)) == 27


def test_centered_fluctuation_normal_matches_theory():
    w = torch.empty(300, 700, dtype=torch.float64)
    out = fluctuation_normal_(w, 15.8, sigma_u=1.0, generator=gen())
    assert out is w
    p = theory.feedforward_params(700, 15.8, sigma_u=1.0)
    assert p.mu_w == 0.0
    assert_normal(w, 0.0, p.sigma_w)


def test_non_centered_fluctuation_normal_matches_theory():
    w = torch.empty(400, 200, dtype=torch.float64)
    kernel = theory.kernel_integrals(tau_mem=30e-3, tau_syn=5e-3, dt=1e-3)
    fluctuation_normal_(w, 20.0, mu_u=0.4, xi=2.0, kernel=kernel, generator=gen(1))
    p = theory.feedforward_params(200, 20.0, mu_u=0.4, xi=2.0, kernel=kernel)
    assert p.mu_w > 0
    assert_normal(w, p.mu_w, p.sigma_w)


def test_conv_kernel_uses_channels_times_kernel_as_fan_in():
    w = torch.empty(64, 16, 7, dtype=torch.float64)
    fluctuation_normal_(w, 10.0, sigma_u=0.5, generator=gen(2))
    p = theory.feedforward_params(16 * 7, 10.0, sigma_u=0.5)
    assert_normal(w, 0.0, p.sigma_w)


def test_fan_in_override():
    w = torch.empty(50, 40, dtype=torch.float64)
    fluctuation_normal_(w, 10.0, fan_in=400, generator=gen(3))
    assert_normal(w, 0.0, theory.feedforward_params(400, 10.0).sigma_w)


def test_recurrent_pair_matches_theory():
    w = torch.empty(256, 300, dtype=torch.float64)
    v = torch.empty(256, 256, dtype=torch.float64)
    out = fluctuation_recurrent_(w, v, 12.0, alpha=0.8, mu_u=0.2, sigma_u=0.5, generator=gen(4))
    assert out[0] is w and out[1] is v
    p = theory.recurrent_params(300, 256, 12.0, alpha=0.8, mu_u=0.2, sigma_u=0.5)
    assert_normal(w, p.mu_w, p.sigma_w)
    assert_normal(v, p.mu_w, p.sigma_v)  # common mean mu_WV (eq. 37)


def assert_exponential(w, rate):
    m, n = 1.0 / rate, w.numel()
    assert (w >= 0).all()
    assert abs(w.mean().item() - m) < Z * m / math.sqrt(n)
    assert abs(w.std().item() - m) < Z * m * math.sqrt(2.0 / n)


def test_dale_exponential_without_excitatory_recurrence():
    w_e = torch.empty(128, 700, dtype=torch.float64)
    w_i = torch.empty(128, 32, dtype=torch.float64)
    k_e = theory.kernel_integrals(tau_syn=10e-3)
    k_i = theory.kernel_integrals(tau_syn=20e-3)
    out = dale_exponential_(w_e, w_i, 15.8, kernel_exc=k_e, kernel_inh=k_i, sigma_u=0.8, generator=gen(5))
    assert len(out) == 2
    p = theory.dale_params(700, 32, 15.8, kernel_exc=k_e, kernel_inh=k_i, sigma_u=0.8)
    assert_exponential(w_e, p.rate_exc)
    assert_exponential(w_i, p.rate_inh)


def test_dale_exponential_with_excitatory_recurrence_and_conv_kernels():
    w_e = torch.empty(64, 16, 5, dtype=torch.float64)  # feed-forward kernel, fan-in 80
    w_i = torch.empty(64, 16, 3, dtype=torch.float64)  # I -> E kernel 3, fan-in 48
    w_r = torch.empty(64, 64, 5, dtype=torch.float64)  # E -> E kernel 5, fan-in 320
    out = dale_exponential_(w_e, w_i, 10.0, w_exc_rec=w_r, alpha=0.7, generator=gen(6))
    assert len(out) == 3
    p = theory.dale_params(80, 48, 10.0, n_exc_rec=320, alpha=0.7)
    assert_exponential(w_e, p.rate_exc)
    assert_exponential(w_i, p.rate_inh)
    assert_exponential(w_r, p.rate_exc_rec)


def test_dale_lognormal_log_weights_are_normal():
    w_e = torch.empty(200, 300, dtype=torch.float64)
    w_i = torch.empty(200, 60, dtype=torch.float64)
    w_r = torch.empty(200, 200, dtype=torch.float64)
    dale_lognormal_(w_e, w_i, 8.0, w_exc_rec=w_r, sigma_log=0.5, generator=gen(7))
    p = theory.dale_params(300, 60, 8.0, n_exc_rec=200, dist="lognormal", sigma_log=0.5)
    assert_normal(w_e.log(), p.mu_log_exc, 0.5)
    assert_normal(w_i.log(), p.mu_log_inh, 0.5)
    assert_normal(w_r.log(), p.mu_log_exc_rec, 0.5)


def test_kaiming_normal_is_eq_56():
    w = torch.empty(256, 32, 3, 3, dtype=torch.float64)
    kaiming_normal_(w, generator=gen(8))
    assert_normal(w, 0.0, math.sqrt(2.0 / (32 * 9)))
    assert theory.kaiming_params(288).sigma_w == pytest.approx(math.sqrt(2.0 / 288), rel=1e-15)


@pytest.mark.parametrize(
    "fill",
    [
        lambda t, g: fluctuation_normal_(t, 10.0, generator=g),
        lambda t, g: kaiming_normal_(t, generator=g),
        lambda t, g: dale_exponential_(t, t[:, :5], 10.0, generator=g)[0],
        lambda t, g: dale_lognormal_(t, t[:, :5], 10.0, generator=g)[0],
        lambda t, g: fluctuation_recurrent_(t, t[:, :20], 10.0, generator=g)[0],
    ],
)
def test_generator_makes_fills_reproducible(fill):
    a = fill(torch.empty(20, 30), gen(9)).clone()
    b = fill(torch.empty(20, 30), gen(9)).clone()
    c = fill(torch.empty(20, 30), gen(10)).clone()
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_fill_keeps_dtype_and_needs_no_grad_tracking():
    w = torch.nn.Parameter(torch.empty(10, 20, dtype=torch.float64))
    out = fluctuation_normal_(w, 10.0, generator=gen())
    assert out is w and out.dtype == torch.float64 and out.requires_grad
    assert w.grad_fn is None


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: fluctuation_normal_(torch.empty(5), 10.0), "tensor"),
        (lambda: fluctuation_normal_(torch.empty(5, 4, dtype=torch.long), 10.0), "tensor"),
        (lambda: fluctuation_normal_(torch.empty(5, 4), 0.0), "nu"),
        (lambda: fluctuation_normal_(torch.empty(5, 4), 10.0, sigma_u=-1.0), "sigma_u"),
        (lambda: fluctuation_normal_(torch.empty(5, 4), 10.0, fan_in=0), "fan_in"),
        (lambda: fluctuation_normal_(torch.empty(5, 4), 10.0, generator=1), "generator"),
        (lambda: fluctuation_recurrent_(torch.empty(5, 4), torch.empty(5, 5), 10.0, alpha=1.0), "alpha"),
        (lambda: fluctuation_recurrent_(torch.empty(5, 4), torch.empty(5), 10.0), "rec_weight"),
        (lambda: dale_exponential_(torch.empty(5, 4), torch.empty(5, 2), -1.0), "nu_exc"),
        (lambda: dale_exponential_(torch.empty(5, 4), torch.empty(5, 2), 10.0, mu_u=0.2), "mu_u"),
        (lambda: dale_exponential_(torch.empty(5, 4), torch.empty(5, 2), 10.0, alpha=0.5), "alpha"),
        (lambda: dale_lognormal_(torch.empty(5, 4), torch.empty(5, 2), 10.0, sigma_log=0.0), "sigma_log"),
        (lambda: kaiming_normal_(torch.empty(5, 4), gain=0.0), "gain"),
    ],
)
def test_bad_arguments_raise_before_filling(call, name):
    with pytest.raises(ParameterError, match=f"`{name}`"):
        call()


def test_bad_arguments_leave_the_tensor_untouched():
    w = torch.zeros(5, 4)
    with pytest.raises(ParameterError):
        fluctuation_normal_(w, -3.0)
    assert w.abs().sum() == 0.0
    w_e, w_i = torch.zeros(5, 4), torch.zeros(5, 2)
    with pytest.raises(ParameterError):
        dale_exponential_(w_e, w_i, 10.0, sigma_u=float("nan"))
    assert w_e.abs().sum() == 0.0 and w_i.abs().sum() == 0.0


@pytest.mark.gpu
def test_fillers_on_cuda():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    g = torch.Generator(device="cuda").manual_seed(0)
    w = torch.empty(512, 700, device="cuda")
    fluctuation_normal_(w, 15.8, generator=g)
    assert w.device.type == "cuda"
    assert_normal(w.double().cpu(), 0.0, theory.feedforward_params(700, 15.8).sigma_w)
    w_e, w_i = torch.empty(512, 700, device="cuda"), torch.empty(512, 128, device="cuda")
    dale_exponential_(w_e, w_i, 15.8, generator=g)
    assert_exponential(w_e.double().cpu(), theory.dale_params(700, 128, 15.8).rate_exc)
