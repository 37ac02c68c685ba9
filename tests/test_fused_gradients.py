"""The fast core against the reference: outputs and gradients in float64, on every path.

The one reference is the simulator's own (sim.neuron's step and loop, reached as
``dispatch(op, "reference")``).  Each test runs three times (the ``kernels`` fixture): with
the compiled CPU kernels on one thread, with the batch rows split over 3 threads (as large
problems are), and with the torch-op loop they replace (the loop CUDA runs).  Projections are
forced dense or event-driven where it matters.  Tolerance: float64 round-off accumulated over
T steps (relative 1e-9 of the gradient's scale); the paths differ only in the order of
floating-point operations.
"""

from __future__ import annotations

import pytest
import torch

from fluctinit.sim import SuperSpike, dispatch, gradient_probe, spike_counts
from fluctinit.sim import _core
from fluctinit.sim._core import compiled
from fluctinit.sim.events import SpikeEvents
from fluctinit.sim.neuron import DaleParams, NeuronParams, ReadoutParams

DT = torch.float64
B, T, N_IN, N = 3, 40, 16, 9


@pytest.fixture(autouse=True, params=["compiled", "compiled_threads", "torch_ops"])
def kernels(request, monkeypatch):
    """Run the test with the compiled CPU kernels (one thread, then the batch rows split over
    3 threads as large problems are), then with the torch-op loop."""
    if request.param.startswith("compiled"):
        if not compiled.AVAILABLE:
            pytest.skip("numba not installed or disabled (FLUCTINIT_NUMBA=0)")
        prev = torch.get_num_threads()
        monkeypatch.setattr(compiled, "_MIN_THREADED", 0)
        torch.set_num_threads(3 if request.param == "compiled_threads" else 1)
        yield request.param
        torch.set_num_threads(prev)
    else:
        monkeypatch.setattr(compiled, "AVAILABLE", False)
        yield request.param


@pytest.fixture
def projection(monkeypatch):
    """Force how the fast core projects dense inputs: ``projection("dense" | "sparse")``."""

    def force(mode):
        monkeypatch.setitem(_core._PROJECTION, "mode", mode)

    return force


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _spikes(shape, p, g):
    return (torch.rand(shape, generator=g, dtype=DT) < p).to(DT)


def _both(op, **kw):
    return (lambda *a: dispatch(op, "fused")(*a, **kw)), (lambda *a: dispatch(op, "reference")(*a, **kw))


def _compare(fused_fn, ref_fn, args, g, *, min_spikes=True):
    """Run both, check outputs, then gradients of a random linear loss w.r.t. ``args``."""
    out_f = fused_fn(*args)
    out_r = ref_fn(*args)
    out_f = out_f if isinstance(out_f, tuple) else (out_f,)
    out_r = out_r if isinstance(out_r, tuple) else (out_r,)
    assert len(out_f) == len(out_r)
    for a, b in zip(out_f, out_r):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    if min_spikes:
        for s in out_r[::2]:
            frac = float(s.detach().mean())
            assert 0.0 < frac < 0.5, f"test network should spike sparsely, got rate {frac}"
    coeffs = [torch.randn(o.shape, generator=g, dtype=DT) for o in out_r]
    grads_f = torch.autograd.grad(sum((o * c).sum() for o, c in zip(out_f, coeffs)), args)
    grads_r = torch.autograd.grad(sum((o * c).sum() for o, c in zip(out_r, coeffs)), args)
    for gf, gr in zip(grads_f, grads_r):
        scale = float(gr.abs().max())
        assert scale > 0.0, "every argument must receive a gradient in this test"
        torch.testing.assert_close(gf, gr, rtol=1e-9, atol=1e-9 * scale)


def _dense_args(g, recurrent: bool, *, w_scale: float, w_shift: float, v_scale: float) -> list:
    """Input spikes, feed-forward weights and (``recurrent``) recurrent weights, all requiring grad."""
    x = _spikes((B, T, N_IN), 0.2, g).requires_grad_()
    w = (w_scale * torch.randn(N, N_IN, generator=g, dtype=DT) + w_shift).requires_grad_()
    if not recurrent:
        return [x, w]
    return [x, w, (v_scale * torch.randn(N, N, generator=g, dtype=DT)).requires_grad_()]


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("mode", ["dense", "sparse"])
@pytest.mark.parametrize("rescaled", [False, True])
def test_lif_matches_reference(recurrent, mode, rescaled, projection):
    projection(mode)
    g = _gen(1)
    args = _dense_args(g, recurrent, w_scale=0.9, w_shift=0.3, v_scale=0.6)
    _compare(*_both("lif_dense", surrogate=SuperSpike(rescaled=rescaled)), args, g)


@pytest.mark.parametrize("recurrent", [False, True])
def test_free_membrane_matches_reference(recurrent):
    """Mode "free": no threshold, no reset, no spikes (S = 0), so no recurrence acts."""
    g = _gen(2)
    args = _dense_args(g, recurrent, w_scale=0.5, w_shift=0.2, v_scale=0.3)
    params = NeuronParams(tau_mem=10e-3, theta=0.8, mode="free")
    fused, ref = _both("lif_dense", params=params)
    s, u = fused(*args)
    assert torch.equal(s, torch.zeros_like(s)) and float(u.detach().abs().max()) > 1.0  # crossings, no spikes
    _compare(lambda *a: fused(*a)[1], lambda *a: ref(*a)[1], args[:2], g, min_spikes=False)


@pytest.mark.parametrize("mode", ["dense", "sparse"])
@pytest.mark.parametrize("exc_rec", [True, False])
def test_dale_matches_reference(mode, exc_rec, projection):
    projection(mode)
    g = _gen(3)
    n_exc, n_inh = 8, 3
    x = _spikes((B, T, N_IN), 0.25, g).requires_grad_()
    shapes = [(n_exc, N_IN), (n_inh, N_IN), (n_exc, n_inh), (n_inh, n_inh), (n_exc, n_exc), (n_inh, n_exc)]
    scales = [0.8, 0.8, 1.5, 0.8, 0.6, 0.6]
    ws = [(s * torch.rand(shape, generator=g, dtype=DT)).requires_grad_() for shape, s in zip(shapes, scales)]
    ws = ws if exc_rec else ws[:4]
    params = DaleParams(tau_mem_exc=20e-3, tau_mem_inh=15e-3, tau_syn_exc=10e-3, tau_syn_inh=20e-3)
    _compare(*_both("dale_dense", params=params), [x, *ws], g)


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("dims", [1, 2])
def test_conv_matches_reference(recurrent, dims):
    g = _gen(4 + dims)
    if dims == 1:
        x = _spikes((B, T, 2, 21), 0.3, g).requires_grad_()
        w = (0.9 * torch.randn(4, 2, 5, generator=g, dtype=DT) + 0.3).requires_grad_()
        v_shape, conv_kw = (4, 4, 5), dict(stride=2, padding=2)
    else:
        x = _spikes((B, T, 2, 7, 6), 0.3, g).requires_grad_()
        w = (0.9 * torch.randn(3, 2, 3, 3, generator=g, dtype=DT) + 0.2).requires_grad_()
        v_shape, conv_kw = (3, 3, 3, 3), dict(stride=1, padding=1)
    args = [x, w]
    if recurrent:
        args.append((0.3 * torch.randn(v_shape, generator=g, dtype=DT)).requires_grad_())
    _compare(*_both("lif_conv", **conv_kw), args, g)


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("with_re", [True, False])
def test_dale_conv_matches_reference(dims, with_re):
    """Convolutional Dale layer: E -> E and E -> I kernels of different sizes (padded to a common
    size and stacked internally), I kernels 3."""
    g = _gen(16 + dims)
    c_in, c_e, c_i = 2, 3, 2
    if dims == 1:
        x = _spikes((B, T, c_in, 16), 0.3, g).requires_grad_()
        k_ff, k_re, k_ri, k_i = (5,), (5,), (3,), (3,)
    else:
        x = _spikes((B, T, c_in, 6, 5), 0.3, g).requires_grad_()
        k_ff, k_re, k_ri, k_i = (3, 3), (3, 3), (1, 1), (3, 3)

    def w(co, ci, k, scale):
        return (scale * torch.rand(co, ci, *k, generator=g, dtype=DT)).requires_grad_()

    args = [x, w(c_e, c_in, k_ff, 0.6), w(c_i, c_in, k_ff, 0.6), w(c_e, c_i, k_i, 0.5), w(c_i, c_i, k_i, 0.3)]
    if with_re:
        args += [w(c_e, c_e, k_re, 0.2), w(c_i, c_e, k_ri, 0.3)]
    params = DaleParams(tau_mem_exc=20e-3, tau_mem_inh=15e-3, tau_syn_exc=10e-3, tau_syn_inh=20e-3)
    _compare(*_both("dale_conv", stride=1, padding=1, params=params), args, g)


@pytest.mark.parametrize("mode", ["dense", "sparse"])
def test_readout_matches_reference(mode, projection):
    projection(mode)
    g = _gen(7)
    x = _spikes((B, T, N_IN), 0.1, g).requires_grad_()
    w = torch.randn(5, N_IN, generator=g, dtype=DT).requires_grad_()
    fused, ref = _both("readout", params=ReadoutParams(tau_out=0.08))
    _compare(lambda x, w: fused([x], [w]), lambda x, w: ref([x], [w]), [x, w], g, min_spikes=False)


def test_readout_with_skip_inputs_matches_reference():
    """Two inputs (a skip connection, paper fig. S10) summed into one readout scan."""
    g = _gen(15)
    x1 = _spikes((B, T, N_IN), 0.1, g).requires_grad_()
    x2 = _spikes((B, T, 2, 4), 0.2, g).requires_grad_()  # a conv layer's output, flattened
    w1 = torch.randn(5, N_IN, generator=g, dtype=DT).requires_grad_()
    w2 = torch.randn(5, 8, generator=g, dtype=DT).requires_grad_()
    fused, ref = _both("readout", params=ReadoutParams(tau_out=0.08))
    _compare(lambda a, b, c, d: fused([a, b], [c, d]), lambda a, b, c, d: ref([a, b], [c, d]),
             [x1, x2, w1, w2], g, min_spikes=False)


def test_current_driven_layer_matches_reference():
    """A given input current (the CIFAR-10 encoder's constant drive, an expanded view)."""
    g = _gen(16)
    c = (1.5 * torch.rand(B, 1, 2, 3, generator=g, dtype=DT)).requires_grad_()
    _compare(*_both("lif_current"), [c.expand(B, T, 2, 3)], g)


def test_two_layer_network_with_event_input_matches_reference(projection):
    """Input as precomputed SpikeEvents -> recurrent layer -> readout, gradients w.r.t. all
    weights; the hidden spikes feed the readout as transposed views (no copy)."""
    projection("sparse")
    g = _gen(8)
    x = _spikes((B, T, N_IN), 0.15, g)
    w = (0.9 * torch.randn(N, N_IN, generator=g, dtype=DT) + 0.3).requires_grad_()
    v = (0.5 * torch.randn(N, N, generator=g, dtype=DT)).requires_grad_()
    wo = torch.randn(4, N, generator=g, dtype=DT).requires_grad_()
    ev = SpikeEvents.from_dense(x, time_major=False).prepare(N)
    ro = ReadoutParams(tau_out=0.1)

    def net(backend, inp):
        s, _ = dispatch("lif_dense", backend)(inp, w, v)
        return dispatch("readout", backend)([s], [wo], params=ro)

    _compare(lambda w, v, wo: net("fused", ev), lambda w, v, wo: net("reference", x), [w, v, wo], g,
             min_spikes=False)


def test_float32_agrees_with_float64_reference():
    """Single precision (the training default) stays within float32 round-off of float64."""
    g = _gen(9)
    x = _spikes((B, T, N_IN), 0.2, g)
    w = 0.9 * torch.randn(N, N_IN, generator=g, dtype=DT) + 0.3
    v = 0.5 * torch.randn(N, N, generator=g, dtype=DT)
    s64, u64 = dispatch("lif_dense", "reference")(x, w, v)
    s32, u32 = dispatch("lif_dense", "fused")(x.float(), w.float(), v.float())
    # a spike flip needs U within float32 round-off of theta: none in this fixed draw
    assert torch.equal(s32.double(), s64)
    torch.testing.assert_close(u32.double(), u64, rtol=0, atol=1e-5)


@pytest.mark.parametrize("form", ["dense", "events_batch", "events_time", "counts"])
@pytest.mark.parametrize("rescaled", [False, True])
@pytest.mark.parametrize("mode", ["reset", "free"])
def test_event_input_scan_matches_reference(form, rescaled, mode, kernels, monkeypatch, projection):
    """Data input (no gradient): the compiled scan adds the input's weight rows per event and
    accumulates the weight gradient from the events; values, spikes and dW equal the
    reference's.  Also checks that the compiled kernels actually took the event path."""
    projection("sparse")
    monkeypatch.setattr(_core, "EVENT_INPUT_MIN_WIDTH", 1)  # a dense data tensor of this narrow layer too
    calls = []
    real = compiled.events_backward
    monkeypatch.setattr(compiled, "events_backward", lambda *a, **k: calls.append(1) or real(*a, **k))
    g = _gen(7)
    x = _spikes((B, T, N_IN), 0.2, g)
    if form == "counts":
        x = x * torch.randint(1, 3, x.shape, generator=g).to(DT)  # 0, 1 or 2 spikes per bin
    w = (0.9 * torch.randn(N, N_IN, generator=g, dtype=DT) + 0.3).requires_grad_()
    if form == "events_batch":
        xin = SpikeEvents.from_dense(x, time_major=False)
    elif form == "events_time":
        xin = SpikeEvents.from_dense(x.transpose(0, 1).contiguous(), time_major=True)
    else:
        xin = x
    kw = dict(params=NeuronParams(mode=mode), surrogate=SuperSpike(rescaled=rescaled))
    out_f = dispatch("lif_dense", "fused")(xin, w, **kw)
    out_r = dispatch("lif_dense", "reference")(x, w, **kw)
    for a, b in zip(out_f, out_r):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    assert (0.0 < float(out_r[0].detach().mean()) < 0.5) == (mode == "reset")
    coeffs = [torch.randn(o.shape, generator=g, dtype=DT) for o in out_r]
    (gf,) = torch.autograd.grad(sum((o * c).sum() for o, c in zip(out_f, coeffs)), [w])
    (gr,) = torch.autograd.grad(sum((o * c).sum() for o, c in zip(out_r, coeffs)), [w])
    scale = float(gr.abs().max())
    assert scale > 0.0
    torch.testing.assert_close(gf, gr, rtol=1e-9, atol=1e-9 * scale)
    assert len(calls) == (0 if kernels == "torch_ops" else 1)


def test_event_input_auto_follows_density(kernels, monkeypatch):
    """Projection "auto": sparse data input takes the event scan, dense input does not, and
    input that needs a gradient never does (its events cannot give dx); a dense tensor becomes
    events only for a layer of at least EVENT_INPUT_MIN_WIDTH neurons (SpikeEvents always)."""
    if kernels == "torch_ops":
        pytest.skip("the event scan needs the compiled kernels")
    calls = []
    real = compiled.events_forward
    monkeypatch.setattr(compiled, "events_forward", lambda *a, **k: calls.append(1) or real(*a, **k))
    g = _gen(8)
    wide = _core.EVENT_INPUT_MIN_WIDTH
    w = torch.randn(wide, N_IN, generator=g, dtype=DT)
    lo = _core.EVENT_INPUT_MAX_DENSITY / 2
    op = dispatch("lif_dense", "fused")
    op(_spikes((B, T, N_IN), lo, g), w)
    assert len(calls) == 1
    op(_spikes((B, T, N_IN), 0.5, g), w)
    assert len(calls) == 1
    op(_spikes((B, T, N_IN), lo, g).requires_grad_(), w)
    assert len(calls) == 1
    x = _spikes((B, T, N_IN), lo, g)
    op(x, w[: wide - 1])  # too narrow for a dense tensor ...
    assert len(calls) == 1
    op(SpikeEvents.from_dense(x, time_major=False), w[: wide - 1])  # ... events given are used
    assert len(calls) == 2


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("events", [False, True])
def test_spike_counts_and_gradient_probe(recurrent, events, kernels):
    """``spike_counts`` of the fast core's spikes equals ``S.sum(time)``, and a loss on S and
    on the counts gives the reference's weight gradients; a hook on S sees the whole gradient
    (both routes), and where the compiled scan keeps a probe it holds that gradient's
    ``sum |dL/dS|``."""
    g = _gen(11)
    x = _spikes((B, T, N_IN), 0.05, g)
    w = (0.9 * torch.randn(N, N_IN, generator=g, dtype=DT) + 0.6).requires_grad_()
    args = [x, w] + ([(0.3 * torch.randn(N, N, generator=g, dtype=DT)).requires_grad_()] if recurrent else [])
    xin = SpikeEvents.from_dense(x, time_major=False) if events else x
    s_f, u_f = dispatch("lif_dense", "fused")(xin, *args[1:])
    s_r, u_r = dispatch("lif_dense", "reference")(*args)
    c_f, c_r = spike_counts(s_f), spike_counts(s_r)
    torch.testing.assert_close(c_f, s_r.sum(dim=1), rtol=0, atol=0)
    probe = gradient_probe(s_f)
    assert (probe is not None) == (kernels != "torch_ops" and not recurrent)
    hooked = {}
    s_f.register_hook(lambda grad: hooked.setdefault("f", grad.detach().clone()))
    s_r.register_hook(lambda grad: hooked.setdefault("r", grad.detach().clone()))
    cs, cu = (torch.randn(o.shape, generator=g, dtype=DT) for o in (s_r, u_r))
    cc = torch.randn(c_r.shape, generator=g, dtype=DT)
    grads = {}
    for key, s, u, c in (("f", s_f, u_f, c_f), ("r", s_r, u_r, c_r)):
        loss = (s * cs).sum() + (u * cu).sum() + (c**2 * cc).sum()
        grads[key] = torch.autograd.grad(loss, args[1:])
    for a, b in zip(grads["f"], grads["r"]):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9 * float(b.abs().max()))
    torch.testing.assert_close(hooked["f"], hooked["r"], rtol=1e-12, atol=1e-12)
    if probe is not None:
        assert float(probe) == pytest.approx(float(hooked["r"].abs().sum()), rel=1e-9)
