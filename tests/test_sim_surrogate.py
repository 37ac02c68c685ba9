"""SuperSpike surrogate (paper eqs. 26-29)."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from fluctinit.sim import SuperSpike, spike, superspike
from fluctinit.sim.surrogate import SUPERSPIKE_CONSTRAINTS
from fluctinit.errors import ParameterError


def test_superspike_values():
    # eq. 28 with beta = 20: h(0) = 1, h(+-0.05) = 1/(1+1)^2, h(-0.1) = 1/(2+1)^2, h(-1) = 1/21^2.
    x = torch.tensor([0.0, 0.05, -0.05, -0.1, -1.0], dtype=torch.float64)
    assert superspike(x).tolist() == pytest.approx([1.0, 0.25, 0.25, 1 / 9, 1 / 441], rel=1e-14)
    assert superspike(x, beta=10.0)[3].item() == pytest.approx(0.25, rel=1e-14)


def test_forward_is_heaviside_with_theta_zero_at_threshold():
    u = torch.tensor([-1.0, 0.0, 0.999, 1.0, 1.001, 3.0])
    assert spike(u).tolist() == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0]
    assert spike(u, theta=0.5).tolist() == [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]


@given(st.floats(-3.0, 3.0), st.floats(0.2, 3.0), st.floats(1.0, 50.0))
def test_gradient_of_heaviside_is_the_surrogate(u0, theta, beta):
    u = torch.tensor(u0, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(spike(u, theta, beta=beta), u)
    assert g.item() == pytest.approx(1.0 / (beta * abs(u0 - theta) + 1.0) ** 2, rel=1e-12)


def test_rescaled_surrogate_is_one_at_rest():
    # eq. 29: h(U - theta) / h(-theta); at rest U = 0 the derivative is exactly 1.
    for theta in (0.5, 1.0, 2.0):
        u = torch.zeros(3, dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(spike(u, theta, rescaled=True).sum(), u)
        assert g.tolist() == pytest.approx([1.0, 1.0, 1.0], rel=1e-14)
    # and (1 + 20)^2 = 441 at the threshold for theta = 1
    u = torch.ones(1, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(spike(u, 1.0, rescaled=True).sum(), u)
    assert g.item() == pytest.approx(441.0, rel=1e-14)
    sur = SuperSpike(rescaled=True)
    assert sur.derivative(torch.zeros(1, dtype=torch.float64), 1.0).item() == pytest.approx(1.0, rel=1e-14)


def test_gradient_flows_through_the_spike_in_float32_and_float64():
    for dtype in (torch.float32, torch.float64):
        u = torch.tensor([0.9, 1.1], dtype=dtype, requires_grad=True)
        s = SuperSpike()(u, 1.0)
        assert s.dtype == dtype
        s.sum().backward()
        assert u.grad.tolist() == pytest.approx([1 / 9, 1 / 9], rel=1e-6)


@pytest.mark.parametrize("name", sorted(SUPERSPIKE_CONSTRAINTS))
def test_bad_arguments_raise(name):
    for bad in SUPERSPIKE_CONSTRAINTS[name].sample_invalid():
        with pytest.raises(ParameterError, match=f"`{name}` must be"):
            spike(torch.zeros(2), **{name: bad})
    with pytest.raises(ParameterError, match="`beta` must be"):
        SuperSpike(beta=-1.0)
