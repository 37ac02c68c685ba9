"""init.method "normal" (figure 3c's parameter search) and the epoch of best validation."""

import math

import pytest
import torch

from fluctinit.errors import ParameterError
from fluctinit.sim import LIFDense, Network
from fluctinit.sim.init import init_network_
from fluctinit.training import best_validation, load_data, resolve_config, run_name, train_experiment
from fluctinit.training.experiments import load_experiment


def _net(recurrent=False):
    g = torch.Generator().manual_seed(0)
    layers = [LIFDense(200, 300, recurrent=recurrent, generator=g, dtype=torch.float64)]
    return Network(layers, 10, input_shape=(200,), tau_out=0.2, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("recurrent", [False, True])
def test_normal_draws_the_given_mean_and_std(recurrent):
    net = _net(recurrent)
    init_network_(net, 5.0, method="normal", mu_w=-0.7, sigma_w=0.25, generator=torch.Generator().manual_seed(1))
    ws = [net.hidden[0].weight.detach()] + ([net.hidden[0].rec_weight.detach()] if recurrent else [])
    for w in ws:
        n = w.numel()
        # mean within 4 standard errors; std's standard error sigma / sqrt(2n)
        assert abs(float(w.mean()) + 0.7) < 4 * 0.25 / math.sqrt(n)
        assert abs(float(w.std()) - 0.25) < 4 * 0.25 / math.sqrt(2 * n)
    # the readout keeps the fluctuation-driven initialization (its std depends on nu, not sigma_w)
    ref = _net(recurrent)
    init_network_(ref, 5.0, method="fluctuation", generator=torch.Generator().manual_seed(1))
    ro, ro_ref = net.readout.weights[0].detach(), ref.readout.weights[0].detach()
    assert abs(float(ro.std()) / float(ro_ref.std()) - 1) < 0.1
    assert abs(float(ro.std()) - 0.25) > 0.05


def test_normal_needs_both_and_others_refuse_them():
    with pytest.raises(ParameterError, match="`sigma_w` must be given with method 'normal'"):
        init_network_(_net(), 5.0, method="normal", mu_w=0.0)
    with pytest.raises(ParameterError, match="`mu_w` must be None unless method is 'normal'"):
        init_network_(_net(), 5.0, method="fluctuation", mu_w=0.0)
    with pytest.raises(ParameterError, match="`sigma_w`"):
        init_network_(_net(), 5.0, method="normal", mu_w=0.0, sigma_w=-1.0)


def _config(**init):
    c = load_experiment("randman-ff")
    c["init"].update(init)
    return c


def test_config_normal_names_and_refusals():
    cfg, _ = resolve_config(_config(method="normal", mu_w=-1.5, sigma_w=2.0))
    assert run_name(cfg, 2) == "randman-ff_normal-mu-1.5-sigma2_seed2"
    with pytest.raises(ParameterError, match=r"`init.mu_w` must be given with `init.method` 'normal'"):
        resolve_config(_config(method="normal", sigma_w=1.0))
    with pytest.raises(ParameterError, match=r"`init.sigma_w` must be absent unless `init.method` is 'normal'"):
        resolve_config(_config(sigma_w=1.0))
    # switching the method by override drops the weights' parameters instead of refusing
    cfg, _ = resolve_config(_config(method="normal", mu_w=0.0, sigma_w=1.0), init="kaiming")
    assert "mu_w" not in cfg["init"] and cfg["init"]["method"] == "kaiming"
    dale = load_experiment("shd-dale")
    dale["init"].update(method="normal", mu_w=0.0, sigma_w=1.0)
    with pytest.raises(ParameterError, match=r"`init.method` must be 'fluctuation' for Dale's-law"):
        resolve_config(dale)


def test_best_validation_picks_the_first_best_epoch():
    h = [{"epoch": 1, "valid_accuracy": 0.5, "test_accuracy": 0.4},
         {"epoch": 2, "valid_accuracy": 0.8, "test_accuracy": 0.7},
         {"epoch": 3, "valid_accuracy": 0.8, "test_accuracy": 0.9},
         {"epoch": 4, "valid_accuracy": 0.6, "test_accuracy": 0.95}]
    assert best_validation(h) == {"epoch": 2, "validation_accuracy": 0.8, "test_accuracy": 0.7}
    assert best_validation([]) is None


def test_a_run_records_test_accuracy_per_epoch(tmp_path, one_thread):
    c = _config(method="normal", mu_w=0.0, sigma_w=0.5)
    c["data"].update(samples_per_class=20, split=[16, 2, 2])
    c["training"].update(batch_size=40, lr=0.02)
    c["network"]["hidden"] = [16]
    r = train_experiment(c, seed=0, epochs=3, data=load_data(c), out=tmp_path, progress=False)
    accs = [h["test_accuracy"] for h in r["history"]]
    assert len(accs) == 3 and all(0 <= a <= 1 for a in accs)
    assert accs[-1] == r["final"]["test_accuracy"]
    best = r["best_validation"]
    assert best == best_validation(r["history"])
    assert (tmp_path / "randman-ff_normal-mu0-sigma0.5_seed0.json").exists()


def test_mu_u_reaches_the_hidden_weights():
    """init.mu_u was accepted and ignored; now the hidden layers are non-centered (eq. 6)."""
    from fluctinit.theory import feedforward_params
    from fluctinit.sim.init import layer_kernels

    net = _net()
    init_network_(net, 5.0, sigma_u=0.5, mu_u=0.4, generator=torch.Generator().manual_seed(2))
    w = net.hidden[0].weight.detach()
    p = feedforward_params(200, 5.0, sigma_u=0.5, mu_u=0.4, kernel=layer_kernels(net.hidden[0])["kernel"])
    assert p.mu_w > 0
    assert abs(float(w.mean()) - p.mu_w) < 4 * p.sigma_w / math.sqrt(w.numel())
    ro = net.readout.weights[0].detach()  # the readout stays centered
    assert abs(float(ro.mean())) < 4 * float(ro.std()) / math.sqrt(ro.numel())
    with pytest.raises(ParameterError, match="`mu_u` must be 0 unless method is 'fluctuation'"):
        init_network_(_net(), 5.0, method="kaiming", mu_u=0.4)


def test_config_mu_u_below_threshold_and_fluctuation_only():
    with pytest.raises(ParameterError, match=r"`init.mu_u` must be < 1 \(`network.theta`"):
        resolve_config(_config(mu_u=1.0))
    with pytest.raises(ParameterError, match=r"`init.mu_u` must be 0 or absent with `init.method` 'kaiming'"):
        resolve_config(_config(mu_u=0.5, method="kaiming"))
    from fluctinit.training import build_model, initialize_model

    cfg, _ = resolve_config(_config(mu_u=0.5))
    ref, _ = resolve_config(_config())
    ws = []
    for c in (cfg, ref):
        m = build_model(c, generator=torch.Generator().manual_seed(0))
        initialize_model(m, c, 5.0, torch.Generator().manual_seed(0))
        ws.append(float(m.network.hidden[0].weight.detach().mean()))
    assert ws[0] > 0.05 > abs(ws[1])
