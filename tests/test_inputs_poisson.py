"""Poisson spike trains: moments against the closed forms, extremes, errors, determinism."""

import math

import numpy as np
import pytest
import torch

from fluctinit.sim.inputs import POISSON_CONSTRAINTS, poisson_spikes
from fluctinit.theory import bernoulli_variance_factor
from fluctinit.errors import ParameterError


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_shape_dtype_and_binary_values():
    x = poisson_spikes(3, 7, 5, 40.0, 1e-3, generator=gen(), dtype=torch.float64)
    assert x.shape == (3, 7, 5)
    assert x.dtype == torch.float64
    assert set(x.unique().tolist()) <= {0.0, 1.0}


def test_deterministic_extremes():
    # rate 0 never spikes; nu*dt = 1 spikes every step (Bernoulli p = 1)
    assert poisson_spikes(2, 50, 4, 0.0, generator=gen()).sum() == 0
    assert poisson_spikes(2, 50, 4, 0.0, mode="count", generator=gen()).sum() == 0
    assert torch.all(poisson_spikes(2, 50, 4, 500.0, 2e-3, generator=gen()) == 1)


def _se_var(mu4, var, n):
    # standard error of the sample variance: sqrt((mu4 - var**2)/n)
    return math.sqrt((mu4 - var**2) / n)


@pytest.mark.parametrize("mode", ["bernoulli", "count"])
def test_mean_and_variance_match_closed_forms(mode):
    nu, dt = 150.0, 2e-3  # p = 0.3: the Bernoulli factor 1 - p = 0.7 is far from 1
    p = nu * dt
    x = poisson_spikes(40, 500, 50, nu, dt, mode=mode, generator=gen(1), dtype=torch.float64)
    n = x.numel()
    mean, var = x.mean().item(), x.var().item()
    if mode == "bernoulli":
        v = p * (1 - p)  # = p * bernoulli_variance_factor
        mu4 = v * (1 - 3 * v)  # fourth central moment of a Bernoulli
        assert v == pytest.approx(p * bernoulli_variance_factor(nu, dt), rel=1e-12)
    else:
        v = p
        mu4 = p + 3 * p**2  # fourth central moment of a Poisson
    assert abs(mean - p) < 4 * math.sqrt(v / n)
    assert abs(var - v) < 4 * _se_var(mu4, v, n)
    # mean rate in Hz is nu either way
    assert abs(mean / dt - nu) < 4 * math.sqrt(v / n) / dt


def test_per_unit_rates():
    rates = torch.tensor([0.0, 10.0, 100.0, 400.0])
    dt = 2e-3
    x = poisson_spikes(100, 500, 4, rates, dt, generator=gen(2), dtype=torch.float64)
    assert x[..., 0].sum() == 0
    p = rates * dt
    m = x.mean(dim=(0, 1))
    se = torch.sqrt(p * (1 - p) / (100 * 500))
    assert torch.all((m[1:] - p[1:]).abs() < 4 * se[1:])


def test_generator_determinism():
    a = poisson_spikes(2, 100, 10, 30.0, generator=gen(5))
    b = poisson_spikes(2, 100, 10, 30.0, generator=gen(5))
    c = poisson_spikes(2, 100, 10, 30.0, generator=gen(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_bernoulli_probability_above_one_is_rejected_but_counts_allowed():
    with pytest.raises(ParameterError) as err:
        poisson_spikes(1, 10, 2, 600.0, 2e-3)
    assert "`nu`" in str(err.value) and "`dt`" in str(err.value)
    x = poisson_spikes(1, 10, 2, 600.0, 2e-3, mode="count", generator=gen())
    assert x.max() >= 2  # p = 1.2: counts above one are common
    with pytest.raises(ParameterError):
        poisson_spikes(1, 10, 2, torch.tensor([1.0, 600.0]), 2e-3)


def test_bernoulli_variance_factor_closed_form_and_errors():
    assert bernoulli_variance_factor(5.0, 2e-3) == pytest.approx(0.99, rel=1e-15)
    assert bernoulli_variance_factor(500.0, 2e-3) == pytest.approx(0.0, abs=1e-15)
    for bad in [(-1.0, 2e-3), (5.0, 0.0), (float("nan"), 1e-3), (600.0, 2e-3)]:
        with pytest.raises(ParameterError):
            bernoulli_variance_factor(*bad)


@pytest.mark.parametrize("name", sorted(POISSON_CONSTRAINTS))
def test_every_parameter_out_of_range_raises(name):
    good = dict(batch=1, n_steps=2, n_units=3, nu=5.0, dt=1e-3, mode="bernoulli")
    for value in POISSON_CONSTRAINTS[name].sample_invalid():
        args = {**good, name: value}
        with pytest.raises(ParameterError) as err:
            poisson_spikes(args["batch"], args["n_steps"], args["n_units"], args["nu"], args["dt"],
                           mode=args["mode"])
        assert f"`{name}`" in str(err.value)


def test_rate_vector_shape_checked():
    with pytest.raises(ParameterError, match="`nu`"):
        poisson_spikes(1, 2, 3, [1.0, 2.0], 1e-3)
    with pytest.raises(ParameterError, match="`nu`"):
        poisson_spikes(1, 2, 2, np.array([1.0, -2.0]), 1e-3)
