"""Recording helpers (figures 3g-i, 4c-f) and the CIFAR-10 sensory encoder (section 4.1)."""

import math

import pytest
import torch

from fluctinit.sim.encoding import CONSTRAINTS as ENC_CONSTRAINTS
from fluctinit.sim.encoding import SensoryEncoder
from fluctinit.errors import ParameterError
from fluctinit.training.recording import (
    GradientRecorder,
    epochs_to_accuracy,
    firing_rates,
    parameter_groups,
    snapshot,
    weight_update_magnitudes,
)


def test_firing_rates_hand_computed():
    s = torch.zeros(2, 10, 4)
    s[0, :5, 0] = 1.0  # 5 spikes in 2*10*4 = 80 bins -> mean 1/16 per 2 ms step = 31.25 Hz
    assert firing_rates([s, torch.zeros(1, 3, 2)], 2e-3) == [pytest.approx(31.25), 0.0]
    with pytest.raises(ParameterError, match="`dt`"):
        firing_rates([s], 0.0)


def test_gradient_recorder_gets_output_gradients():
    x = torch.ones(3, requires_grad=True)
    h = x * 2.0
    y = h * torch.tensor([1.0, -2.0, 3.0])
    frozen = torch.ones(2)
    rec = GradientRecorder([h, y, frozen])
    y.sum().backward()
    assert rec.magnitudes() == [pytest.approx(2.0), pytest.approx(1.0), 0.0]


def test_weight_update_magnitudes_per_layer():
    m = torch.nn.Sequential(torch.nn.Linear(2, 3, bias=False), torch.nn.Linear(3, 1))
    assert list(parameter_groups(m)) == ["0", "1"]
    before = snapshot(m)
    with torch.no_grad():
        m[0].weight += 0.5
        m[1].bias -= 2.0
    d = weight_update_magnitudes(before, m)
    assert d["0"] == pytest.approx(0.5)
    assert d["1"] == pytest.approx(2.0 / 4)  # 3 weights unchanged, 1 bias moved by 2
    with pytest.raises(ParameterError, match="`before`"):
        weight_update_magnitudes({}, m)


def test_epochs_to_accuracy():
    assert epochs_to_accuracy([0.2, 0.85, 0.9, 0.95]) == 3
    assert epochs_to_accuracy([0.2, 0.5]) is None
    with pytest.raises(ParameterError, match="`threshold`"):
        epochs_to_accuracy([0.1], 1.5)


# ----------------------------------------------------------------------------- encoder
def test_encoder_shapes_and_fan_out_mapping():
    enc = SensoryEncoder(3, 5, 7)
    assert enc.gain.shape == (15, 1, 1) and enc.bias.shape == (15, 1, 1)
    x = torch.rand(2, 3, 4, 6)
    with torch.no_grad():
        enc.gain.copy_(torch.arange(15.0).view(15, 1, 1))
        enc.bias.zero_()
    c = enc.currents(x)
    for k in range(15):  # encoding channel k sees input channel k // 5 with gain k
        assert torch.allclose(c[:, k], k * x[:, k // 5])
    assert enc(x).shape == (2, 7, 15, 4, 6)


def test_encoder_trace_matches_eqs_10_11():
    # Constant drive c: I[n] = c (1 - ls^n)/(1 - ls), U[n+1] = lm U[n] + (1 - lm) I[n], reset on spike.
    enc = SensoryEncoder(1, 1, 40)
    with torch.no_grad():
        enc.gain.fill_(0.0)
        enc.bias.fill_(0.5)
    s = enc(torch.zeros(1, 1, 1, 1))[0, :, 0, 0, 0]
    lm, ls = math.exp(-2 / 20), math.exp(-2 / 10)
    u, i, want = 0.0, 0.0, []
    for _ in range(40):
        spk = 1.0 if u > 1.0 else 0.0
        want.append(spk)
        u, i = (lm * u + (1 - lm) * i) * (1 - spk), ls * i + 0.5
    assert s.tolist() == want and sum(want) >= 2


def test_encoder_init_std_within_standard_errors():
    # gain ~ N(0, (dt/tau_syn)^2) = N(0, 0.2^2); bias ~ N(0, 1/15) (module docstring).
    gains, biases = [], []
    for seed in range(200):
        enc = SensoryEncoder(3, 5, 1)
        enc.reset_parameters(torch.Generator().manual_seed(seed))
        gains.append(enc.gain.detach().flatten())
        biases.append(enc.bias.detach().flatten())
    g, b = torch.cat(gains).double(), torch.cat(biases).double()
    n = g.numel()
    for x, sd in ((g, 0.2), (b, 1 / math.sqrt(15))):
        assert abs(float(x.mean())) < 4 * sd / math.sqrt(n)
        assert abs(float(x.std()) - sd) < 4 * sd / math.sqrt(2 * (n - 1))


def test_encoder_is_trainable_through_the_surrogate():
    enc = SensoryEncoder(3, 5, 20)
    enc.reset_parameters(torch.Generator().manual_seed(0))
    enc(torch.rand(4, 3, 5, 5) * 2 - 1).sum().backward()
    assert enc.gain.grad.abs().sum() > 0 and enc.bias.grad.abs().sum() > 0


@pytest.mark.parametrize("name", sorted(ENC_CONSTRAINTS))
def test_encoder_bad_arguments(name):
    for bad in ENC_CONSTRAINTS[name].sample_invalid():
        with pytest.raises(ParameterError, match=f"`{name}`"):
            SensoryEncoder(**{name: bad})
    with pytest.raises(ParameterError, match="`images`"):
        SensoryEncoder(3, 5, 2)(torch.zeros(1, 2, 4, 4))


def test_rates_from_counts_equal_rates_from_spikes():
    from fluctinit.training.losses import spike_counts
    from fluctinit.training.recording import firing_rates, firing_rates_from_counts

    g = torch.Generator().manual_seed(3)
    spikes = [(torch.rand(5, 40, 7, generator=g) < p).float() for p in (0.02, 0.1)]
    spikes.append((torch.rand(5, 40, 3, 4, generator=g) < 0.05).float())  # conv layer (C, L)
    a = firing_rates(spikes, 2e-3)
    b = firing_rates_from_counts([spike_counts(s) for s in spikes], 40, 2e-3)
    assert a == pytest.approx(b, rel=1e-6)
    assert min(b) > 0


def test_gradient_magnitude_is_mean_absolute_value():
    from fluctinit.training.recording import GradientRecorder

    x = torch.zeros(3, 4, requires_grad=True)
    y = x * 1.0
    rec = GradientRecorder([y])
    c = torch.tensor([[1.0, -2.0, 0.0, 3.0]] * 3)
    (y * c).sum().backward()
    assert rec.magnitudes() == [pytest.approx(6.0 / 4)]
