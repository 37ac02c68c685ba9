"""SMORMS3 (paper eqs. 30-33) against a sequence hand-computed in numpy from the equations."""

import numpy as np
import pytest
import torch

from fluctinit.errors import ParameterError
from fluctinit.training.optim import CONSTRAINTS, OPTIMIZERS, SMORMS3, make_optimizer


def numpy_smorms3(theta0, grads, lr, eps=1e-16):
    """Eqs. 30-33 written out in float64 numpy: returns the parameter after each step."""
    theta = np.array(theta0, dtype=np.float64)
    g1 = np.zeros_like(theta)
    g2 = np.zeros_like(theta)
    m = np.ones_like(theta)
    out = []
    for d in grads:
        r = 1.0 / (m + 1.0)
        g1 = (1 - r) * g1 + r * d  # (30)
        g2 = (1 - r) * g2 + r * d**2  # (31)
        m = 1.0 + m * (1.0 - g1**2 / (g2 + eps))  # (32)
        theta = theta - d * np.minimum(lr, g1**2 / (g2 + eps)) / (np.sqrt(g2) + eps)  # (33)
        out.append(theta.copy())
    return out


def test_smorms3_matches_numpy_sequence():
    rng = np.random.default_rng(0)
    theta0 = rng.normal(size=(3, 4))
    grads = [rng.normal(size=(3, 4)) for _ in range(12)]
    grads[3][0, 0] = 0.0  # a zero gradient element
    lr = 0.3  # large enough that both branches of min(eta, g1^2/g2) occur
    expected = numpy_smorms3(theta0, grads, lr)
    p = torch.nn.Parameter(torch.tensor(theta0, dtype=torch.float64))
    opt = SMORMS3([p], lr=lr)
    used_lr, used_ratio = False, False
    for d, want in zip(grads, expected):
        p.grad = torch.tensor(d)
        opt.step()
        np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-12, atol=1e-14)
        ratio = (opt.state[p]["g1"] ** 2 / opt.state[p]["g2"]).numpy()
        used_lr |= bool((ratio > lr).any())
        used_ratio |= bool((ratio < lr).any())
    assert used_lr and used_ratio
    assert opt.state[p]["step"] == len(grads)


def test_smorms3_first_step_closed_form():
    # First step from g1 = g2 = 0, m = 1: r = 1/2, g1 = d/2, g2 = d^2/2, g1^2/g2 = 1/2, so
    # Delta = -d * min(eta, 1/2) / (|d|/sqrt(2)) = -sqrt(2) * eta * sign(d) for eta < 1/2.
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    p.grad = torch.tensor([2.0, -0.5, 1e-3], dtype=torch.float64)
    SMORMS3([p], lr=1e-3).step()
    np.testing.assert_allclose(p.detach().numpy(), -np.sqrt(2) * 1e-3 * np.array([1, -1, 1]), rtol=1e-12)


def test_smorms3_state_dict_roundtrip():
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(5))
    q = torch.nn.Parameter(p.detach().clone())
    a, b = SMORMS3([p], lr=0.01), SMORMS3([q], lr=0.01)
    g = [torch.randn(5) for _ in range(4)]
    for d in g[:2]:
        p.grad = d.clone(); a.step()
        q.grad = d.clone(); b.step()
    c = SMORMS3([q], lr=0.01)
    c.load_state_dict(b.state_dict())
    for d in g[2:]:
        p.grad = d.clone(); a.step()
        q.grad = d.clone(); c.step()
    assert torch.equal(p, q)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_make_optimizer_descends_quadratic(name):
    p = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    opt = make_optimizer(name, [p], lr=0.05)
    start = float((p.detach()**2).sum())
    for _ in range(50):
        opt.zero_grad()
        (p**2).sum().backward()
        opt.step()
    assert float((p.detach()**2).sum()) < 0.5 * start


@pytest.mark.parametrize("name", sorted(CONSTRAINTS))
def test_bad_parameters_raise(name):
    p = torch.nn.Parameter(torch.zeros(1))
    for bad in CONSTRAINTS[name].sample_invalid():
        with pytest.raises(ParameterError, match=f"`{name}`"):
            if name == "optimizer":
                make_optimizer(bad, [p], lr=0.1)
            elif name == "momentum":
                make_optimizer("sgd", [p], lr=0.1, momentum=bad)
            elif name == "eps":
                SMORMS3([p], lr=0.1, eps=bad)
            else:
                make_optimizer("smorms3", [p], lr=bad)
