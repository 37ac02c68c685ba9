"""init_network_: every layer initialized from the theory with the layer's own time constants."""

import math

import pytest
import torch

from fluctinit import theory
from fluctinit.sim import (
    DaleConv1d,
    DaleDense,
    LIFConv1d,
    LIFDense,
    Network,
    init_network_,
    layer_kernels,
)
from fluctinit.sim.init import INIT_NETWORK_CONSTRAINTS
from fluctinit.errors import ParameterError

Z = 4.0


def std_ok(w, sigma):
    n = w.numel()
    return abs(w.detach().std().item() - sigma) < Z * sigma / math.sqrt(2 * n) and abs(
        w.detach().mean().item()
    ) < Z * sigma / math.sqrt(n)


def mean_ok(w, m):
    return abs(w.detach().mean().item() - m) < Z * m / math.sqrt(w.numel())


def make_net(dtype=torch.float64):
    layers = [
        LIFDense(100, 200, tau_mem=30e-3, tau_syn=5e-3, dtype=dtype),
        LIFDense(200, 200, recurrent=True, dtype=dtype),
        DaleDense(200, 160, 40, tau_mem_inh=10e-3, dtype=dtype),
    ]
    return Network(layers, 10, input_shape=(100,), tau_out=0.2, skip=True, dtype=dtype)


def test_fluctuation_init_uses_each_layers_time_constants():
    net = make_net()
    nu, sigma_u = 12.0, 0.7
    assert init_network_(net, nu, sigma_u=sigma_u, alpha=0.8, generator=torch.Generator().manual_seed(0)) is net
    l0, l1, l2 = net.hidden
    k0 = theory.kernel_integrals(tau_mem=30e-3, tau_syn=5e-3, dt=2e-3, mode="discrete")
    assert layer_kernels(l0)["kernel"] == k0
    assert std_ok(l0.weight, theory.feedforward_params(100, nu, sigma_u=sigma_u, kernel=k0).sigma_w)
    p1 = theory.recurrent_params(200, 200, nu, alpha=0.8, sigma_u=sigma_u, kernel=theory.kernel_integrals())
    assert std_ok(l1.weight, p1.sigma_w) and std_ok(l1.rec_weight, p1.sigma_v)
    # Dale layer: excitatory synapses tau_syn 10 ms, inhibitory 20 ms; I population tau_mem 10 ms
    ki = theory.kernel_integrals
    pe = theory.dale_params(200, 40, nu, sigma_u=sigma_u, n_exc_rec=160, alpha=0.8,
                              kernel_exc=ki(20e-3, 10e-3), kernel_inh=ki(20e-3, 20e-3))
    pi = theory.dale_params(200, 40, nu, sigma_u=sigma_u, n_exc_rec=160, alpha=0.8,
                              kernel_exc=ki(10e-3, 10e-3), kernel_inh=ki(10e-3, 20e-3))
    assert pe.rate_exc != pi.rate_exc
    assert mean_ok(l2.w_fe, 1 / pe.rate_exc) and mean_ok(l2.w_ie, 1 / pe.rate_inh)
    assert mean_ok(l2.w_re, 1 / pe.rate_exc_rec)
    assert mean_ok(l2.w_fi, 1 / pi.rate_exc) and mean_ok(l2.w_ii, 1 / pi.rate_inh)
    assert mean_ok(l2.w_ri, 1 / pi.rate_exc_rec)
    assert all((w >= 0).all() for w in l2.dale_weights().values())
    # readout: one neuron population fed by all skip inputs (200 + 200 + 160), tau_out = 0.2 s
    ko = ki(0.2, 10e-3)
    sigma_out = theory.feedforward_params(560, nu, sigma_u=sigma_u, kernel=ko).sigma_w
    assert std_ok(torch.cat([w.detach().flatten() for w in net.readout.weights]), sigma_out)


def test_lognormal_dale_and_conv_network():
    layers = [LIFConv1d(2, 8, recurrent=True, dtype=torch.float64), DaleConv1d(8, 16, 4, exc_recurrent=False,
                                                                          dtype=torch.float64)]
    net = Network(layers, 5, input_shape=(2, 100), tau_out=0.1, dtype=torch.float64)
    init_network_(net, 10.0, dist="lognormal", generator=torch.Generator().manual_seed(1))
    l0, l1 = net.hidden
    p0 = theory.recurrent_params(2 * 5, 8 * 5, 10.0, alpha=0.9)
    assert std_ok(l0.weight, p0.sigma_w) and std_ok(l0.rec_weight, p0.sigma_v)
    pe = theory.dale_params(8 * 5, 4 * 3, 10.0, dist="lognormal",
                              kernel_exc=theory.kernel_integrals(20e-3, 10e-3),
                              kernel_inh=theory.kernel_integrals(20e-3, 20e-3))
    logs = l1.w_fe.detach().log()
    assert abs(logs.mean().item() - pe.mu_log_exc) < Z / math.sqrt(logs.numel())
    assert l1.w_re is None


def test_kaiming_init_and_reproducibility():
    net_a, net_b = make_net(), make_net()
    with pytest.raises(ParameterError, match="`method` must be 'fluctuation'"):
        init_network_(net_a, 10.0, method="kaiming")
    layers = [LIFDense(100, 300, dtype=torch.float64), LIFDense(300, 300, recurrent=True, dtype=torch.float64)]
    net = Network(layers, 10, input_shape=(100,), tau_out=0.2, dtype=torch.float64)
    init_network_(net, 10.0, method="kaiming", generator=torch.Generator().manual_seed(2))
    assert std_ok(net.hidden[0].weight, math.sqrt(2 / 100))
    assert std_ok(net.hidden[1].rec_weight, math.sqrt(2 / 300))
    init_network_(net_a, 10.0, generator=torch.Generator().manual_seed(3))
    init_network_(net_b, 10.0, generator=torch.Generator().manual_seed(3))
    for pa, pb in zip(net_a.parameters(), net_b.parameters()):
        assert torch.equal(pa, pb)


def test_continuous_kernel_mode():
    net = Network([LIFDense(50, 400, dtype=torch.float64)], 2, input_shape=(50,), tau_out=0.1,
                  dtype=torch.float64)
    init_network_(net, 10.0, kernel_mode="continuous", generator=torch.Generator().manual_seed(4))
    k = theory.kernel_integrals(mode="continuous")
    assert std_ok(net.hidden[0].weight, theory.feedforward_params(50, 10.0, kernel=k).sigma_w)


@pytest.mark.parametrize("name", sorted(INIT_NETWORK_CONSTRAINTS))
def test_bad_arguments_raise(name):
    net = make_net()
    before = [p.detach().clone() for p in net.parameters()]
    for bad in INIT_NETWORK_CONSTRAINTS[name].sample_invalid():
        with pytest.raises(ParameterError, match=f"`{name}` must be"):
            init_network_(net, **{"nu": 10.0, name: bad})
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    with pytest.raises(ParameterError, match="`network`"):
        init_network_(torch.nn.Linear(2, 2), 10.0)


def test_generator_is_keyword_only():
    # randomness is explicit and named (STYLE practice 5): a positional generator is refused
    net = Network([LIFDense(4, 3)], 2, input_shape=(4,), tau_out=0.1)
    with pytest.raises(TypeError):
        init_network_(net, 10.0, 1.0, 0.9, "fluctuation", torch.Generator().manual_seed(0))
