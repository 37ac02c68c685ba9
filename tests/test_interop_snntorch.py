"""fluctinit.interop.snntorch: which layers it maps, per-neuron parameters, reports and refusals.

The membrane statistics themselves are measured in snntorch in tests/test_interop_membrane.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from conftest import require
from fluctinit import theory
from fluctinit.errors import ParameterError
from fluctinit.interop import discrete_kernel
from fluctinit.interop import snntorch as fi

snn = require("snntorch")

DT = 2e-3
A, B = math.exp(-DT / 10e-3), math.exp(-DT / 20e-3)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_sequential_report_has_snntorchs_kernel():
    net = nn.Sequential(nn.Linear(700, 128), snn.Synaptic(alpha=A, beta=B, init_hidden=True),
                        nn.Linear(128, 20), snn.Leaky(beta=B, init_hidden=True))
    r1, r2 = fi.init_(net, nu=15.8, dt=DT, generator=_gen())
    # epsilon_hat is the paper's (theory, eqs. 10-11) times 1/(1 - beta)^2: gain 1 instead of 1 - beta
    a, b = float(torch.tensor(A)), float(torch.tensor(B))  # the float32 decays snntorch stores
    paper = theory.kernel_integrals(-DT / math.log(b), -DT / math.log(a), DT)
    assert r1.epsilon_bar == pytest.approx(paper.epsilon_bar / (1 - b), rel=1e-12)
    assert r1.epsilon_hat == pytest.approx(paper.epsilon_hat / (1 - b) ** 2, rel=1e-12)
    assert r1.sigma_w == pytest.approx(theory.feedforward_params(700, 15.8, sigma_u=1.0).sigma_w * (1 - B), rel=1e-4)
    assert (r1.name, r1.neuron, r1.neuron_type, r1.fan_in) == ("0", "1", "snntorch.Synaptic", 700)
    assert r1.tau_mem == pytest.approx(20e-3) and r1.tau_syn == pytest.approx(10e-3)
    assert (r2.fan_in, r2.tau_syn, r2.neuron_type) == (128, 0.0, "snntorch.Leaky")
    assert r2.epsilon_hat == pytest.approx(DT / (1 - b * b), rel=1e-12)  # sum beta^(2m)
    # the drawn weights follow the report (700 x 128 draws: 0.5 % standard error of the std)
    assert net[0].weight.std().item() == pytest.approx(r1.sigma_w, rel=0.02)
    assert torch.all(net[0].bias == 0) and torch.all(net[2].bias == 0)


def test_tutorial_module_in_registration_order_and_nu_per_layer():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(50, 40)
            self.lif1 = snn.Synaptic(alpha=A, beta=B)
            self.fc2 = nn.Linear(40, 30)
            self.lif2 = snn.Leaky(beta=B)

    net = Net()
    reports = fi.init_(net, nu=[10.0, 30.0], dt=DT, generator=_gen())
    assert [(r.name, r.neuron, r.nu) for r in reports] == [("fc1", "lif1", 10.0), ("fc2", "lif2", 30.0)]
    with pytest.raises(ParameterError, match=r"`nu` must be one rate or one per initialized layer \(2: fc1, fc2\)"):
        fi.init_(net, nu=[10.0], dt=DT)


def test_per_neuron_beta_and_threshold_learnable():
    beta = torch.linspace(0.8, 0.95, 16)
    thr = torch.full((16,), 2.0)
    lif = snn.Leaky(beta=beta, threshold=thr, learn_beta=True, learn_threshold=True, init_hidden=True)
    net = nn.Sequential(nn.Linear(500, 16), lif)
    (r,) = fi.init_(net, nu=20.0, dt=DT, sigma_u=0.5, generator=_gen())
    assert isinstance(lif.beta, nn.Parameter) and len(r.sigma_w) == 16
    b = beta.double().numpy()
    _, eh = discrete_kernel(0.0, b, 1.0, DT)
    # sigma_u = 0.5 threshold distances of 2.0: sigma_w^2 = (0.5 * 2)^2 / (n nu epsilon_hat) (eq. 9)
    np.testing.assert_allclose(r.sigma_w, 1.0 / np.sqrt(500 * 20.0 * eh), rtol=1e-6)
    assert r.theta == 2.0
    w = net[0].weight.detach().double()
    ratio = w.std(dim=1).numpy() / np.array(r.sigma_w)  # 500 draws per row: 3.2 % standard error
    assert np.all(np.abs(ratio - 1) < 0.15) and abs(ratio.mean() - 1) < 0.03


def test_conv_per_channel_parameters_and_flatten():
    beta = torch.linspace(0.85, 0.95, 8).view(8, 1, 1)
    net = nn.Sequential(nn.Conv2d(3, 8, 5), snn.Leaky(beta=beta, init_hidden=True), nn.Flatten(),
                        nn.Linear(8 * 12 * 12, 10), snn.Leaky(beta=0.9, init_hidden=True))
    r1, r2 = fi.init_(net, nu=5.0, dt=DT, generator=_gen())
    assert r1.fan_in == 75 and len(r1.sigma_w) == 8 and r2.fan_in == 1152
    bad = nn.Sequential(nn.Conv2d(3, 8, 5), snn.Leaky(beta=torch.rand(8, 12, 12), init_hidden=True))
    with pytest.raises(ParameterError, match=r"`1.beta` must be one value or one per output row of '0' \(8\)"):
        fi.init_(bad, nu=5.0, dt=DT)


def test_recurrent_layers_split_the_variance():
    lif = snn.RSynaptic(alpha=A, beta=B, linear_features=64, init_hidden=True)
    net = nn.Sequential(nn.Linear(200, 64), lif)
    (r,) = fi.init_(net, nu=10.0, dt=DT, alpha=0.8, generator=_gen())
    p = theory.recurrent_params(200, 64, 10.0, alpha=0.8, sigma_u=1.0,
                                kernel=theory.KernelIntegrals(r.epsilon_bar, r.epsilon_hat))
    assert (r.recurrent, r.fan_in_rec, r.alpha) == ("1.recurrent", 64, 0.8)
    assert (r.sigma_w, r.sigma_v) == pytest.approx((p.sigma_w, p.sigma_v))
    assert torch.all(lif.recurrent.bias == 0)
    one = snn.RLeaky(beta=B, all_to_all=False, V=torch.ones(64), init_hidden=True)
    (r1,) = fi.init_(nn.Sequential(nn.Linear(200, 64), one), nu=10.0, dt=DT, generator=_gen())
    assert r1.fan_in_rec == 1 and one.recurrent.V.std().item() == pytest.approx(r1.sigma_v, rel=0.3)
    scalar = snn.RLeaky(beta=B, all_to_all=False, V=0.5, init_hidden=True)
    with pytest.raises(ParameterError, match=r"`1.V` must be a tensor of one recurrent weight per neuron"):
        fi.init_(nn.Sequential(nn.Linear(200, 64), scalar), nu=10.0, dt=DT)


def test_convolutional_recurrence():
    lif = snn.RSynaptic(alpha=A, beta=B, conv2d_channels=6, kernel_size=3, init_hidden=True)
    (r,) = fi.init_(nn.Sequential(nn.Conv2d(2, 6, 5, padding=2), lif), nu=10.0, dt=DT)
    assert (r.fan_in, r.recurrent, r.fan_in_rec) == (50, "1.recurrent", 54)
    assert lif.recurrent.weight.std().item() == pytest.approx(r.sigma_v, rel=0.16)  # 324 draws: 4 % standard error


def test_graded_spikes_divide_the_next_layers_weights():
    def net(factor):
        return nn.Sequential(nn.Linear(100, 50), snn.Leaky(beta=B, graded_spikes_factor=factor, init_hidden=True),
                             nn.Linear(50, 10), snn.Leaky(beta=B, init_hidden=True))

    r_one = fi.init_(net(1.0), nu=10.0, dt=DT)
    r_two = fi.init_(net(2.0), nu=10.0, dt=DT)
    assert r_two[0].sigma_w == r_one[0].sigma_w and r_two[1].sigma_w == pytest.approx(r_one[1].sigma_w / 2)


def test_bias_kept_when_asked_and_skip():
    net = nn.Sequential(nn.Linear(20, 10), snn.Leaky(beta=B, init_hidden=True), nn.Linear(10, 3))
    before = net[2].weight.detach().clone()
    with torch.no_grad():
        net[0].bias.fill_(0.25)
    (r,) = fi.init_(net, nu=10.0, dt=DT, keep_bias=True, skip=("2",))
    assert r.name == "0" and torch.all(net[0].bias == 0.25) and torch.equal(net[2].weight, before)
    with pytest.raises(ParameterError, match=r"`skip` must name weight layers or neurons of the module; got \['fc9'\]"):
        fi.init_(net, nu=10.0, dt=DT, skip=("2", "fc9"))


def test_generator_makes_draws_reproducible():
    def draw(seed):
        net = nn.Sequential(nn.Linear(30, 20), snn.Leaky(beta=B, init_hidden=True))
        fi.init_(net, nu=10.0, dt=DT, generator=_gen(seed))
        return net[0].weight.detach()

    assert torch.equal(draw(1), draw(1)) and not torch.equal(draw(1), draw(2))


@pytest.mark.parametrize("net, match", [
    (lambda: nn.Sequential(nn.Linear(5, 4), snn.Alpha(alpha=0.9, beta=0.8, init_hidden=True)),
     r"`module` layer '0' feeds '1' \(snntorch.Alpha\), which fluctinit does not map"),
    (lambda: nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), snn.Leaky(beta=0.9, init_hidden=True)),
     r"`module` layer '0' must feed a neuron directly .* but '1' \(BatchNorm1d\) sits between"),
    (lambda: nn.Sequential(nn.Linear(5, 4), nn.Linear(4, 3), snn.Leaky(beta=0.9, init_hidden=True)),
     r"`module` layer '0' must feed a neuron, but '1' \(Linear\) follows it first"),
    (lambda: nn.Sequential(nn.Linear(5, 4), snn.Leaky(beta=0.9, init_hidden=True), nn.Linear(4, 2)),
     r"`module` layer '2' feeds no neuron .* pass skip=\('2',\)"),
    (lambda: nn.Sequential(nn.Linear(5, 4), snn.Leaky(beta=1.0, init_hidden=True)),
     r"`1.beta` must be a finite number with 0 <= x < 1 \(a leaky membrane and current\); got 1.0"),
    (lambda: nn.Sequential(nn.Linear(5, 4), snn.Leaky(beta=0.9, threshold=-1.0, init_hidden=True)),
     r"`1.threshold - rest` must be a finite number > 0 \(the threshold above the resting potential\); got -1.0"),
    (lambda: nn.Sequential(nn.Embedding(5, 4), nn.Linear(4, 3), snn.Leaky(beta=0.9, init_hidden=True)),
     r"`module` '0' \(Embedding\) holds weights \[\(5, 4\)\] that are not an nn.Linear or nn.Conv\* feeding a neuron"),
    (lambda: nn.Sequential(snn.RLeaky(beta=0.9, linear_features=4, init_hidden=True)),
     r"`module` recurrent layer '0' \(snntorch.RLeaky\) must be fed by a weight layer"),
])
def test_unmappable_networks_are_refused_by_name(net, match):
    with pytest.raises(ParameterError, match=match):
        fi.init_(net(), nu=10.0, dt=DT)


@pytest.mark.parametrize("kwargs, match", [
    (dict(nu=0.0), r"`nu` must be a finite number > 0; got 0.0"),
    (dict(dt=-1.0), r"`dt` must be a finite number > 0; got -1.0"),
    (dict(dt=None), r"`dt` must be the step the network runs at \(s\), a finite number > 0; got None"),
    (dict(sigma_u=float("nan")), r"`sigma_u` must be a finite number > 0; got nan"),
    (dict(mu_u=1.0), r"`mu_u` must be a finite number < 1; got 1.0"),
    (dict(alpha=1.0), r"`alpha` must be a finite number with 0 < x < 1; got 1.0"),
    (dict(generator=3), r"`generator` must be a torch.Generator or None; got int"),
    (dict(nu=[5.0, -1.0]), r"`nu` must be one rate or one per initialized layer"),
    (dict(keep_bias="no"), r"`keep_bias` must be True or False; got 'no'"),
])
def test_bad_arguments_name_the_option(kwargs, match):
    net = nn.Sequential(nn.Linear(5, 4), snn.Leaky(beta=0.9, init_hidden=True))
    args = dict(nu=10.0, dt=DT) | kwargs
    with pytest.raises(ParameterError, match=match):
        fi.init_(net, **args)
    with pytest.raises(ParameterError, match=r"`module` must be a torch.nn.Module; got str"):
        fi.init_("net", nu=10.0, dt=DT)


def test_a_refused_network_is_left_untouched():
    """Every layer is checked before any is drawn: an infeasible target in the last layer changes nothing."""
    net = nn.Sequential(nn.Linear(20, 10), snn.Leaky(beta=B, init_hidden=True),
                        nn.Linear(10, 5), snn.Leaky(beta=B, threshold=torch.tensor([1.0, 1, 1, 1, -1]), init_hidden=True))
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(ParameterError, match=r"`3.threshold - rest` must be a finite number > 0 .*; got -1.0"):
        fi.init_(net, nu=10.0, dt=DT)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


@pytest.mark.parametrize("name", ["nu", "nu_rec", "dt", "sigma_u", "mu_u", "alpha"])
def test_every_constrained_option_refuses_its_invalid_values(name):
    """The constraint table of fluctinit.interop._rule, each entry pushed out of range (Interval.sample_invalid)."""
    from fluctinit.interop._rule import CONSTRAINTS

    net = nn.Sequential(nn.Linear(5, 4), snn.RLeaky(beta=0.9, linear_features=4, init_hidden=True))
    for bad in CONSTRAINTS[name].sample_invalid():
        with pytest.raises(ParameterError, match=rf"`{name}` must be"):
            fi.init_(net, **(dict(nu=10.0, dt=DT) | {name: bad}))
