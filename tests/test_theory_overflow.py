"""Huge and tiny finite arguments: a ParameterError naming the arguments, never an
OverflowError, a ZeroDivisionError, an inf or a nan (theory/_finite.py).

Each numeric argument of every public calculator is pushed, one at a time, to the ends of
the float range; the outcome must be a ParameterError or a result whose every number is
finite.  Hypothesis then draws all arguments at once over the whole range.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fluctinit import theory as T
from fluctinit.errors import ParameterError

from test_theory_errors import CASES

HUGE = (1e300, -1e300, 1e-300, -1e-300, 5e-324, 1.7e308)
HUGE_INTS = (10**300, 10**400)


def _short(x):
    return f"10**{len(str(x)) - 1}" if isinstance(x, int) else f"{x:.3g}"

# calculators beyond the range-check table of test_theory_errors: the forward maps and kernels
MORE = [
    (T.membrane_moments_from_weights, dict(weights=[[0.1, -0.2]], rates=5.0)),
    (T.psp_kernel_continuous, dict(t=[0.0, 0.01, 0.1], tau_mem=0.02, tau_syn=0.01)),
    (T.kernel_integrals, dict(tau_mem=0.02, tau_syn=0.01, dt=0.002, mode="continuous")),
    (T.numeric_kernel_integrals, dict(kernel=[0.0, 0.5, 0.25], dt=0.002)),
]


def _numbers(value, label="result"):
    """Every float in a result (records by their as_dict(), arrays, tuples), with a label."""
    if isinstance(value, (bool, str, int)) or value is None:
        return
    if isinstance(value, float):
        yield label, value
    elif isinstance(value, np.ndarray):
        for i, v in enumerate(value.ravel()):
            yield f"{label}[{i}]", float(v)
    elif hasattr(value, "as_dict"):
        yield from _numbers(value.as_dict(), label)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _numbers(v, k)
    elif isinstance(value, (tuple, list)):
        for i, v in enumerate(value):
            yield from _numbers(v, f"{label}[{i}]")


def _outcome(func, kwargs):
    """'error' (a ParameterError) or 'finite' (every number of the result, and of its
    predicted_moments(), is finite); anything else fails the test."""
    try:
        out = func(**kwargs)
        bad = [(k, v) for k, v in _numbers(out) if not math.isfinite(v)]
        assert not bad, (func.__name__, kwargs, bad)
        if hasattr(out, "predicted_moments"):
            moments = out.predicted_moments()
            assert all(math.isfinite(v) for _, v in _numbers(moments)), (func.__name__, kwargs, moments)
    except ParameterError as err:
        assert err.names, str(err)
        for name in err.names:
            assert f"`{name}`" in str(err)
        return "error"
    return "finite"


def _extreme_cases():
    for func, kwargs, _ in CASES:
        for name, value in kwargs.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            for bad in HUGE_INTS if isinstance(value, int) else HUGE:
                yield pytest.param(func, {**kwargs, name: bad}, name, id=f"{func.__name__}-{name}={_short(bad)}")
    for func, kwargs in MORE:
        for name, value in kwargs.items():
            if isinstance(value, float):
                for bad in HUGE:
                    yield pytest.param(func, {**kwargs, name: bad}, name, id=f"{func.__name__}-{name}={_short(bad)}")


EXTREME = list(_extreme_cases())


@pytest.mark.parametrize("func, kwargs, name", EXTREME)
def test_extreme_argument_raises_parameter_error_or_gives_finite_numbers(func, kwargs, name):
    _outcome(func, kwargs)


def test_extremes_mostly_refused_and_every_refusal_names_the_argument():
    """Of the extreme single arguments, most are refused (by the range checks or as leaving
    the float range); an extreme value that is refused is named in the error."""
    errors = 0
    for p in EXTREME:
        func, kwargs, name = p.values
        try:
            func(**kwargs)
        except ParameterError as err:
            errors += 1
            assert name in err.names or f"`{name}`" in str(err), (func.__name__, name, str(err))
    assert errors >= len(EXTREME) // 2, (errors, len(EXTREME))


def test_reported_values_give_the_exact_result_or_a_parameter_error():
    """The values a user reported (OverflowError tracebacks before): sigma_u = 1e160 has a
    representable answer, eq. 9 (sigma_w = sigma_u / sqrt(n nu epsilon_hat)); mu_u = -1e200 is
    infeasible (its mean alone exceeds the variance); sigma_log = 1e300 overflows exp(sigma_log**2)."""
    eh = T.kernel_integrals().epsilon_hat
    assert T.feedforward_params(10, 5.0, sigma_u=1e160).sigma_w == pytest.approx(1e160 / math.sqrt(10 * 5.0 * eh))
    assert T.recurrent_params(10, 4, 5.0, sigma_u=1e200).sigma_v == pytest.approx(1e200 * math.sqrt(0.1 / (4 * 5.0 * eh)))
    assert T.feedforward_params(10, 5.0, sigma_u=1e-300).sigma_w == pytest.approx(1e-300 / math.sqrt(10 * 5.0 * eh))
    with pytest.raises(ParameterError, match="imply sigma_w") as err:
        T.feedforward_params(10, 5.0, mu_u=-1e200)
    assert {"mu_u", "sigma_u"} <= set(err.value.names)
    with pytest.raises(ParameterError, match=r"leaves the floating-point range \(sigma_log\*\*2 = inf\)") as err:
        T.dale_params(10, 3, 5.0, dist="lognormal", sigma_log=1e300)
    assert "sigma_log" in err.value.names


@pytest.mark.parametrize(
    "call, names",
    [  # results beyond the float range
        (lambda: T.feedforward_params(10, 1e-300, sigma_u=1e300), {"sigma_u", "fan_in", "nu"}),
        (lambda: T.feedforward_params(10, 1e-300, mu_u=-1e300, theta=1e300), {"mu_u", "fan_in", "nu"}),
        (lambda: T.recurrent_params(10, 4, 1e-300, sigma_u=1e300), {"sigma_u", "fan_in_rec", "alpha"}),
        (lambda: T.dale_params(10, 3, 5.0, dist="lognormal", sigma_log=40.0), {"sigma_log", "n_exc"}),
        (lambda: T.feedforward_params(10, 5.0, xi=1e-300, theta=1e300), {"xi", "theta", "mu_u"}),
        (lambda: T.feedforward_params(10, 1e300, mu_u=0.5, theta=1e300, kernel=T.kernel_integrals(tau_syn=1e10)),
         {"nu", "fan_in"}),
        (lambda: T.kernel_integrals(tau_mem=1e300, dt=1e-300), {"tau_mem", "dt", "tau_syn"}),
        (lambda: T.epsilon_hat(0.02, 1e200), {"tau_syn"}),
        (lambda: T.kaiming_params(10**400), {"fan_in", "gain"}),
        (lambda: T.membrane_moments(10, 1e300, 1e300, 0.0), {"nu", "mu_w"}),
    ],
)
def test_reported_overflows_raise_parameter_error_naming_the_arguments(call, names):
    with pytest.raises(ParameterError, match="leaves the floating-point range") as err:
        call()
    assert names <= set(err.value.names)
    assert str(err.value).count("`") >= 2 * len(names)


def test_representable_results_are_still_computed():
    """Extreme inputs whose result is representable are not refused (the float range, not a
    guess at physical scales, is the rule): e.g. tau_syn = 1e300 s in a Dale layer."""
    p = T.dale_params(10, 3, 5.0, kernel_exc=T.kernel_integrals(tau_syn=1e300))
    assert 0 < p.mean_exc < 1e-300 and math.isfinite(p.rate_exc)
    assert T.feedforward_params(10, 1e300).sigma_w == pytest.approx(1.0 / math.sqrt(10 * 1e300 * T.kernel_integrals().epsilon_hat))
    assert all(math.isfinite(v) for v in p.predicted_moments())


_any_float = st.one_of(
    st.floats(min_value=1e-320, max_value=1.7e308),
    st.floats(min_value=-1.7e308, max_value=-1e-320),
    st.sampled_from([0.5, 1.0, 5.0, 0.9]),
)
_any_int = st.one_of(st.integers(1, 1000), st.sampled_from([10**30, 10**300, 10**400]))


@given(n=_any_int, nu=_any_float, sigma_u=_any_float, mu_u=_any_float, theta=_any_float,
       tau=_any_float, alpha=_any_float)
def test_whole_range_feedforward_recurrent(n, nu, sigma_u, mu_u, theta, tau, alpha):
    kernel = None
    try:
        kernel = T.kernel_integrals(tau_syn=abs(tau), dt=0.002)
    except ParameterError:
        pass
    _outcome(T.feedforward_params, dict(fan_in=n, nu=nu, sigma_u=sigma_u, mu_u=mu_u, theta=theta, kernel=kernel))
    _outcome(T.recurrent_params, dict(fan_in=n, fan_in_rec=n, nu=nu, alpha=alpha, sigma_u=sigma_u, mu_u=mu_u,
                                      theta=theta, kernel=kernel))


@given(n=_any_int, nu=_any_float, sigma_u=_any_float, sigma_log=_any_float, tau=_any_float, xi=_any_float)
def test_whole_range_dale_and_kernels(n, nu, sigma_u, sigma_log, tau, xi):
    for mode in ("discrete", "continuous"):
        _outcome(T.kernel_integrals, dict(tau_mem=abs(tau), tau_syn=abs(sigma_u), dt=abs(nu), mode=mode))
    _outcome(T.dale_params, dict(n_exc=n, n_inh=n, nu_exc=nu, sigma_u=sigma_u, dist="lognormal", sigma_log=sigma_log))
    _outcome(T.dale_params, dict(n_exc=n, n_inh=3, nu_exc=5.0, xi=xi, n_exc_rec=n, alpha=0.5))
