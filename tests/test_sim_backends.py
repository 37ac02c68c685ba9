"""The "fused" backend (the fast core, sim/_core/), reached through the dispatch point, equals the reference.

In float64, so forward values and gradients must agree to rounding.
"""

import pytest
import torch

from fluctinit.sim import (
    DaleDense,
    LIFConv1d,
    LIFConv2d,
    LIFDense,
    Network,
    SuperSpike,
    dispatch,
    init_network_,
    use_backend,
)
from fluctinit.sim.neuron import DaleParams, NeuronParams, ReadoutParams

F64 = torch.float64


def rand_spikes(*shape, p=0.2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g) < p).to(F64)


def weights(*shape, scale=1.0, seed=1, positive=False):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(*shape, generator=g, dtype=F64) * scale
    return (w.abs() if positive else w).requires_grad_(True)


def compare(op, args, kwargs):
    ref = dispatch(op, "reference")(*args, **kwargs)
    fus = dispatch(op, "fused")(*args, **kwargs)
    ref = ref if isinstance(ref, tuple) else (ref,)
    fus = fus if isinstance(fus, tuple) else (fus,)
    for a, b in zip(ref, fus):
        assert a.shape == b.shape
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-10)
    params = [t for t in args if isinstance(t, torch.Tensor) and t.requires_grad]
    for t in args:
        if isinstance(t, list):
            params += [w for w in t if w.requires_grad]
    loss = lambda outs: sum((o * torch.linspace(0.5, 1.5, o.shape[1], dtype=F64)[None, :, None]  # noqa: E731
                             .reshape(1, -1, *([1] * (o.dim() - 2)))).sum() for o in outs)
    g_ref = torch.autograd.grad(loss(ref), params, allow_unused=True)
    g_fus = torch.autograd.grad(loss(fus), params, allow_unused=True)
    for a, b in zip(g_ref, g_fus):
        if a is None or b is None:
            assert (a is None or a.abs().sum() == 0) and (b is None or b.abs().sum() == 0)
        else:
            assert torch.allclose(a, b, rtol=1e-8, atol=1e-10)
    return ref


@pytest.mark.parametrize("mode", ["reset", "free"])
@pytest.mark.parametrize("rescaled", [False, True])
def test_lif_dense(mode, rescaled):
    x = rand_spikes(3, 40, 20)
    out = compare("lif_dense", (x, weights(15, 20, scale=2.0), weights(15, 15, seed=2)),
                  {"params": NeuronParams(mode=mode), "surrogate": SuperSpike(rescaled=rescaled)})
    assert (out[0].sum() > 0) == (mode == "reset")


@pytest.mark.parametrize("nd", [1, 2])
def test_lif_conv(nd):
    x = rand_spikes(2, 25, 3, *([12] * nd), p=0.3)
    k = (3,) * nd
    compare("lif_conv", (x, weights(4, 3, *k, scale=2.0), weights(4, 4, *((5,) * nd), seed=3)),
            {"stride": 1, "padding": 1, "params": NeuronParams()})


@pytest.mark.parametrize("exc_rec", [True, False])
@pytest.mark.parametrize("mode", ["reset", "free"])
def test_dale_dense(exc_rec, mode):
    x = rand_spikes(3, 40, 20, p=0.3)
    ws = [weights(8, 20, scale=1.5, seed=4, positive=True), weights(3, 20, scale=1.5, seed=5, positive=True),
          weights(8, 3, seed=6, positive=True), weights(3, 3, seed=7, positive=True)]
    if exc_rec:
        ws += [weights(8, 8, scale=0.3, seed=8, positive=True), weights(3, 8, scale=0.3, seed=9, positive=True)]
    compare("dale_dense", tuple([x] + ws), {"params": DaleParams(tau_mem_inh=15e-3, mode=mode)})


@pytest.mark.parametrize("nd", [1, 2])
@pytest.mark.parametrize("exc_rec", [True, False])
@pytest.mark.parametrize("mode", ["reset", "free"])
def test_dale_conv(nd, exc_rec, mode):
    x = rand_spikes(2, 25, 3, *([10] * nd), p=0.3)
    k3, k5 = (3,) * nd, (5,) * nd
    ws = [weights(4, 3, *k3, scale=1.5, seed=4, positive=True), weights(2, 3, *k3, scale=1.5, seed=5, positive=True),
          weights(4, 2, *k3, seed=6, positive=True), weights(2, 2, *k3, seed=7, positive=True)]
    if exc_rec:
        ws += [weights(4, 4, *k5, scale=0.3, seed=8, positive=True), weights(2, 4, *k5, scale=0.3, seed=9, positive=True)]
    out = compare("dale_conv", tuple([x] + ws),
                  {"stride": 1, "padding": 1, "params": DaleParams(tau_mem_inh=15e-3, mode=mode)})
    assert (out[0].sum() > 0) == (mode == "reset")


def test_readout_with_skip_inputs():
    xs = [rand_spikes(2, 30, 5, seed=1), rand_spikes(2, 30, 2, 3, seed=2)]
    ws = [weights(4, 5, seed=3), weights(4, 6, seed=4)]
    compare("readout", (xs, ws), {"params": ReadoutParams(tau_out=0.1)})


def test_network_forward_is_backend_independent():
    layers = [LIFDense(20, 30, recurrent=True, dtype=F64), DaleDense(30, 16, 4, dtype=F64)]
    net = Network(layers, 5, input_shape=(20,), tau_out=0.1, skip=True, dtype=F64)
    init_network_(net, 20.0, generator=torch.Generator().manual_seed(0))
    x = rand_spikes(4, 50, 20)
    ref = net(x)
    with use_backend("fused"):
        fus = net(x)
    assert torch.allclose(ref.output, fus.output, rtol=1e-10, atol=1e-10)
    for a, b in zip(ref.spikes, fus.spikes):
        assert torch.equal(a, b)
    conv = LIFConv2d(2, 3, recurrent=True, dtype=F64, backend="fused")
    conv1 = LIFConv1d(2, 3, dtype=F64, backend="fused")
    assert conv(rand_spikes(1, 5, 2, 6, 6)).spikes.shape == (1, 5, 3, 8, 8)
    assert conv1(rand_spikes(1, 5, 2, 10)).spikes.shape == (1, 5, 3, 5)
