"""Calibrated kernels for recurrent and 2-d convolutional layers (``init.mode = "calibrated"``,
beyond the paper), and the recurrent inputs' own rate and kernel (``rec_rates``, ``kernel_rec``).

Checks that can fail: the pooled statistics of a layer's receptive fields (2-d convolutions with
stride and padding; a recurrent layer's own spikes through its 'same' recurrent kernel) give
exactly the free membrane the simulator computes; the recurrent inverse map with its own
recurrent kernel returns the target and the variance split it was asked for; ``rec_rates``
rescales only the recurrent weights; calibrated recurrent layers put their whole free membrane
(feed-forward and own spikes) on target with the feed-forward share ``alpha``; the config takes
recurrent and conv2d networks and refuses Dale's law.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from fluctinit.errors import ParameterError
from fluctinit.sim import LIFConv1d, LIFConv2d, LIFDense, lif_conv, lif_dense
from fluctinit.sim.neuron import NeuronParams
from fluctinit.theory import KernelIntegrals, kernel_integrals, recurrent_params
from fluctinit.training import build_model, free_sigma, layer_statistics, load_experiment, resolve_config
from fluctinit.training.data import load_data


def _pooled(u: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per channel (axis 2) mean and std pooled over samples, steps and positions."""
    v = u.double().transpose(0, 2).reshape(u.shape[2], -1)
    return v.mean(1).numpy(), v.std(1, unbiased=False).numpy()


@pytest.mark.parametrize("case", ["conv2d", "conv1d-rec", "dense-rec"])
def test_layer_statistics_are_the_simulated_free_membrane(case):
    g = torch.Generator().manual_seed(0)
    dt = 2e-3
    free = NeuronParams(tau_mem=20e-3, tau_syn=10e-3, dt=dt, mode="free")
    if case == "conv2d":
        layer = LIFConv2d(3, 4, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), generator=g)
        x = (torch.rand(5, 30, 3, 9, 7, generator=g) < 0.1).float()
        _, u = lif_conv(x, layer.weight.detach(), None, stride=layer.stride, padding=layer.padding, params=free)
        own, w = None, layer.weight.detach()
    elif case == "conv1d-rec":
        layer = LIFConv1d(2, 3, kernel_size=5, stride=2, padding=2, recurrent=True, generator=g)
        x = (torch.rand(5, 30, 2, 16, generator=g) < 0.1).float()
        _, u_ff = lif_conv(x, layer.weight.detach(), None, stride=2, padding=2, params=free)
        own = (torch.rand(*u_ff.shape, generator=g) < 0.05).float()
        _, u_rec = lif_conv(own, layer.rec_weight.detach(), None, stride=1, padding=2, params=free)
        u = u_ff + u_rec
        w = torch.cat([layer.weight.detach().flatten(1), layer.rec_weight.detach().flatten(1)], 1)
    else:
        layer = LIFDense(6, 4, recurrent=True, generator=g)
        x = (torch.rand(5, 30, 6, generator=g) < 0.1).float()
        own = (torch.rand(5, 30, 4, generator=g) < 0.05).float()
        u = lif_dense(x, layer.weight.detach(), params=free)[1] + lif_dense(own, layer.rec_weight.detach(), params=free)[1]
        w = torch.cat([layer.weight.detach(), layer.rec_weight.detach()], 1)
        u = u.unsqueeze(-1)
    st = layer_statistics(layer, x, dt, own=own)
    mu, sigma = st.moments(w.flatten(1).double().numpy())
    mu_sim, sigma_sim = _pooled(u)
    np.testing.assert_allclose(mu, mu_sim, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(sigma, sigma_sim, rtol=1e-4, atol=1e-6)
    if own is not None:  # the same numbers through the layer's own weights
        mu2, sigma2 = free_sigma(layer, x, own, dt)
        np.testing.assert_allclose(sigma2, sigma, rtol=1e-12)


def test_recurrent_params_with_their_own_recurrent_kernel():
    k_f = kernel_integrals(20e-3, 10e-3, 2e-3)
    k_r = KernelIntegrals(k_f.epsilon_bar * 0.5, k_f.epsilon_hat * 3.0)
    for mu_u in (0.0, -0.3):
        p = recurrent_params(100, 40, 10.0, alpha=0.8, sigma_u=1.0, mu_u=mu_u, nu_rec=4.0, kernel=k_f, kernel_rec=k_r)
        mu, sigma, alpha = p.predicted_moments()
        assert math.isclose(mu, mu_u, abs_tol=1e-12) and math.isclose(sigma, 1.0) and math.isclose(alpha, 0.8)
        assert p.recurrent_kernel == k_r and p.as_dict()["epsilon_hat_rec"] == k_r.epsilon_hat
        same = recurrent_params(100, 40, 10.0, alpha=0.8, sigma_u=1.0, mu_u=mu_u, nu_rec=4.0, kernel=k_f)
        assert same.recurrent_kernel == k_f and "epsilon_hat_rec" not in same.as_dict()
        # only sigma_v (and, through eq. 37, the common mean) sees the recurrent kernel
        if mu_u == 0.0:
            assert same.sigma_w == p.sigma_w and math.isclose(same.sigma_v, p.sigma_v * math.sqrt(3.0))


def _small(name, hidden, **init):
    c = copy.deepcopy(load_experiment(name))
    c["data"]["duration"] = 0.1
    c["network"]["tau_out"] = 0.1
    c["network"]["hidden"] = [hidden] * len(c["network"]["hidden"])
    c["training"]["batch_size"] = 20
    c["init"].update(init)
    return resolve_config(c)[0]


def test_rec_rates_rescale_only_the_recurrent_weights():
    from fluctinit.sim.init import init_network_

    config = _small("shd-conv3-rec", 8)
    net = build_model(config, generator=torch.Generator().manual_seed(0)).network
    draws = {}
    for rec in (None, [5.0, None, 80.0]):
        g = torch.Generator().manual_seed(3)
        init_network_(net, 20.0, generator=g, rec_rates=rec)
        draws[rec is None] = [(layer.weight.detach().clone(), layer.rec_weight.detach().clone()) for layer in net.hidden]
    for k, scale in ((0, math.sqrt(20.0 / 5.0)), (1, 1.0), (2, math.sqrt(20.0 / 80.0))):
        (w0, v0), (w1, v1) = draws[True][k], draws[False][k]
        torch.testing.assert_close(w1, w0, rtol=0, atol=0)
        torch.testing.assert_close(v1, v0 * scale, rtol=1e-5, atol=0)
    with pytest.raises(ParameterError, match="`rec_rates` must hold one entry per hidden layer \\(3\\)"):
        init_network_(net, 20.0, rec_rates=[1.0])
    ff = build_model(_small("shd-conv3-ff", 8), generator=torch.Generator().manual_seed(0)).network
    with pytest.raises(ParameterError, match="`rec_rates\\[0\\]` applies to recurrent layers"):
        init_network_(ff, 20.0, rec_rates=[5.0, None, None])


@pytest.fixture(scope="module")
def shd_root(tmp_path_factory):
    from fluctinit.datasets.standin import write_shd_standin

    root = tmp_path_factory.mktemp("shd")
    write_shd_standin(root, n_train=40, n_test=8, duration=0.1, seed=0)
    return root


@pytest.mark.parametrize("name,hidden", [("shd-rec-128", 64), ("shd-conv3-rec", 24)])
def test_calibrated_recurrent_layers_are_on_target(shd_root, one_thread, name, hidden):
    """Every recurrent layer's whole free membrane (its inputs and its own spikes, w'Cw on the
    calibration batch) averages to the target over its neurons, within the sampling error of
    that mean (the own spikes move a little with the last re-initialization), and the
    feed-forward weights carry alpha of the variance."""
    from fluctinit.training import calibrated_kernels_

    config = _small(name, hidden, mode="calibrated", nu="measured")
    data = load_data(config, shd_root)
    model = build_model(config, generator=torch.Generator().manual_seed(0))
    rates, kernels = calibrated_kernels_(model, config, data.nu, torch.Generator().manual_seed(2), data.train)
    x, _ = next(iter(data.train.batches(20, True, torch.Generator().manual_seed(0))))
    from fluctinit.sim.events import SpikeEvents

    if isinstance(x, SpikeEvents):
        x = x.to_dense().transpose(0, 1)
    with torch.no_grad():
        out = model(x)
    net, dt = model.network, config["data"]["dt"]
    inputs = [x.reshape(*x.shape[:2], *net.input_shape)] + [net.passed_on(k, s) for k, s in enumerate(out.outputs[:-2])]
    for k, (layer, inp) in enumerate(zip(net.hidden, inputs)):
        own = out.outputs[k]
        _, sigma = free_sigma(layer, inp, own, dt)
        tol = 4 * sigma.std(ddof=1) / math.sqrt(sigma.size) + 0.03
        assert abs(sigma.mean() - 1.0) < tol, (k, sigma.mean(), tol)
        st = layer_statistics(layer, inp, dt, own=own)
        n_f = layer.fan_in
        w = layer.weight.detach().double().flatten(1).numpy()
        v = layer.rec_weight.detach().double().flatten(1).numpy()
        var_f = np.einsum("ij,jk,ik->i", w, st.cov[:n_f, :n_f], w).mean()
        var_r = np.einsum("ij,jk,ik->i", v, st.cov[n_f:, n_f:], v).mean()
        share = var_f / (var_f + var_r)
        assert abs(share - 0.9) < 0.05, (k, share)
        assert rates[k + 1] == pytest.approx(max(float(net.passed_on(k, own).float().mean()) / dt, 0.01), rel=0.3)


def test_calibrated_config_takes_recurrent_and_conv2d_nets_and_refuses_dale():
    for name in ("shd-conv3-rec", "shd-rec-128", "cifar10-conv4"):
        c = copy.deepcopy(load_experiment(name))
        c["init"]["mode"] = "calibrated"
        assert resolve_config(c)[0]["init"]["mode"] == "calibrated"
    c = copy.deepcopy(load_experiment("shd-conv3-dale"))
    c["init"]["mode"] = "calibrated"
    with pytest.raises(ParameterError, match="`init.mode`.*for Dale's-law networks"):
        resolve_config(c)


def test_predicted_rates_give_recurrent_inputs_their_own_rate(one_thread):
    """With ``init.rates`` "predicted" a recurrent layer's own spikes are taken at its own
    predicted rate: its recurrent weights are the common draw scaled by sqrt(nu / rate)."""
    from fluctinit.theory import lif_stationary
    from fluctinit.training import initialize_model

    weights = {}
    for rates in ("common", "predicted"):
        config = _small("shd-conv3-rec", 8, rates=rates, nu=15.8)
        model = build_model(config, generator=torch.Generator().manual_seed(0))
        initialize_model(model, config, 15.8, torch.Generator().manual_seed(1))
        weights[rates] = [(layer.weight.detach().clone(), layer.rec_weight.detach().clone())
                          for layer in model.network.hidden]
    r = lif_stationary(0.0, 1.0, tau_mem=20e-3, tau_syn=10e-3, dt=2e-3).rate
    (w_c, v_c), (w_p, v_p) = weights["common"][0], weights["predicted"][0]
    torch.testing.assert_close(w_p, w_c, rtol=0, atol=0)  # layer 1's inputs are the data's in both
    torch.testing.assert_close(v_p, v_c * math.sqrt(15.8 / r), rtol=1e-5, atol=0)


@pytest.mark.parametrize("recurrent", [False, True])
def test_block_statistics_split_the_free_membrane_exactly(recurrent):
    """``block``: the slow part w' cov_slow w is the variance of the free membrane's block means
    (simulated, the layer's own free membrane), and slow + fast is the whole variance."""
    from fluctinit.training import layer_free_membrane

    g = torch.Generator().manual_seed(4)
    dt = 2e-3
    layer = LIFConv1d(2, 3, kernel_size=5, stride=2, padding=2, recurrent=recurrent, generator=g)
    x = (torch.rand(6, 40, 2, 16, generator=g) < (0.02 + 0.2 * (torch.arange(40) >= 20).float()
                                                    )[None, :, None, None]).float()
    own = (torch.rand(6, 40, 3, 8, generator=g) < 0.05).float() if recurrent else None
    u = layer_free_membrane(layer, x, own).double()  # (batch, time, C, P)
    mu, fast, slow = free_sigma(layer, x, own, dt, block=10)
    blocks = u.reshape(6, 4, 10, 3, 8).mean(2)  # (batch, block, C, P)
    v = blocks.transpose(0, 2).reshape(3, -1)
    np.testing.assert_allclose(slow, v.std(1, unbiased=False).numpy(), rtol=1e-4, atol=1e-7)
    _, sigma = _pooled(u)
    np.testing.assert_allclose(np.sqrt(fast ** 2 + slow ** 2), sigma, rtol=1e-4, atol=1e-7)
    assert np.all(slow > 0.3 * sigma)  # the drive steps up half-way: much of the variance is slow
