"""The shared pieces of fluctinit.interop: the kernel of c <- alpha c + x, v <- beta v + gain c, NIR's
continuous kernel, per-row parameters (no framework needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fluctinit import theory
from fluctinit.errors import ParameterError
from fluctinit.interop import continuous_kernel, discrete_kernel, effective_tau
from fluctinit.interop._rule import per_row

decay = st.floats(0.0, 0.98)


def _recursion_sums(alpha, beta, gain, n_steps):
    """dt-free sums of K and K^2 by running the update on one unit input (the definition)."""
    c = v = 0.0
    s1 = s2 = 0.0
    for m in range(n_steps):
        c = alpha * c + (1.0 if m == 0 else 0.0)
        v = beta * v + gain * c
        s1, s2 = s1 + v, s2 + v * v
    return s1, s2


@given(alpha=decay, beta=decay, gain=st.floats(0.01, 10.0))
def test_discrete_kernel_is_the_sum_over_the_update(alpha, beta, gain):
    s1, s2 = _recursion_sums(alpha, beta, gain, 3000)  # 0.98^3000 ~ 1e-26: the tail is gone
    eb, eh = discrete_kernel(alpha, beta, gain, 2e-3)
    assert float(eb) == pytest.approx(2e-3 * s1, rel=1e-9)
    assert float(eh) == pytest.approx(2e-3 * s2, rel=1e-9)


@given(tau_mem=st.floats(2e-3, 0.2), tau_syn=st.floats(2e-3, 0.2), dt=st.floats(1e-4, 2e-3))
def test_gain_one_minus_beta_is_the_papers_kernel(tau_mem, tau_syn, dt):
    """fluctinit's own update (eqs. 10-11) is the case gain = 1 - beta: theory.kernel_integrals."""
    a, b = math.exp(-dt / tau_syn), math.exp(-dt / tau_mem)
    eb, eh = discrete_kernel(a, b, 1.0 - b, dt)
    k = theory.kernel_integrals(tau_mem, tau_syn, dt)
    assert float(eb) == pytest.approx(k.epsilon_bar, rel=1e-9)
    assert float(eh) == pytest.approx(k.epsilon_hat, rel=1e-9)


@given(tau_mem=st.floats(1e-3, 0.2), tau_syn=st.floats(1e-3, 0.2))
def test_continuous_kernel_of_a_unit_jump_is_theorys(tau_mem, tau_syn):
    """Area tau_syn is the unit-jump kernel of theory.psp_kernel_continuous (r = w_in = 1, A = tau_syn)."""
    eb, eh = continuous_kernel(tau_mem, tau_syn, tau_syn)
    k = theory.kernel_integrals(tau_mem, tau_syn, mode="continuous")
    assert float(eb) == pytest.approx(k.epsilon_bar, rel=1e-12)
    assert float(eh) == pytest.approx(k.epsilon_hat, rel=1e-12)


def test_continuous_kernel_without_current_by_quadrature():
    """NIR's LIF: v jumps by r A / tau and decays; the integrals by quadrature (theory.numeric_kernel_integrals)."""
    tau, area = 0.02, 3e-3
    k = theory.numeric_kernel_integrals(lambda t: area / tau * math.exp(-t / tau))
    eb, eh = continuous_kernel(tau, 0.0, area)
    assert float(eb) == pytest.approx(k.epsilon_bar, rel=1e-8)
    assert float(eh) == pytest.approx(k.epsilon_hat, rel=1e-8)


def test_exporters_discrete_kernel_converges_to_nirs_at_first_order():
    """snntorch's exporter: beta = 1 - dt/tau_mem, alpha = 1 - dt/tau_syn, r = tau_mem/dt, w_in = tau_syn/dt,
    a spike of area dt.  Then epsilon_bar agrees exactly and epsilon_hat to O(dt)."""
    tm, ts = 20e-3, 10e-3
    errs = []
    for dt in (1e-4, 5e-5, 2.5e-5):
        eb_d, eh_d = discrete_kernel(1 - dt / ts, 1 - dt / tm, 1.0, dt)
        eb_c, eh_c = continuous_kernel(tm, ts, (tm / dt) * (ts / dt) * dt)
        assert float(eb_d) == pytest.approx(float(eb_c), rel=1e-9)
        errs.append(float(eh_d / eh_c) - 1.0)
    assert errs[0] / errs[1] == pytest.approx(2.0, rel=0.02) and errs[1] / errs[2] == pytest.approx(2.0, rel=0.02)


def test_effective_tau_inverts_the_decay():
    taus = np.array([1e-3, 0.02, 0.5])
    np.testing.assert_allclose(effective_tau(np.exp(-2e-3 / taus), 2e-3), taus, rtol=1e-12)
    assert effective_tau(0.0, 2e-3) == 0.0


def test_per_row_shapes():
    np.testing.assert_array_equal(per_row(0.5, 3, "x", "fc"), [0.5, 0.5, 0.5])
    np.testing.assert_array_equal(per_row(np.arange(3.0), 3, "x", "fc"), [0, 1, 2])
    np.testing.assert_array_equal(per_row(np.arange(3.0)[None], 3, "x", "fc"), [0, 1, 2])
    np.testing.assert_array_equal(per_row(np.arange(3.0).reshape(3, 1, 1), 3, "x", "conv"), [0, 1, 2])
    np.testing.assert_array_equal(per_row(np.ones((3, 4, 4)) * np.arange(3.0)[:, None, None], 3, "x", "conv"), [0, 1, 2])
    for bad in (np.arange(4.0), np.random.default_rng(0).random((3, 4, 4))):
        with pytest.raises(ParameterError, match=r"`x` must be one value or one per output row of 'conv' \(3\)"):
            per_row(bad, 3, "x", "conv")
