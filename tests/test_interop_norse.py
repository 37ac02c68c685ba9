"""fluctinit.interop.norse: norse's Euler update, its own dt, the recurrent cells' own weights, refusals.

The membrane statistics are measured in norse in tests/test_interop_membrane.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from conftest import require
from fluctinit import theory
from fluctinit.errors import ParameterError
from fluctinit.interop import discrete_kernel
from fluctinit.interop import norse as fi

norse_torch = require("norse.torch")


def _p(**kw):
    return norse_torch.LIFParameters(**{"tau_mem_inv": torch.tensor(50.0), "tau_syn_inv": torch.tensor(100.0), **kw})


def test_euler_decays_from_the_modules_dt():
    net = norse_torch.SequentialState(nn.Linear(300, 40), norse_torch.LIFCell(_p(), dt=1e-3))
    (r,) = fi.init_(net, nu=10.0, generator=torch.Generator().manual_seed(0))
    eb, eh = discrete_kernel(1 - 1e-3 * 100.0, 1 - 1e-3 * 50.0, 1e-3 * 50.0, 1e-3)
    assert (r.epsilon_bar, r.epsilon_hat) == pytest.approx((float(eb), float(eh)), rel=1e-6)
    assert r.tau_mem == pytest.approx(-1e-3 / np.log(1 - 0.05))  # Euler's decay, not exp(-dt/tau)
    # the paper's kernel at the nominal 20 ms / 10 ms differs only by O(dt/tau)
    paper = theory.kernel_integrals(0.02, 0.01, 1e-3)
    assert r.epsilon_hat / paper.epsilon_hat == pytest.approx(1.0, abs=0.1)
    # norse's unit need not be seconds: dt=1 ms written as 1 with rates per ms is the same network
    ms = norse_torch.SequentialState(nn.Linear(300, 40), norse_torch.LIFCell(
        _p(tau_mem_inv=torch.tensor(0.05), tau_syn_inv=torch.tensor(0.1)), dt=1.0))
    (r_ms,) = fi.init_(ms, nu=10.0, dt=1e-3)
    assert r_ms.sigma_w == pytest.approx(r.sigma_w, rel=1e-6)


def test_threshold_distance_from_v_leak_per_neuron():
    v_th = torch.linspace(-50.0, -40.0, 8)
    net = norse_torch.SequentialState(nn.Linear(100, 8), norse_torch.LIFCell(
        _p(v_leak=torch.tensor(-65.0), v_th=v_th, v_reset=torch.tensor(-65.0)), dt=1e-3))
    (r,) = fi.init_(net, nu=10.0, sigma_u=0.2)
    np.testing.assert_allclose(r.theta, (v_th + 65.0).numpy())
    np.testing.assert_allclose(np.array(r.sigma_w) / np.array(r.theta), r.sigma_w[0] / r.theta[0], rtol=1e-6)


def test_recurrent_cell_keeps_no_autapses():
    cell = norse_torch.LIFRecurrentCell(120, 30, _p(), dt=1e-3)
    (r,) = fi.init_(cell, nu=10.0, alpha=0.7, generator=torch.Generator().manual_seed(1))
    assert (r.name, r.recurrent, r.fan_in, r.fan_in_rec) == (
        "LIFRecurrentCell.input_weights", "LIFRecurrentCell.recurrent_weights", 120, 29)
    assert torch.all(torch.diagonal(cell.recurrent_weights) == 0)
    with_self = norse_torch.LIFRecurrentCell(120, 30, _p(), autapses=True, dt=1e-3)
    (r2,) = fi.init_(norse_torch.SequentialState(with_self), nu=10.0)
    assert r2.fan_in_rec == 30 and r2.name == "0.input_weights"


def test_box_cell_and_sequence_module():
    net = norse_torch.SequentialState(nn.Linear(50, 20), norse_torch.LIFBoxCell(dt=1e-3),
                                      nn.Linear(20, 10), norse_torch.LIF(_p(), dt=1e-3))
    r1, r2 = fi.init_(net, nu=[10.0, 20.0])
    assert (r1.neuron_type, r1.tau_syn, r2.neuron_type) == ("norse.LIFBoxCell", 0.0, "norse.LIF")


def test_refusals():
    readout = norse_torch.SequentialState(nn.Linear(5, 4), norse_torch.LIFCell(), nn.Linear(4, 2), norse_torch.LICell())
    with pytest.raises(ParameterError, match=r"`module` layer '2' feeds '3' \(norse.LICell\), which fluctinit does not map"):
        fi.init_(readout, nu=10.0)
    assert len(fi.init_(readout, nu=10.0, skip=("2",))) == 1
    lsnn = norse_torch.SequentialState(norse_torch.LSNNRecurrentCell(5, 4))
    with pytest.raises(ParameterError, match=r"`module` '0' holds weights; it \(norse.LSNNRecurrentCell\), which fluctinit "
                                             r"does not map"):
        fi.init_(lsnn, nu=10.0)
    fed = norse_torch.SequentialState(nn.Linear(5, 4), norse_torch.LIFRecurrentCell(4, 3))
    with pytest.raises(ParameterError, match=r"`module` layer '0' must feed spikes to '1' .* holds its own input weights"):
        fi.init_(fed, nu=10.0)
    fast = norse_torch.SequentialState(nn.Linear(5, 4), norse_torch.LIFCell(_p(tau_syn_inv=torch.tensor(2000.0)), dt=1e-3))
    with pytest.raises(ParameterError, match=r"`1.alpha` must be a finite number with 0 <= x < 1 .*; got -1.0"):
        fi.init_(fast, nu=10.0)
    with pytest.raises(ParameterError, match=r"`dt` must be a finite number > 0; got 0"):
        fi.init_(fast, nu=10.0, dt=0)
