"""fluctinit.interop.sequential_init_: another framework's network initialized layer by layer for
the rates its layers' inputs have, measured by running the user's batch through it.

Checks that can fail: the rate each layer was initialized for is the rate its predecessor fires
at in the final network on that batch; layer 1 keeps the common rule's draw and every later
layer's weights are that draw scaled by sqrt(nu / rate) (eq. 9); a recurrent neuron's own rate
is measured; bad arguments are refused by name.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from conftest import require
from fluctinit.errors import ParameterError
from fluctinit.interop import sequential_init_
from fluctinit.interop import snntorch as fi

snn = require("snntorch")

DT = 2e-3
B = math.exp(-DT / 20e-3)
A = math.exp(-DT / 10e-3)


def _net(recurrent=False):
    torch.manual_seed(0)
    second = snn.RLeaky(beta=B, linear_features=64, init_hidden=True) if recurrent else snn.Leaky(beta=B, init_hidden=True)
    return nn.Sequential(nn.Linear(100, 64), snn.Synaptic(alpha=A, beta=B, init_hidden=True),
                         nn.Linear(64, 64), second,
                         nn.Linear(64, 10), snn.Leaky(beta=B, init_hidden=True))


def _runner(net, seen):
    x = (torch.rand(200, 32, 100, generator=torch.Generator().manual_seed(1)) < 40.0 * DT).float()  # 40 Hz Poisson

    def run(module):
        from snntorch import utils

        utils.reset(module)
        for t in range(x.shape[0]):
            module(x[t])
        seen.append(1)
    return run


def _rates(net, run):
    spikes = {}
    hooks = [net[k].register_forward_hook(lambda m, i, o, k=k: spikes.setdefault(k, []).append(o.detach()))
             for k in (1, 3)]
    with torch.no_grad():
        run(net)
    for h in hooks:
        h.remove()
    return [float(torch.stack(spikes[k]).mean()) / DT for k in (1, 3)]


@pytest.mark.parametrize("recurrent", [False, True])
def test_each_layer_gets_its_inputs_measured_rate(recurrent):
    net, seen = _net(recurrent), []
    run = _runner(net, seen)
    reports, rates = sequential_init_("snntorch", net, run, nu=40.0, dt=DT, generator=torch.Generator().manual_seed(3))
    assert rates[0] == 40.0 and len(rates) == len(reports) == 3
    assert len(seen) == 2 + (2 if recurrent else 0)  # one pass per layer with a successor, two more for the recurrent one
    fired = _rates(net, run)
    assert all(r > 1.0 for r in fired), fired  # the layers fire at initialization
    for k, r in enumerate(fired):
        assert math.isclose(rates[k + 1], r, rel_tol=1e-6), (rates, fired)
    # against the common rule from the same generator: layer 1 the same, layer 3 (feed-forward) scaled
    common = _net(recurrent)
    fi.init_(common, nu=40.0, dt=DT, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(net[0].weight, common[0].weight, rtol=0, atol=0)
    torch.testing.assert_close(net[4].weight, common[4].weight * math.sqrt(40.0 / rates[2]), rtol=1e-5, atol=0)
    if recurrent:
        assert reports[1].nu_rec != 40.0 and reports[1].nu_rec > 0.01
    else:
        torch.testing.assert_close(net[2].weight, common[2].weight * math.sqrt(40.0 / rates[1]), rtol=1e-5, atol=0)


def test_bad_arguments_are_refused_by_name():
    net = _net()
    run = _runner(net, [])
    with pytest.raises(ParameterError, match="`framework` must be one of 'snntorch', 'norse', 'spikingjelly'"):
        sequential_init_("lava", net, run, nu=40.0, dt=DT)
    with pytest.raises(ParameterError, match="`run` must be a callable"):
        sequential_init_("snntorch", net, None, nu=40.0, dt=DT)
    with pytest.raises(ParameterError, match="`nu` must be"):
        sequential_init_("snntorch", net, run, nu=0.0, dt=DT)
    with pytest.raises(ParameterError, match="`run` must run the network"):
        sequential_init_("snntorch", net, lambda m: None, nu=40.0, dt=DT)


@pytest.mark.parametrize("framework", ["norse", "spikingjelly"])
def test_norse_and_spikingjelly_networks(framework):
    """The same rule through the other frameworks' neurons and outputs (norse's ``(z, state)``)."""
    x = (torch.rand(100, 16, 100, generator=torch.Generator().manual_seed(1)) < 40.0 * DT).float()
    if framework == "norse":
        nt = require("norse.torch")
        net = nn.Sequential(nn.Linear(100, 64), nt.LIFCell(dt=DT), nn.Linear(64, 10), nt.LIFCell(dt=DT))

        def run(m):
            s1 = s2 = None
            for t in range(x.shape[0]):
                z, s1 = m[1](m[0](x[t]), s1)
                _, s2 = m[3](m[2](z), s2)
    else:
        require("spikingjelly")
        from spikingjelly.activation_based import functional, neuron

        net = nn.Sequential(nn.Linear(100, 64), neuron.LIFNode(tau=10.0, v_reset=0.0), nn.Linear(64, 10),
                            neuron.LIFNode(tau=10.0, v_reset=0.0))

        def run(m):
            functional.reset_net(m)
            for t in range(x.shape[0]):
                m(x[t])
    _, rates = sequential_init_(framework, net, run, nu=40.0, dt=None if framework == "norse" else DT,
                                generator=torch.Generator().manual_seed(0))
    seen = []
    h = net[1].register_forward_hook(lambda m, i, o: seen.append((o[0] if isinstance(o, tuple) else o).detach()))
    with torch.no_grad():
        run(net)
    h.remove()
    fired = float(torch.stack(seen).mean()) / DT
    assert fired > 1.0 and math.isclose(rates[1], fired, rel_tol=1e-6), (rates, fired)
