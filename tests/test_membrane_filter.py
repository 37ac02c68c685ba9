"""The free membrane (the simulator's free mode) against the LIF recursion and the PSP kernel.

References: the discrete LIF of docs/DEVELOPING.md (paper eqs. 10-11) in free-membrane mode,
written out step by step in float64 below; ``theory.psp_kernel`` (its definition: the
response of U to one unit spike at step 0).
"""

import math

import numpy as np
import pytest
import torch

from fluctinit import theory
from fluctinit.errors import ParameterError
from fluctinit import validation as M
from fluctinit.validation.measure import _membrane


pytestmark = pytest.mark.usefixtures("one_thread")


def reference_free_membrane(x, w_blocks, tau_mem, taus_syn, dt):
    """Free-membrane recursion, float64, one current per block (signed weights)."""
    lm = math.exp(-dt / tau_mem)
    B, T, _ = x[0].shape
    n_post = w_blocks[0].shape[0]
    U = np.zeros((B, T, n_post))
    I = [np.zeros((B, n_post)) for _ in x]
    for n in range(T - 1):
        U[:, n + 1] = lm * U[:, n] + (1 - lm) * sum(I)
        for c in range(len(x)):
            I[c] = math.exp(-dt / taus_syn[c]) * I[c] + x[c][:, n] @ w_blocks[c].T
    return U


@pytest.mark.parametrize("tau_mem,tau_syn,dt", [(20e-3, 10e-3, 2e-3), (15e-3, 3e-3, 1e-3), (10e-3, 10e-3, 1e-3)])
def test_free_membrane_matches_recursion(tau_mem, tau_syn, dt):
    g = np.random.default_rng(1)
    x = (g.random((3, 60, 11)) < 0.2).astype(np.float64) * g.integers(1, 3, (3, 60, 11))
    w = g.normal(size=(5, 11))
    ref = reference_free_membrane([x], [w], tau_mem, [tau_syn], dt)
    got = M.free_membrane(torch.tensor(x, dtype=torch.float64), torch.tensor(w), tau_mem=tau_mem, tau_syn=tau_syn, dt=dt)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12, atol=1e-12)
    got32 = M.free_membrane(torch.tensor(x, dtype=torch.float32), torch.tensor(w), tau_mem=tau_mem, tau_syn=tau_syn, dt=dt)
    np.testing.assert_allclose(got32.numpy(), ref, rtol=0, atol=1e-5 * np.abs(ref).max())


def test_free_membrane_is_convolution_with_psp_kernel():
    # U[n] = sum_m K[n - m] (W x)[m]  (paper eq. 1, discrete), K from theory.psp_kernel
    tau_mem, tau_syn, dt, T = 20e-3, 10e-3, 2e-3, 80
    g = np.random.default_rng(2)
    x = (g.random((2, T, 7)) < 0.1).astype(np.float64)
    w = g.normal(size=(4, 7))
    K = np.asarray(theory.psp_kernel(tau_mem, tau_syn, dt, T), dtype=np.float64)
    y = x @ w.T  # (B, T, n_post)
    conv = np.zeros_like(y)
    for n in range(T):
        conv[:, n] = np.einsum("m,bmi->bi", K[: n + 1][::-1], y[:, : n + 1])
    got = M.free_membrane(torch.tensor(x), torch.tensor(w), tau_mem=tau_mem, tau_syn=tau_syn, dt=dt)
    np.testing.assert_allclose(got.numpy(), conv, rtol=1e-10, atol=1e-12)
    # an input spike at step n changes U at step n+2 first (DEVELOPING.md)
    assert K[0] == 0 and K[1] == 0 and K[2] > 0


def test_two_synapse_types_match_recursion():
    # Dale's law: excitatory and inhibitory currents with their own tau_syn, one membrane
    g = np.random.default_rng(3)
    xe = (g.random((2, 50, 6)) < 0.3).astype(np.float64)
    xi = (g.random((2, 50, 4)) < 0.3).astype(np.float64)
    we = g.exponential(size=(3, 6))
    wi = -g.exponential(size=(3, 4))
    ref = reference_free_membrane([xe, xi], [we, wi], 20e-3, [5e-3, 10e-3], 1e-3)
    lm = math.exp(-1e-3 / 20e-3)
    t = torch.tensor
    got = _membrane([([t(xe)], [t(we)], math.exp(-1e-3 / 5e-3)), ([t(xi)], [t(wi)], math.exp(-1e-3 / 10e-3))], lm)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12, atol=1e-12)


def test_measure_membrane_moments_equal_direct_moments():
    # the streamed float64-accumulated moments equal numpy's on the full U (window, batching)
    g = np.random.default_rng(4)
    x = torch.tensor((g.random((10, 90, 12)) < 0.1).astype(np.float32))
    pop = M.draw_population("feedforward", 6, 12, 20.0, sigma_u=0.5, mu_u=0.2,
                            generator=torch.Generator().manual_seed(0))
    src = M.SpikeSource("t", 12, 90, 10, 2e-3, (30, 90), lambda: iter([x[:3], x[3:7], x[7:]]))
    meas = M.measure_membrane(src, pop, hist_edges={0: np.linspace(-1, 1, 11), 2: np.linspace(-0.1, 0.1, 3)})
    u = M.free_membrane(x.double(), pop.channels[0].weights.double()).numpy()[:, 30:]
    flat = u.reshape(-1, 6)
    np.testing.assert_allclose(meas.mu_u, flat.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(meas.sigma_u, flat.std(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(meas.rates, x[:, 30:].double().sum((0, 1)).numpy() / (10 * 60 * 2e-3), rtol=1e-12)
    assert meas.n_values == 600
    for h in meas.hist:
        e = np.asarray(h["edges"])
        v = flat[:, h["neuron"]]
        ref, _ = np.histogram(v, bins=e)
        np.testing.assert_array_equal(np.asarray(h["counts"]), ref)
        assert h["underflow"] == int((v < e[0]).sum()) and h["overflow"] == int((v > e[-1]).sum())
        assert sum(h["counts"]) + h["underflow"] + h["overflow"] == 600


@pytest.mark.parametrize("tau_mem,tau_syn,dt", [(20e-3, 10e-3, 2e-3), (15e-3, 3e-3, 1e-3), (5e-3, 30e-3, 1e-3)])
def test_burn_in_tail_criterion(tau_mem, tau_syn, dt):
    tol = 1e-6
    n = M.burn_in_steps(tau_mem, tau_syn, dt, burn_tol=tol)
    K = np.asarray(theory.psp_kernel(tau_mem, tau_syn, dt, n + 20000), dtype=np.float64)
    tail1 = K[n:].sum() / K.sum()
    tail2 = (K[n:] ** 2).sum() / (K**2).sum()
    assert tail1 <= tol and tail2 <= tol
    # and one step fewer would not do (the smallest such n)
    assert max(K[n - 1:].sum() / K.sum(), (K[n - 1:] ** 2).sum() / (K**2).sum()) > tol


def test_init_burn_in_covers_every_synapse_type():
    # Dale populations add an inhibitory current (tau_syn_inh, default theory.DEFAULT_TAU_SYN_INH,
    # paper table 3): the burn-in meets the tail criterion above for both kernels, and no more
    tau_mem, tau_syn, dt, tol = 20e-3, 10e-3, 2e-3, 1e-6
    single = M.burn_in_steps(tau_mem, tau_syn, dt)
    assert M.init_burn_in_steps("feedforward", tau_mem, tau_syn, dt) == single
    assert M.init_burn_in_steps("recurrent", tau_mem, tau_syn, dt, tau_syn_inh=40e-3) == single  # one current only
    for init in ("dale-exponential", "dale-lognormal"):
        n = M.init_burn_in_steps(init, tau_mem, tau_syn, dt)
        for tau in (tau_syn, theory.DEFAULT_TAU_SYN_INH):
            K = theory.psp_kernel(tau_mem, tau, dt, n + 20000)
            assert K[n:].sum() <= tol * K.sum() and (K[n:] ** 2).sum() <= tol * (K**2).sum()
        assert n == M.burn_in_steps(tau_mem, theory.DEFAULT_TAU_SYN_INH, dt) > single
        assert M.init_burn_in_steps(init, tau_mem, tau_syn, dt, tau_syn_inh=40e-3) == M.burn_in_steps(tau_mem, 40e-3, dt)
    with pytest.raises(ParameterError, match="`init` must be one of"):
        M.init_burn_in_steps("xavier")
    with pytest.raises(ParameterError, match="`tau_syn_inh` must be"):
        M.init_burn_in_steps("dale-exponential", tau_syn_inh=0.0)


def test_free_membrane_rejects_bad_input():
    x = torch.zeros(1, 5, 3)
    with pytest.raises(ParameterError, match="`tau_mem` must be"):
        M.free_membrane(x, torch.zeros(2, 3), tau_mem=-1.0)
    with pytest.raises(ParameterError, match="`weights`"):
        M.free_membrane(x, torch.zeros(2, 4))
    with pytest.raises(ParameterError, match="`x` must be"):
        M.free_membrane(torch.zeros(5, 3), torch.zeros(2, 3))


@pytest.mark.parametrize("name", ["tau_mem", "tau_syn", "tau_syn_inh", "dt", "sigma_u", "mu_u", "xi", "theta", "nu",
                                  "nu_rec", "nu_inh", "alpha", "sigma_log", "n_neurons", "fan_in_rec", "n_inh",
                                  "mode", "init"])
def test_draw_population_constraints_each_parameter(name):
    # every parameter pushed out of its range raises ParameterError naming it, before any math
    base = dict(init="feedforward", n_neurons=4, n_inputs=10, nu=5.0)
    for bad in M.CONSTRAINTS[name].sample_invalid():
        kw = dict(base)
        kw[name] = bad
        if name == "xi":
            kw["sigma_u"] = None
        with pytest.raises(ParameterError) as err:
            M.draw_population(**kw)
        assert f"`{name}`" in str(err.value) and repr(bad) in str(err.value)


def test_draw_population_fan_in_constraint():
    for bad in M.CONSTRAINTS["fan_in"].sample_invalid():
        with pytest.raises(ParameterError, match="`fan_in`"):
            M.draw_population("feedforward", 3, bad, 5.0)


def test_linear_filter_equals_sim_free_membrane():
    # the simulator's LIF layer in free-membrane mode (no threshold, no reset) gives the same U
    from fluctinit.sim import NeuronParams, lif_dense

    g = torch.Generator().manual_seed(5)
    x = (torch.rand(4, 120, 30, generator=g) < 0.05).double()
    w = torch.randn(16, 30, generator=g, dtype=torch.float64) * 0.5
    for tau_mem, tau_syn, dt in [(20e-3, 10e-3, 2e-3), (15e-3, 3e-3, 1e-3)]:
        _, u_sim = lif_dense(x, w, params=NeuronParams(tau_mem=tau_mem, tau_syn=tau_syn, dt=dt, mode="free"))
        u = M.free_membrane(x, w, tau_mem=tau_mem, tau_syn=tau_syn, dt=dt)
        np.testing.assert_allclose(u.numpy(), u_sim.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_measured_moments_equal_sim_free_membrane_moments():
    # a recurrent population measured by streaming equals the sim's free membrane on the same
    # inputs: recurrent inputs enter like feed-forward ones through the same synapse (W x + V S)
    from fluctinit.sim import NeuronParams, lif_dense

    pop = M.draw_population("recurrent", 8, 20, 10.0, sigma_u=1.0, mu_u=0.1, fan_in_rec=12,
                            generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(6, 150, 20, generator=g) < 0.05).float()
    src = M.tensor_source(x, 2e-3, batch_size=4)
    # the measurement draws the recurrent channel's spikes from seed 9 in batch order; replay them
    from fluctinit.sim.inputs import poisson_spikes

    gen = torch.Generator().manual_seed(9)
    rec = torch.cat([poisson_spikes(b, 150, 12, 10.0, 2e-3, generator=gen) for b in (4, 2)])
    meas = M.measure_membrane(src, pop, seed=9)
    w = torch.cat([pop.channels[0].weights, pop.channels[1].weights], 1).double()
    _, u_sim = lif_dense(torch.cat([x, rec], 2).double(), w, params=NeuronParams(mode="free"))
    flat = u_sim.detach().reshape(-1, 8).numpy()
    np.testing.assert_allclose(meas.mu_u, flat.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(meas.sigma_u, flat.std(0), rtol=1e-5, atol=1e-6)


def test_dale_channels_equal_sim_dale_free_membrane():
    # Dale's law: excitatory input and independent inhibitory spikes, each with its own tau_syn.
    # (The sim's dale_dense in free mode emits no spikes, so its recurrent inhibitory current
    # cannot carry external spikes; the reference is the recursion of eqs. 12-19 above.)
    pop = M.draw_population("dale-exponential", 5, 16, 10.0, sigma_u=1.0, n_inh=6, tau_syn_inh=20e-3,
                            generator=torch.Generator().manual_seed(4))
    assert [c.name for c in pop.channels] == ["exc", "inh"]
    assert bool((pop.channels[0].weights >= 0).all()) and bool((pop.channels[1].weights <= 0).all())
    g = np.random.default_rng(6)
    xe = (g.random((3, 80, 16)) < 0.1).astype(np.float64)
    xi = (g.random((3, 80, 6)) < 0.1).astype(np.float64)
    we = pop.channels[0].weights.double().numpy()
    wi = pop.channels[1].weights.double().numpy()
    ref = reference_free_membrane([xe, xi], [we, wi], 20e-3, [10e-3, 20e-3], 2e-3)
    lm = math.exp(-2e-3 / 20e-3)
    t = torch.tensor
    got = _membrane([([t(xe)], [t(we)], math.exp(-0.2)), ([t(xi)], [t(wi)], math.exp(-0.1))], lm)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["fan_in", "nu", "duration", "trials", "dt", "batch_size", "poisson_mode"])
def test_poisson_source_constraints_each_parameter(name):
    base = dict(fan_in=5, nu=10.0, duration=0.1, trials=2, dt=2e-3, batch_size=2, poisson_mode="bernoulli")
    for bad in M.CONSTRAINTS[name].sample_invalid():
        kw = dict(base, **{name: bad})
        with pytest.raises(ParameterError) as err:
            M.poisson_source(**kw)
        assert f"`{name}`" in str(err.value)


@pytest.mark.parametrize("name", ["n_neurons", "nu", "mu_u", "xi", "tau_mem", "tau_syn", "mode", "init",
                                  "hist_neurons", "hist_bins", "hist_width"])
def test_sweep_constraints_each_parameter(name):
    src = M.tensor_source(torch.zeros(1, 10, 3), 2e-3)
    for bad in M.CONSTRAINTS[name].sample_invalid():
        with pytest.raises(ParameterError) as err:
            M.sweep(src, [1.0], **{name: bad})
        assert f"`{name}`" in str(err.value)
    with pytest.raises(ParameterError, match="`sigma_u`"):
        M.sweep(src, [1.0, -1.0])
    with pytest.raises(ParameterError, match="`sigma_u`"):
        M.sweep(src, [])


def test_silent_data_and_mismatched_population_raise():
    src = M.tensor_source(torch.zeros(2, 10, 3), 2e-3)
    with pytest.raises(ValueError, match="no spikes"):
        M.validate(src)  # the rate cannot be measured from silent data
    pop = M.draw_population("feedforward", 2, 4, 5.0)
    with pytest.raises(ParameterError, match="n_pre"):
        M.measure_membrane(src, pop)
    with pytest.raises(ParameterError, match="`x`"):
        M.tensor_source(-torch.ones(1, 2, 2), 2e-3)
