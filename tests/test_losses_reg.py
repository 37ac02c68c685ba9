"""Loss (eqs. 20-21) and activity regularizers (eqs. 22-25, with the sign fixed)."""

import math

import pytest
import torch

from fluctinit.errors import ParameterError
from fluctinit.training.losses import (
    CONSTRAINTS,
    homeostatic_loss,
    max_over_time_cross_entropy,
    spike_counts,
    upper_bound_loss,
    v_upper_for_rate,
)


class _Spike(torch.autograd.Function):
    """Heaviside with the SuperSpike surrogate (eq. 28, beta = 20), a test helper."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / (20.0 * x.abs() + 1.0) ** 2


def test_cross_entropy_hand_computed():
    # Two samples, three time steps, two classes; max over time then log-softmax (eqs. 20-21).
    u = torch.tensor(
        [[[0.0, 1.0], [2.0, -1.0], [1.0, 0.5]], [[-1.0, -2.0], [-3.0, 0.0], [0.0, -1.0]]]
    )
    labels = torch.tensor([0, 1])
    loss, scores = max_over_time_cross_entropy(u, labels)
    assert torch.equal(scores, torch.tensor([[2.0, 1.0], [0.0, 0.0]]))
    want = 0.5 * (-(2.0 - math.log(math.e**2 + math.e)) + math.log(2.0))
    assert loss.item() == pytest.approx(want, rel=1e-6)


def test_cross_entropy_gradient_flows_only_through_argmax_step():
    u = torch.zeros(1, 4, 3, requires_grad=True)
    with torch.no_grad():
        u[0, 2, 1] = 1.0
    loss, _ = max_over_time_cross_entropy(u, torch.tensor([1]))
    loss.backward()
    g = u.grad[0, :, 1]
    assert g[2] < 0 and torch.count_nonzero(g) == 1


def test_cross_entropy_bad_input():
    u = torch.zeros(2, 3, 4)
    with pytest.raises(ParameterError, match="`labels`"):
        max_over_time_cross_entropy(u, torch.tensor([0, 4]))
    with pytest.raises(ParameterError, match="`labels`"):
        max_over_time_cross_entropy(u, torch.tensor([0]))
    with pytest.raises(ParameterError, match="`readout`"):
        max_over_time_cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1]))


def test_upper_bound_hand_computed_conv_shape():
    # Layer of shape (batch=2, time=5, channels=2, positions=3): M = 6 (features x positions).
    s = torch.zeros(2, 5, 2, 3)
    s[0, :, 0, :] = 1.0  # sample 0: counts 5,5,5,0,0,0 -> population mean 2.5
    s[1, 0, 1, 0] = 1.0  # sample 1: population mean 1/6
    assert spike_counts(s).shape == (2, 6)
    v = 1.0
    got = upper_bound_loss([spike_counts(s), spike_counts(s)], v_upper=v, lambda_upper=0.5)
    g0 = (2.5 - v) ** 2
    want = 0.5 * 2 * (g0 + 0.0) / 2  # two identical layers, mean over 2 samples
    assert got.item() == pytest.approx(want)


def test_homeostatic_hand_computed():
    s = torch.zeros(1, 4, 3)
    s[0, :2, 0] = 1.0  # counts 2, 0, 0 with v_lower = 1 -> (0 + 1 + 1)/3
    assert homeostatic_loss([spike_counts(s)], v_lower=1.0, lambda_lower=2.0).item() == pytest.approx(2.0 * 2 / 3)


def test_v_upper_is_paper_value():
    # Paper section 4.2: v_upper = T_data/100 (T in ms) = 10 Hz * T.
    assert v_upper_for_rate(0.2) == pytest.approx(200 / 100)
    assert v_upper_for_rate(0.7) == pytest.approx(700 / 100)


def _population(w, x):
    # "neurons": S[n] = H(w * x[n] - 1) for x of shape (batch, time, neurons)
    return _Spike.apply(w * x - 1.0)


def test_upper_bound_lowers_activity():
    # The sign fix: descending L_UB must lower the population spike count (paper eq. 23 as
    # printed, with a minus sign, would raise it).
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(8, 50, 20, generator=gen) * 2.0
    w = torch.full((20,), 1.2, requires_grad=True)
    before = spike_counts(_population(w, x)).mean().item()
    opt = torch.optim.SGD([w], lr=0.05)
    for _ in range(30):
        opt.zero_grad()
        upper_bound_loss([spike_counts(_population(w, x))], v_upper=2.0, lambda_upper=1.0).backward()
        opt.step()
    after = spike_counts(_population(w, x)).mean().item()
    assert before > 10 and after < 0.5 * before


def test_homeostatic_raises_activity_of_silent_neurons():
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(8, 50, 20, generator=gen)
    w = torch.full((20,), 0.9, requires_grad=True)  # w*x < 1: all silent
    assert spike_counts(_population(w, x)).sum() == 0
    opt = torch.optim.SGD([w], lr=0.1)
    for _ in range(30):
        opt.zero_grad()
        homeostatic_loss([spike_counts(_population(w, x))], v_lower=1.0, lambda_lower=1.0).backward()
        opt.step()
    counts = spike_counts(_population(w, x))
    assert (counts >= 1).float().mean() > 0.9


@pytest.mark.parametrize("name", sorted(CONSTRAINTS))
def test_bad_parameters_raise(name):
    s = [torch.zeros(1, 3)]  # counts (batch, M)
    for bad in CONSTRAINTS[name].sample_invalid():
        with pytest.raises(ParameterError, match=f"`{name}`"):
            if name == "lambda_upper":
                upper_bound_loss(s, 1.0, bad)
            elif name == "v_upper":
                upper_bound_loss(s, bad, 1.0)
            elif name == "lambda_lower":
                homeostatic_loss(s, 1.0, bad)
            elif name == "v_lower":
                homeostatic_loss(s, bad, 1.0)
            elif name == "rate":
                v_upper_for_rate(0.1, bad)
            elif name == "duration":
                v_upper_for_rate(bad)
