"""Every parameter out of range raises ParameterError naming it, before any math runs."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from fluctinit.errors import ParameterError
from fluctinit import theory as T
from fluctinit.theory import dale, feedforward, kernels, moments, recurrent
from fluctinit.errors import Integer, Interval, OneOf

GRAMMAR = re.compile(r"^`(\w+)` must be .+; got .+$")

# (function, valid keyword arguments, module whose CONSTRAINTS table applies)
CASES = [
    (T.kernel_integrals, dict(tau_mem=0.02, tau_syn=0.01, dt=0.002, mode="discrete"), kernels),
    (T.epsilon_bar, dict(tau_mem=0.02, tau_syn=0.01, dt=0.002), kernels),
    (T.epsilon_hat, dict(tau_mem=0.02, tau_syn=0.01, dt=0.002), kernels),
    (T.psp_kernel, dict(tau_mem=0.02, tau_syn=0.01, dt=0.002, n_steps=10), kernels),
    (T.membrane_moments, dict(fan_in=10, nu=5.0, mu_w=0.0, sigma_w=0.1), moments),
    (T.bernoulli_variance_factor, dict(nu=5.0, dt=0.002), moments),
    (T.feedforward_params, dict(fan_in=10, nu=5.0, sigma_u=1.0, mu_u=0.0, theta=1.0), feedforward),
    (T.feedforward_params, dict(fan_in=10, nu=5.0, xi=2.0, mu_u=0.0, theta=1.0), feedforward),
    (T.kaiming_params, dict(fan_in=10, gain=1.4), feedforward),
    (T.recurrent_params, dict(fan_in=10, fan_in_rec=5, nu=5.0, nu_rec=4.0, alpha=0.9, sigma_u=1.0), recurrent),
    (T.dale_params, dict(n_exc=10, n_inh=5, nu_exc=5.0, nu_inh=4.0, sigma_u=1.0), dale),
    (T.dale_params, dict(n_exc=10, n_inh=5, nu_exc=5.0, n_exc_rec=4, alpha=0.8, nu_exc_rec=3.0), dale),
    (T.dale_params, dict(n_exc=10, n_inh=5, nu_exc=5.0, dist="lognormal", sigma_log=0.5), dale),
]


def _invalid_cases():
    for func, kwargs, module in CASES:
        table = {**getattr(feedforward, "CONSTRAINTS"), **module.CONSTRAINTS}
        for name in kwargs:
            constraint = table.get(name)
            if constraint is None:
                continue
            for bad in constraint.sample_invalid():
                yield pytest.param(func, kwargs, name, bad, id=f"{func.__name__}-{name}-{bad!r}")


def test_every_case_is_valid():
    for func, kwargs, _ in CASES:
        func(**kwargs)  # must not raise


@pytest.mark.parametrize("func, kwargs, name, bad", list(_invalid_cases()))
def test_out_of_range_parameter_is_named(func, kwargs, name, bad):
    with pytest.raises(ParameterError) as err:
        func(**{**kwargs, name: bad})
    assert name in err.value.names
    assert GRAMMAR.match(str(err.value)) or str(err.value).startswith(f"`{name}`=")


def test_constraint_tables_cover_only_known_types():
    for module in (kernels, moments, feedforward, recurrent, dale):
        for name, c in module.CONSTRAINTS.items():
            assert isinstance(c, (Interval, Integer, OneOf)), (module.__name__, name)
            for bad in c.sample_invalid():
                assert not c.contains(bad), (name, bad)


def test_messages_name_value_and_range():
    with pytest.raises(ParameterError, match=r"^`fan_in` must be an integer >= 1; got 0$"):
        T.feedforward_params(0, 5.0)
    with pytest.raises(ParameterError, match=r"^`alpha` must be a finite number with 0 < x < 1; got 1.0$"):
        T.recurrent_params(10, 10, 5.0, alpha=1.0)
    with pytest.raises(ParameterError, match=r"^`nu` must be a finite number > 0; got True$"):
        T.feedforward_params(10, True)


@pytest.mark.parametrize(
    "call, names",
    [
        (lambda: T.feedforward_params(10, 5.0, mu_u=1.0), {"mu_u", "theta"}),
        (lambda: T.feedforward_params(10, 5.0, mu_u=0.5, theta=0.2), {"mu_u", "theta"}),
        (lambda: T.feedforward_params(10, 5.0, sigma_u=1.0, xi=2.0), {"sigma_u", "xi"}),
        (lambda: T.feedforward_params(10, 5.0, mu_u=0.9, sigma_u=0.01), {"mu_u", "sigma_u", "fan_in", "nu"}),
        (lambda: T.recurrent_params(10, 10, 5.0, mu_u=0.9, sigma_u=0.01, alpha=0.5), {"mu_u", "sigma_u", "alpha"}),
        (lambda: T.dale_params(10, 5, 5.0, mu_u=0.1), {"mu_u"}),
        (lambda: T.dale_params(10, 5, 5.0, alpha=0.5), {"n_exc_rec", "alpha"}),
        (lambda: T.dale_params(10, 5, 5.0, sigma_log=0.3), {"dist", "sigma_log"}),
        (lambda: T.membrane_moments_from_weights([[1.0, 2.0]], [1.0, 2.0, 3.0]), {"rates"}),
        (lambda: T.membrane_moments_from_weights([[1.0, 2.0]], [1.0, -2.0]), {"rates"}),
        (lambda: T.membrane_moments_from_weights([1.0, 2.0], 1.0), {"weights"}),
        (lambda: T.membrane_moments_from_weights([[1.0, 2.0]], 1.0, kernel="x"), {"kernel"}),
        (lambda: T.Population(3, 1.0, 1.0, 0.5, T.kernel_integrals()), {"mean_w", "second_moment_w"}),
    ],
)
def test_infeasible_combinations_name_all_parameters(call, names):
    with pytest.raises(ParameterError) as err:
        call()
    assert names <= set(err.value.names)
    for n in names:
        assert f"`{n}`" in str(err.value)


def test_theory_never_imports_torch():
    code = "import sys, fluctinit.theory, fluctinit.theory.symbolic; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    root = Path(__file__).resolve().parents[1] / "theory"
    for path in root.glob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+torch", path.read_text(), re.M), path
