"""fluctinit.interop.spikingjelly: decay_input, the rest of LIFNode and CUBALIFNode, containers, refusals.

The membrane statistics are measured in spikingjelly in tests/test_interop_membrane.py.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import require
from fluctinit.errors import ParameterError
from fluctinit.interop import discrete_kernel
from fluctinit.interop import spikingjelly as fi

sj = require("spikingjelly.activation_based")
from spikingjelly.activation_based import layer, neuron  # noqa: E402


def test_decay_input_carries_the_one_minus_beta():
    def report(decay_input):
        net = nn.Sequential(layer.Linear(200, 30), neuron.LIFNode(tau=10.0, decay_input=decay_input))
        return fi.init_(net, nu=10.0, dt=2e-3)[0]

    with_decay, without = report(True), report(False)
    assert with_decay.epsilon_hat == pytest.approx(float(discrete_kernel(0.0, 0.9, 0.1, 2e-3)[1]))
    # without decay_input the input is not scaled by 1/tau: epsilon_hat 1/(1 - beta)^2 = 100 x larger
    assert without.epsilon_hat == pytest.approx(100 * with_decay.epsilon_hat)
    assert without.sigma_w == pytest.approx(with_decay.sigma_w / 10)


def test_rest_and_threshold_distance():
    lif = neuron.LIFNode(tau=5.0, v_threshold=0.5, v_reset=-0.5)
    (r,) = fi.init_(nn.Sequential(nn.Linear(20, 10), lif), nu=10.0, dt=1e-3)
    assert r.theta == pytest.approx(1.0)
    soft = neuron.LIFNode(tau=5.0, v_threshold=0.5, v_reset=None)  # soft reset: the charge rests at 0
    assert fi.init_(nn.Sequential(nn.Linear(20, 10), soft), nu=10.0, dt=1e-3)[0].theta == pytest.approx(0.5)
    cuba = neuron.CUBALIFNode(c_decay=0.5, v_decay=0.75, v_threshold=0.5, v_reset=0.25)  # decays to 0
    (rc,) = fi.init_(nn.Sequential(nn.Linear(20, 10), cuba), nu=10.0, dt=1e-3)
    assert rc.theta == pytest.approx(0.5) and rc.tau_syn == pytest.approx(-1e-3 / torch.log(torch.tensor(0.5)).item())


def test_seq_to_ann_container_is_entered():
    net = nn.Sequential(layer.SeqToANNContainer(nn.Conv2d(2, 4, 3)), neuron.LIFNode(tau=4.0, step_mode="m"))
    (r,) = fi.init_(net, nu=10.0, dt=1e-3)
    assert (r.name, r.fan_in) == ("0.0", 18)


def test_recurrent_container_is_refused():
    rnn = layer.LinearRecurrentContainer(nn.Sequential(nn.Linear(8, 8), neuron.LIFNode()), 8, 8)
    with pytest.raises(ParameterError, match=r"`module` '0' holds weights; it \(spikingjelly.LinearRecurrentContainer\), "
                                             r"which fluctinit does not map \(its recurrence enters through the layer's input\)"):
        fi.init_(nn.Sequential(rnn), nu=10.0, dt=1e-3)
    plif = nn.Sequential(nn.Linear(4, 4), neuron.ParametricLIFNode())
    with pytest.raises(ParameterError, match=r"feeds '1' \(spikingjelly.ParametricLIFNode\)"):
        fi.init_(plif, nu=10.0, dt=1e-3)
