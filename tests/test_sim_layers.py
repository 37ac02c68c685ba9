"""Layer modules and the Network container: shapes, fan-in, skip/pooling, dtypes, errors."""


import pytest
import torch

from fluctinit.sim import (
    DaleConv1d,
    DaleConv2d,
    DaleDense,
    LIFConv1d,
    LIFConv2d,
    LIFDense,
    Network,
    Readout,
    lif,
)
from fluctinit.errors import ParameterError

B, T = 2, 12


def spikes(*shape, p=0.2, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g) < p).to(dtype)


@pytest.mark.parametrize(
    "layer, in_shape, out_shape, inh_shape",
    [
        (LIFDense(20, 8), (20,), (8,), None),
        (LIFDense(20, 8, recurrent=True), (20,), (8,), None),
        (LIFConv1d(2, 4, kernel_size=21, stride=10, padding=2, recurrent=True), (2, 700), (4, 69), None),
        (LIFConv1d(3, 4), (3, 40), (4, 20), None),
        (LIFConv2d(2, 4), (2, 8, 8), (4, 10, 10), None),
        (LIFConv2d(2, 4, recurrent=True), (2, 8, 8), (4, 10, 10), None),
        (DaleDense(20, 8, 2), (20,), (8,), (2,)),
        (DaleDense(20, 8, 2, exc_recurrent=False), (20,), (8,), (2,)),
        (DaleConv1d(3, 8, 2), (3, 40), (8, 20), (2, 20)),
        (DaleConv2d(2, 4, 1), (2, 8, 8), (4, 10, 10), (1, 10, 10)),
    ],
)
def test_layer_output_shapes(layer, in_shape, out_shape, inh_shape):
    # conv sizes: floor((L + 2p - k)/s) + 1, e.g. (700 + 4 - 21)//10 + 1 = 69 (table 5, one layer)
    out = layer(spikes(B, T, *in_shape))
    assert tuple(layer.output_shape(in_shape)) == out_shape
    assert out.spikes.shape == (B, T, *out_shape) and out.membrane.shape == (B, T, *out_shape)
    if inh_shape is None:
        assert out.spikes_inh is None and out.membrane_inh is None
    else:
        assert out.spikes_inh.shape == (B, T, *inh_shape)
        assert out.membrane_inh.shape == (B, T, *inh_shape)


def test_conv_fan_in_is_channels_times_kernel():
    assert LIFConv1d(3, 8, kernel_size=5).fan_in == 15
    assert LIFConv1d(3, 8, recurrent=True).fan_in_rec == 8 * 5
    assert LIFConv2d(2, 4, kernel_size=3).fan_in == 18
    assert LIFConv2d(2, 4, recurrent=True).fan_in_rec == 4 * 25
    assert LIFConv1d(3, 8).fan_in_rec is None
    d = DaleConv1d(16, 32, 8, kernel_size=7)
    assert (d.fan_in, d.fan_in_rec, d.fan_in_inh) == (16 * 7, 32 * 5, 8 * 3)
    assert d.w_ie.shape == (32, 8, 3) and d.w_ri.shape == (8, 32, 5)
    d2 = DaleConv2d(4, 8, 2)
    assert (d2.fan_in, d2.fan_in_rec, d2.fan_in_inh) == (4 * 9, 8 * 25, 2 * 9)
    dd = DaleDense(20, 8, 2)
    assert (dd.fan_in, dd.fan_in_rec, dd.fan_in_inh) == (20, 8, 2)


def test_dale_weights_stay_non_negative():
    layer = DaleDense(10, 6, 2, generator=torch.Generator().manual_seed(0))
    assert all((w >= 0).all() for w in layer.dale_weights().values())
    with torch.no_grad():
        layer.w_fe[0, 0] = -5.0
    # the forward pass uses clamp(min=0): a negative entry acts as zero
    x = spikes(B, T, 10)
    out_neg = layer(x)
    with torch.no_grad():
        layer.w_fe[0, 0] = 0.0
    out_zero = layer(x)
    assert torch.equal(out_neg.membrane, out_zero.membrane)
    with torch.no_grad():
        layer.w_fe[0, 0] = -5.0
    layer.apply_constraints_()
    assert layer.w_fe[0, 0].item() == 0.0


def test_network_with_skip_and_pooling_shapes():
    layers = [LIFConv2d(2, 4, recurrent=True), LIFConv2d(4, 4), LIFConv2d(4, 6), LIFConv2d(6, 6)]
    net = Network(layers, 5, input_shape=(2, 8, 8), tau_out=0.05, skip=True, pool=True)
    # 8 -> 10 -> 12 -pool-> 6 -> 8 -> 10 -pool-> 5   (kernel 3, padding 2, stride 1)
    assert net.output_shapes == [(4, 10, 10), (4, 6, 6), (6, 8, 8), (6, 5, 5)]
    assert net.readout.n_in == (400, 144, 384, 150)
    out = net(spikes(B, T, 2, 8, 8, p=0.5))
    assert out.output.shape == (B, T, 5)
    assert [s.shape for s in out.spikes] == [
        (B, T, 4, 10, 10), (B, T, 4, 12, 12), (B, T, 6, 8, 8), (B, T, 6, 10, 10)
    ]
    no_skip = Network(layers, 5, input_shape=(2, 8, 8), tau_out=0.05, pool=True)
    assert no_skip.readout.n_in == (150,)
    assert no_skip(spikes(B, T, 2, 8, 8)).output.shape == (B, T, 5)


def test_network_mixes_conv_dale_and_dense_layers():
    layers = [LIFConv1d(1, 4, recurrent=True), DaleConv1d(4, 8, 2), DaleDense(80, 10, 3), LIFDense(10, 7)]
    net = Network(layers, 3, input_shape=(1, 40), tau_out=0.05, skip=True)
    assert net.readout.n_in == (80, 80, 10, 7)
    out = net(spikes(B, T, 1, 40, p=0.3))
    assert out.output.shape == (B, T, 3)
    assert out.layers[2].spikes_inh.shape == (B, T, 3)
    assert net.readout_sources() == [0, 1, 2, 3]


def test_network_runs_some_layers_and_reuses_known_outputs():
    """``upto`` stops before the readout with the full run's first layers; ``known`` outputs are
    taken as they are (here: silenced), and the layers after them see them."""
    torch.manual_seed(0)
    layers = [LIFConv1d(1, 4, recurrent=True), DaleConv1d(4, 8, 2), DaleDense(80, 10, 3), LIFDense(10, 7)]
    net = Network(layers, 3, input_shape=(1, 40), tau_out=0.05, skip=True)
    for layer in layers:  # strong enough weights that every layer fires
        for p in layer.parameters():
            p.data.abs_().mul_(8.0)
    x = spikes(B, T, 1, 40, p=0.5)
    with torch.no_grad():
        full = net(x)
        part = net(x, upto=2)
        again = net(x, known=full.layers[:3])
        quiet = type(full.layers[0])(torch.zeros_like(full.layers[0].spikes), full.layers[0].membrane)
        silenced = net(x, upto=2, known=[quiet])
    assert part.output is None and len(part.layers) == 2
    for a, b in zip(part.layers, full.layers[:2]):
        assert torch.equal(a.spikes, b.spikes) and torch.equal(a.membrane, b.membrane)
    assert float(full.layers[2].spikes.sum()) > 0
    assert again.layers[0] is full.layers[0] and torch.equal(again.output, full.output)
    assert silenced.layers[0] is quiet and float(silenced.layers[1].spikes.sum()) < float(full.layers[1].spikes.sum())


def test_network_gradients_reach_the_first_layer():
    g = torch.Generator().manual_seed(0)
    net = Network([LIFDense(20, 30, generator=g), LIFDense(30, 30, recurrent=True, generator=g)], 4,
                  input_shape=(20,), tau_out=0.05, skip=True, generator=g)
    with torch.no_grad():
        net.hidden[0].weight.mul_(8.0)
        net.hidden[1].weight.mul_(4.0)
    out = net(spikes(B, 40, 20, p=0.3))
    assert all(s.sum() > 0 for s in out.spikes)
    out.output.max(dim=1).values.sum().backward()
    for p in net.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_float64_layers_and_network():
    net = Network([LIFDense(10, 6, dtype=torch.float64), DaleDense(6, 4, 2, dtype=torch.float64)], 3,
                  input_shape=(10,), tau_out=0.05, skip=True, dtype=torch.float64)
    out = net(spikes(B, T, 10))  # float32 spikes are cast to the weights' dtype
    assert out.output.dtype == torch.float64
    assert all(s.dtype == torch.float64 for s in out.spikes)
    c = LIFConv1d(2, 3, dtype=torch.float64)
    assert c(spikes(B, T, 2, 12, dtype=torch.float64)).membrane.dtype == torch.float64


def test_generator_makes_default_weights_reproducible():
    a = LIFConv1d(2, 3, recurrent=True, generator=torch.Generator().manual_seed(5))
    b = LIFConv1d(2, 3, recurrent=True, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.weight, b.weight) and torch.equal(a.rec_weight, b.rec_weight)


def test_module_backend_choice(monkeypatch):
    calls = []

    def counting(*args, **kwargs):
        calls.append(1)
        return lif.lif_dense(*args, **kwargs)

    monkeypatch.setitem(lif._BACKENDS, "counting", {"lif_dense": counting})
    layer = LIFDense(5, 3, backend="counting")
    layer(spikes(B, T, 5))
    assert calls == [1]
    layer.backend = None
    layer(spikes(B, T, 5))
    assert calls == [1]
    with lif.use_backend("counting"):
        layer(spikes(B, T, 5))
    assert calls == [1, 1]
    with pytest.raises(ParameterError, match="`backend`"):
        LIFDense(5, 3, backend="fast")


def test_readout_module():
    r = Readout([4, 6], 3, tau_out=0.1)
    assert r.fan_in == 10
    u = r(spikes(B, T, 4), spikes(B, T, 2, 3))
    assert u.shape == (B, T, 3)
    with pytest.raises(ParameterError, match="`inputs`"):
        r(spikes(B, T, 4))


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: LIFDense(0, 3), "n_in"),
        (lambda: LIFDense(3, 2.5), "n_out"),
        (lambda: LIFDense(3, 2, tau_mem=-1.0), "tau_mem"),
        (lambda: LIFDense(3, 2, mode="bursting"), "mode"),
        (lambda: LIFConv1d(2, 3, kernel_size=0), "kernel_size"),
        (lambda: LIFConv1d(2, 3, padding=-1), "padding"),
        (lambda: LIFConv2d(2, 3, stride=(1, 1, 1)), "stride"),
        (lambda: LIFConv1d(2, 3, recurrent=True, rec_kernel_size=4), "rec_kernel_size"),
        (lambda: DaleConv1d(2, 3, 1, inh_rec_kernel_size=2), "inh_rec_kernel_size"),
        (lambda: DaleDense(3, 4, 0), "n_inh"),
        (lambda: DaleDense(3, 4, 1, tau_syn_inh=0.0), "tau_syn_inh"),
        (lambda: Readout(3, 2, tau_out=-0.1), "tau_out"),
        (lambda: Network([], 2, input_shape=(3,), tau_out=0.1), "layers"),
        (lambda: Network([LIFDense(3, 4)], 2, input_shape=(5,), tau_out=0.1), "layers"),
        (lambda: Network([LIFDense(3, 4)], 2, input_shape=(3,), tau_out=0.1, pool=True), "pool"),
        (lambda: Network([LIFDense(3, 4), LIFDense(4, 4, dt=1e-3)], 2, input_shape=(3,), tau_out=0.1), "dt"),
    ],
)
def test_bad_arguments_raise_parameter_error(make, name):
    with pytest.raises(ParameterError, match=f"`{name}` must"):
        make()


def test_network_rejects_wrong_input_shape():
    net = Network([LIFDense(3, 4)], 2, input_shape=(3,), tau_out=0.1)
    with pytest.raises(ParameterError, match="`x` must be a tensor of shape"):
        net(torch.zeros(2, 5, 4))
    with pytest.raises(ParameterError, match="`x`"):
        LIFDense(3, 4)(torch.zeros(5, 3))


@pytest.mark.gpu
def test_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    torch.manual_seed(0)
    layers = [LIFConv1d(1, 4, recurrent=True), DaleConv1d(4, 8, 2), LIFDense(80, 10, recurrent=True)]
    net = Network(layers, 3, input_shape=(1, 40), tau_out=0.05, skip=True, dtype=torch.float64)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0)
    x = spikes(B, 30, 1, 40, p=0.3, dtype=torch.float64)
    out_cpu = net(x)
    net_gpu = net.to("cuda")
    out_gpu = net_gpu(x.cuda())
    assert out_gpu.output.device.type == "cuda"
    assert torch.allclose(out_gpu.output.cpu(), out_cpu.output, rtol=1e-9, atol=1e-9)
    for a, b in zip(out_gpu.spikes, out_cpu.spikes):
        assert torch.equal(a.cpu(), b)
    out_gpu.output.sum().backward()
    assert all(p.grad is not None for p in net_gpu.parameters())


@pytest.mark.parametrize("make", [
    lambda **kw: LIFConv1d(2, 3, **kw),
    lambda **kw: DaleDense(4, 3, 2, **kw),
    lambda **kw: DaleConv2d(2, 3, 2, **kw),
])
def test_unknown_layer_option_is_named(make):
    with pytest.raises(ParameterError, match="`tau_membrane` is not an option of this layer; the options are theta"):
        make(tau_membrane=0.02)
    layer = make(theta=0.5, mode="free")  # the shared options reach the layer's parameters
    assert layer.params.theta == 0.5 and layer.params.mode == "free"
