"""Layer-sequential initialization (``init.rates = "sequential"``, beyond the paper): each layer
initialized for the rate its inputs really have at initialization, measured layer by layer.

Checks that can fail: the per-layer rates of ``init_network_`` scale each layer's common-rate
draw by sqrt(nu_common / nu_l) (eq. 9: sigma_w ~ 1/sqrt(nu)); the rates ``sequential_rates_``
returns are the rates the final network's layers fire at on the calibration batch (the layers
before each re-initialization keep their weights); the config refuses the option where no rate
is used.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch

from fluctinit.datasets.standin import write_shd_standin
from fluctinit.errors import ParameterError
from fluctinit.training import build_model, load_experiment, resolve_config, sequential_rates_
from fluctinit.training.data import load_data


@pytest.fixture(scope="module")
def shd_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("shd")
    write_shd_standin(root, n_train=40, n_test=8, duration=0.1, seed=0)
    return root


def _small(name="shd-conv3-rec", **init):
    c = copy.deepcopy(load_experiment(name))
    c["data"]["duration"] = 0.1
    c["network"]["tau_out"] = 0.1
    c["network"]["hidden"] = [8] * len(c["network"]["hidden"])
    c["training"]["batch_size"] = 20
    c["init"].update(init)
    return resolve_config(c)[0]


def test_per_layer_rates_rescale_each_layers_draw():
    from fluctinit.sim.init import init_network_

    config = _small()
    model = build_model(config, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(5)
    state = g.get_state()
    init_network_(model.network, 20.0, generator=g)
    common = [p.detach().clone() for p in model.network.parameters()]
    g.set_state(state)
    rates = [20.0, 5.0, 80.0, 10.0]
    init_network_(model.network, rates, generator=g)
    per_layer = [p.detach().clone() for p in model.network.parameters()]
    names = [n for n, _ in model.network.named_parameters()]
    for name, a, b in zip(names, common, per_layer):
        if name.startswith("hidden."):
            layer = int(name.split(".")[1])
            scale = math.sqrt(20.0 / rates[layer])
        else:
            scale = math.sqrt(20.0 / rates[-1])
        torch.testing.assert_close(b, a * scale, rtol=1e-5, atol=0)
    with pytest.raises(ParameterError, match="one rate or one per layer \\(4"):
        init_network_(model.network, [20.0, 5.0], generator=g)
    with pytest.raises(ParameterError, match="`nu\\[1\\]` must be"):
        init_network_(model.network, [20.0, 0.0, 1.0, 1.0], generator=g)


def test_sequential_rates_are_the_rates_the_layers_fire_at(shd_root, one_thread):
    config = _small(rates="sequential", nu="measured")
    data = load_data(config, shd_root)
    model = build_model(config, generator=torch.Generator().manual_seed(0))
    rates = sequential_rates_(model, config, data.nu, torch.Generator().manual_seed(1), data.train)
    assert len(rates) == 4 and rates[0] == data.nu
    x, _ = next(iter(data.train.batches(20, True, torch.Generator().manual_seed(0))))  # the calibration batch
    with torch.no_grad():
        out = model(x)
    dt = config["data"]["dt"]
    fired = [float(s.float().mean()) / dt for s in out.outputs[:-1]]
    for k, r in enumerate(fired):
        assert math.isclose(rates[k + 1], max(r, 0.01), rel_tol=1e-6), (k, rates, fired)


def test_common_rates_are_the_papers(shd_root, one_thread):
    from fluctinit.training import initialize_model

    config = _small(nu=15.8)
    model = build_model(config, generator=torch.Generator().manual_seed(0))
    assert initialize_model(model, config, 15.8, torch.Generator().manual_seed(1)) == [15.8] * 4


def test_config_refuses_sequential_rates_without_a_rate():
    c = copy.deepcopy(load_experiment("shd-conv3-rec"))
    c["init"].update(method="kaiming", rates="sequential")
    with pytest.raises(ParameterError, match="`init.rates`.*'common' or absent unless `init.method` is 'fluctuation'"):
        resolve_config(c)
    c["init"].update(method="fluctuation", rates="layerwise")
    with pytest.raises(ParameterError, match="`init.rates` must be one of 'common', 'predicted', 'sequential'"):
        resolve_config(c)


def test_predicted_rates_are_the_theorys(one_thread):
    """Layer 1 at the data's rate, every later layer at lif_stationary's rate of the target (theory.rates)."""
    from fluctinit.theory import lif_stationary
    from fluctinit.training import initialize_model

    for sigma in (0.5, 1.0, 2.0):
        config = _small(rates="predicted", nu=15.8, sigma_u=sigma)
        model = build_model(config, generator=torch.Generator().manual_seed(0))
        rates = initialize_model(model, config, 15.8, torch.Generator().manual_seed(1))
        r = lif_stationary(0.0, sigma, tau_mem=config["network"]["tau_mem"], tau_syn=config["network"]["tau_syn"],
                           dt=config["data"]["dt"]).rate
        assert rates[0] == 15.8 and all(math.isclose(v, r) for v in rates[1:]) and len(rates) == 4


def test_calibrated_kernels_put_each_layer_on_target(shd_root, one_thread):
    """init.mode 'calibrated': on the calibration batch each feed-forward layer's exact pooled
    free-membrane sigma_i (w'Cw of its actual inputs) averages to the target over its neurons,
    to the Monte-Carlo precision of the Jensen factor and the finite number of neurons."""
    from fluctinit.training import calibrated_kernels_, layer_statistics

    config = _small("shd-conv3-ff", mode="calibrated", nu="measured")
    config["network"]["hidden"] = [16, 16, 16]
    config = resolve_config(config)[0]
    data = load_data(config, shd_root)
    model = build_model(config, generator=torch.Generator().manual_seed(0))
    rates, kernels = calibrated_kernels_(model, config, data.nu, torch.Generator().manual_seed(2), data.train)
    assert all(k is not None for k in kernels) and len(rates) == 4
    x, _ = next(iter(data.train.batches(20, True, torch.Generator().manual_seed(0))))
    with torch.no_grad():
        out = model(x)
    net = model.network
    inputs = [x.reshape(*x.shape[:2], *net.input_shape)] + [o for o in out.outputs[:-2]]
    dt = config["data"]["dt"]
    for layer, inp in zip(net.hidden, inputs):
        st = layer_statistics(layer, inp, dt, readout=False)
        _, sigma = st.moments(layer.weight.detach().double().flatten(1).numpy())
        # sampling error of the mean over n neurons: std(sigma_i) / sqrt(n)
        tol = 4 * sigma.std(ddof=1) / math.sqrt(sigma.size) + 0.01
        assert abs(sigma.mean() - config["init"]["sigma_u"]) < tol, (layer, sigma.mean(), tol)


def test_config_refuses_calibrated_where_it_does_not_apply():
    c = copy.deepcopy(load_experiment("shd-conv3-ff"))
    c["init"].update(mode="calibrated", rates="sequential")
    with pytest.raises(ParameterError, match="`init.rates`.*with `init.mode` 'calibrated'"):
        resolve_config(c)


def test_calibrated_randman_layer_is_on_target(one_thread):
    """Event-form batches (Randman): layer 1 calibrated on a training batch puts its mean sigma_i
    on target over the whole training split (the calibration batch is 400 of its 480 samples),
    where the paper's kernel leaves it at about 0.8 (figure 2c)."""
    from fluctinit.training import initialize_model, input_rate, layer_statistics

    out = {}
    for mode in ("discrete", "calibrated"):
        c = copy.deepcopy(load_experiment("randman-ff"))
        c["data"].update(samples_per_class=60, split=[48, 6, 6])
        c["init"]["mode"] = mode
        c = resolve_config(c)[0]
        data = load_data(c, ".")
        model = build_model(c, generator=torch.Generator().manual_seed(0))
        initialize_model(model, c, input_rate(c, model, data), torch.Generator().manual_seed(1), data)
        batch, _ = next(iter(data.train.batches(480, False, torch.Generator().manual_seed(0))))
        dense = batch.to_dense().transpose(0, 1)  # Randman's batches are SpikeEvents (time-major)
        layer = model.network.hidden[0]
        _, sigma = layer_statistics(layer, dense, c["data"]["dt"]).moments(layer.weight.detach().double().numpy())
        out[mode] = (sigma.mean(), sigma.std(ddof=1) / math.sqrt(sigma.size))
    mean, se = out["calibrated"]
    assert abs(mean - 1.0) < 4 * se + 0.02, out
    mean, se = out["discrete"]
    assert mean < 0.9, out


def test_sequential_rates_keep_the_configs_kernel_mode(shd_root, one_thread):
    """Layer 1 is initialized for the data's rate in both rules, so with the same generator its
    weights are the common rule's, in the config's kernel mode (continuous here)."""
    from fluctinit.training import initialize_model

    weights = {}
    for rates in ("common", "sequential"):
        config = _small(rates=rates, nu=15.8, mode="continuous")
        data = load_data(config, shd_root)
        model = build_model(config, generator=torch.Generator().manual_seed(0))
        initialize_model(model, config, 15.8, torch.Generator().manual_seed(1), data)
        weights[rates] = model.network.hidden[0].weight.detach().clone()
    torch.testing.assert_close(weights["sequential"], weights["common"], rtol=0, atol=0)
