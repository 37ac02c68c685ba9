"""Fused core vs the plain autograd loop: outputs and gradients in float64 (issue 5, item 3).

The reference is the unbind-based loop in ``tests/fused_reference.py`` (written from the
semantics in docs/DEVELOPING.md, independent of the fused code).  Both paths are run on small
random networks chosen so that neurons spike but not always; the loss is a random linear
functional of every output, so every output's gradient enters.  Tolerance: float64 round-off
accumulated over T steps (relative 1e-9 of the gradient's scale); the two paths differ only
in the order of floating-point operations.

Every test runs twice: with the compiled CPU kernels (sim/_fused_cpu.py, numba) and with the
torch-op loop they replace on CPU (the loop CUDA runs).
"""

from __future__ import annotations

import pytest
import torch

from fluctinit.sim._fused import SpikeEvents, fused_conv, fused_dale, fused_lif, fused_readout
from fused_reference import reference_conv, reference_dale, reference_lif, reference_readout

DT = torch.float64
B, T, N_IN, N = 3, 40, 16, 9


@pytest.fixture(autouse=True, params=["compiled", "compiled_threads", "torch_ops"])
def kernels(request, monkeypatch):
    """Run the test with the compiled CPU kernels (one thread, then the batch rows split over
    3 threads as large problems are), then with the torch-op loop."""
    from fluctinit.sim import _fused_cpu

    if request.param.startswith("compiled"):
        if not _fused_cpu.AVAILABLE:
            pytest.skip("numba not installed or disabled (FLUCTINIT_NUMBA=0)")
        prev = torch.get_num_threads()
        threads = 3 if request.param == "compiled_threads" else 1
        monkeypatch.setattr(_fused_cpu, "_MIN_THREADED", 0)
        torch.set_num_threads(threads)
        yield request.param
        torch.set_num_threads(prev)
    else:
        monkeypatch.setattr(_fused_cpu, "AVAILABLE", False)
        yield request.param


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _spikes(shape, p, g):
    return (torch.rand(shape, generator=g, dtype=DT) < p).to(DT)


def _compare(fused_fn, ref_fn, args, g, *, min_spikes=True):
    """Run both, check outputs, then gradients of a random linear loss w.r.t. ``args``."""
    out_f = fused_fn(*args)
    out_r = ref_fn(*args)
    assert len(out_f) == len(out_r)
    for a, b in zip(out_f, out_r):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    spikes = [o for i, o in enumerate(out_r) if i % 2 == 0] if min_spikes else []
    for s in spikes:
        frac = float(s.detach().mean())
        assert 0.0 < frac < 0.5, f"test network should spike sparsely, got rate {frac}"
    coeffs = [torch.randn(o.shape, generator=g, dtype=DT) for o in out_r]
    loss_f = sum((o * c).sum() for o, c in zip(out_f, coeffs))
    loss_r = sum((o * c).sum() for o, c in zip(out_r, coeffs))
    grads_f = torch.autograd.grad(loss_f, args)
    grads_r = torch.autograd.grad(loss_r, args)
    for gf, gr in zip(grads_f, grads_r):
        scale = float(gr.abs().max())
        assert scale > 0.0, "every argument must receive a gradient in this test"
        torch.testing.assert_close(gf, gr, rtol=1e-9, atol=1e-9 * scale)


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("projection", ["dense", "sparse"])
@pytest.mark.parametrize("surrogate", ["superspike", "superspike_rescaled"])
def test_lif_matches_reference(recurrent, projection, surrogate):
    g = _gen(1)
    x = _spikes((B, T, N_IN), 0.2, g).requires_grad_()
    w = (0.9 * torch.randn(N, N_IN, generator=g, dtype=DT) + 0.3).requires_grad_()
    args = [x, w]
    if recurrent:
        args.append((0.6 * torch.randn(N, N, generator=g, dtype=DT)).requires_grad_())
    kw = dict(surrogate=surrogate)
    _compare(
        lambda *a: fused_lif(*a, projection=projection, **kw),
        lambda *a: reference_lif(*a, **kw),
        args,
        g,
    )


@pytest.mark.parametrize("recurrent", [False, True])
def test_free_membrane_mode_matches_reference(recurrent):
    """reset=False: no reset (free membrane), spikes still reported with surrogate gradient."""
    g = _gen(2)
    x = _spikes((B, T, N_IN), 0.2, g).requires_grad_()
    w = (0.5 * torch.randn(N, N_IN, generator=g, dtype=DT) + 0.2).requires_grad_()
    args = [x, w]
    if recurrent:
        args.append((0.3 * torch.randn(N, N, generator=g, dtype=DT)).requires_grad_())
    _compare(
        lambda *a: fused_lif(*a, reset=False, tau_mem=10e-3, theta=0.8),
        lambda *a: reference_lif(*a, reset=False, tau_mem=10e-3, theta=0.8),
        args,
        g,
        min_spikes=False,
    )


@pytest.mark.parametrize("projection", ["dense", "sparse"])
def test_dale_matches_reference(projection):
    g = _gen(3)
    n_exc, n_inh = 8, 3
    x = _spikes((B, T, N_IN), 0.25, g).requires_grad_()
    shapes = [(n_exc, N_IN), (n_inh, N_IN), (n_exc, n_exc), (n_inh, n_exc), (n_exc, n_inh), (n_inh, n_inh)]
    scales = [0.8, 0.8, 0.6, 0.6, 1.5, 0.8]
    ws = [(s * torch.rand(shape, generator=g, dtype=DT)).requires_grad_() for shape, s in zip(shapes, scales)]
    kw = dict(tau_mem_exc=20e-3, tau_mem_inh=15e-3, tau_syn_exc=10e-3, tau_syn_inh=20e-3)
    _compare(
        lambda *a: fused_dale(*a, projection=projection, **kw),
        lambda *a: reference_dale(*a, **kw),
        [x, *ws],
        g,
    )


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("dims", [1, 2])
def test_conv_matches_reference(recurrent, dims):
    g = _gen(4 + dims)
    if dims == 1:
        x = _spikes((B, T, 2, 21), 0.3, g).requires_grad_()
        w = (0.9 * torch.randn(4, 2, 5, generator=g, dtype=DT) + 0.3).requires_grad_()
        v_shape = (4, 4, 5)
        conv_kw = dict(stride=2, padding=2)
    else:
        x = _spikes((B, T, 2, 7, 6), 0.3, g).requires_grad_()
        w = (0.9 * torch.randn(3, 2, 3, 3, generator=g, dtype=DT) + 0.2).requires_grad_()
        v_shape = (3, 3, 3, 3)
        conv_kw = dict(stride=1, padding=1)
    args = [x, w]
    if recurrent:
        args.append((0.3 * torch.randn(v_shape, generator=g, dtype=DT)).requires_grad_())
    _compare(lambda *a: fused_conv(*a, **conv_kw), lambda *a: reference_conv(*a, **conv_kw), args, g)


@pytest.mark.parametrize("projection", ["dense", "sparse"])
def test_readout_matches_reference(projection):
    g = _gen(7)
    x = _spikes((B, T, N_IN), 0.1, g).requires_grad_()
    w = torch.randn(5, N_IN, generator=g, dtype=DT).requires_grad_()
    kw = dict(tau_mem=0.08, tau_syn=10e-3)
    _compare(
        lambda *a: (fused_readout(*a, projection=projection, **kw),),
        lambda *a: (reference_readout(*a, **kw),),
        [x, w],
        g,
        min_spikes=False,
    )


def test_two_layer_network_with_event_input_matches_reference():
    """Input as precomputed SpikeEvents -> recurrent layer -> readout, gradients w.r.t. all
    weights; the hidden spikes feed the readout as transposed views (no copy)."""
    g = _gen(8)
    x = _spikes((B, T, N_IN), 0.15, g)
    w = (0.9 * torch.randn(N, N_IN, generator=g, dtype=DT) + 0.3).requires_grad_()
    v = (0.5 * torch.randn(N, N, generator=g, dtype=DT)).requires_grad_()
    wo = torch.randn(4, N, generator=g, dtype=DT).requires_grad_()
    ev = SpikeEvents.from_dense(x, time_major=False).prepare(N)

    def fused(w, v, wo):
        s, _ = fused_lif(ev, w, v, projection="sparse")
        return (fused_readout(s, wo, tau_mem=0.1, projection="sparse"),)

    def ref(w, v, wo):
        s, _ = reference_lif(x, w, v)
        return (reference_readout(s, wo, tau_mem=0.1),)

    _compare(fused, ref, [w, v, wo], g, min_spikes=False)


def test_float32_agrees_with_float64_reference():
    """Single precision (the training default) stays within float32 round-off of float64."""
    g = _gen(9)
    x = _spikes((B, T, N_IN), 0.2, g)
    w = 0.9 * torch.randn(N, N_IN, generator=g, dtype=DT) + 0.3
    v = 0.5 * torch.randn(N, N, generator=g, dtype=DT)
    s64, u64 = reference_lif(x, w, v)
    s32, u32 = fused_lif(x.float(), w.float(), v.float())
    # a spike flip needs U within float32 round-off of theta: none in this fixed draw
    assert torch.equal(s32.double(), s64)
    torch.testing.assert_close(u32.double(), u64, rtol=0, atol=1e-5)


# ------------------------------------------------ against the sim package's functional reference

from fluctinit.sim import SuperSpike  # noqa: E402
from fluctinit.sim.lif import DaleParams, NeuronParams, ReadoutParams, dale_dense, lif_conv, lif_dense, readout  # noqa: E402


@pytest.mark.parametrize("rescaled", [False, True])
def test_lif_matches_sim_reference(rescaled):
    g = _gen(11)
    x = _spikes((B, T, N_IN), 0.2, g).requires_grad_()
    w = (0.9 * torch.randn(N, N_IN, generator=g, dtype=DT) + 0.3).requires_grad_()
    v = (0.6 * torch.randn(N, N, generator=g, dtype=DT)).requires_grad_()
    sur = SuperSpike(rescaled=rescaled)
    _compare(
        lambda *a: fused_lif(*a, projection="sparse", surrogate="superspike_rescaled" if rescaled else "superspike"),
        lambda *a: lif_dense(*a, params=NeuronParams(), surrogate=sur),
        [x, w, v],
        g,
    )


def test_dale_matches_sim_reference():
    g = _gen(12)
    n_exc, n_inh = 8, 3
    x = _spikes((B, T, N_IN), 0.25, g).requires_grad_()
    shapes = [(n_exc, N_IN), (n_inh, N_IN), (n_exc, n_exc), (n_inh, n_exc), (n_exc, n_inh), (n_inh, n_inh)]
    scales = [0.8, 0.8, 0.6, 0.6, 1.5, 0.8]
    ws = [(s * torch.rand(shape, generator=g, dtype=DT)).requires_grad_() for shape, s in zip(shapes, scales)]
    kw = dict(tau_mem_exc=20e-3, tau_mem_inh=15e-3, tau_syn_exc=10e-3, tau_syn_inh=20e-3)

    def ref(x, w_fe, w_fi, w_re, w_ri, w_ie, w_ii):
        return dale_dense(x, w_fe, w_fi, w_ie, w_ii, w_re, w_ri, params=DaleParams(**kw))

    _compare(lambda *a: fused_dale(*a, projection="sparse", **kw), ref, [x, *ws], g)


def test_conv_matches_sim_reference():
    g = _gen(13)
    x = _spikes((B, T, 2, 21), 0.3, g).requires_grad_()
    w = (0.9 * torch.randn(4, 2, 5, generator=g, dtype=DT) + 0.3).requires_grad_()
    v = (0.3 * torch.randn(4, 4, 5, generator=g, dtype=DT)).requires_grad_()
    _compare(
        lambda *a: fused_conv(*a, stride=2, padding=2),
        lambda *a: lif_conv(*a, stride=2, padding=2, params=NeuronParams()),
        [x, w, v],
        g,
    )


def test_readout_matches_sim_reference():
    g = _gen(14)
    x = _spikes((B, T, N_IN), 0.1, g).requires_grad_()
    w = torch.randn(5, N_IN, generator=g, dtype=DT).requires_grad_()
    _compare(
        lambda x, w: (fused_readout(x, w, tau_mem=0.08, projection="sparse"),),
        lambda x, w: (readout([x], [w], params=ReadoutParams(tau_out=0.08)),),
        [x, w],
        g,
        min_spikes=False,
    )


def test_readout_with_skip_inputs_matches_sim_reference():
    """Two inputs (a skip connection, paper fig. S10) summed into one readout scan."""
    g = _gen(15)
    x1 = _spikes((B, T, N_IN), 0.1, g).requires_grad_()
    x2 = _spikes((B, T, 2, 4), 0.2, g).requires_grad_()  # a conv layer's output, flattened
    w1 = torch.randn(5, N_IN, generator=g, dtype=DT).requires_grad_()
    w2 = torch.randn(5, 8, generator=g, dtype=DT).requires_grad_()
    _compare(
        lambda x1, x2, w1, w2: (fused_readout([x1, x2], [w1, w2], tau_mem=0.08),),
        lambda x1, x2, w1, w2: (readout([x1, x2], [w1, w2], params=ReadoutParams(tau_out=0.08)),),
        [x1, x2, w1, w2],
        g,
        min_spikes=False,
    )


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("with_re", [True, False])
def test_dale_conv_matches_sim_reference(dims, with_re):
    """Convolutional Dale layer: E kernels 5 (E->E 5, E->I 3 here, padded to a common size
    internally), I kernels 3, against the sim package's dale_conv."""
    from fluctinit.sim._fused import fused_dale_conv
    from fluctinit.sim.lif import dale_conv

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

    w_fe, w_fi = w(c_e, c_in, k_ff, 0.6), w(c_i, c_in, k_ff, 0.6)
    w_ie, w_ii = w(c_e, c_i, k_i, 0.5), w(c_i, c_i, k_i, 0.3)
    w_re, w_ri = (w(c_e, c_e, k_re, 0.2), w(c_i, c_e, k_ri, 0.3)) if with_re else (None, None)
    kw = dict(tau_mem_exc=20e-3, tau_mem_inh=15e-3, tau_syn_exc=10e-3, tau_syn_inh=20e-3)
    conv_kw = dict(stride=1, padding=1)
    args = [x, w_fe, w_fi, w_ie, w_ii] + ([w_re, w_ri] if with_re else [])

    def fused(x, w_fe, w_fi, w_ie, w_ii, w_re=None, w_ri=None):
        return fused_dale_conv(x, w_fe, w_fi, w_re, w_ri, w_ie, w_ii, **conv_kw, **kw)

    def ref(x, w_fe, w_fi, w_ie, w_ii, w_re=None, w_ri=None):
        return dale_conv(x, w_fe, w_fi, w_ie, w_ii, w_re, w_ri, **conv_kw, params=DaleParams(**kw))

    _compare(fused, ref, args, g)


@pytest.mark.parametrize("form", ["dense", "events_batch", "events_time", "counts"])
@pytest.mark.parametrize("surrogate", ["superspike", "superspike_rescaled"])
@pytest.mark.parametrize("reset", [True, False])
def test_event_input_scan_matches_reference(form, surrogate, reset, kernels, monkeypatch):
    """Data input (no gradient): the compiled scan adds the input's weight rows per event and
    accumulates the weight gradient from the events; values, spikes and dW equal the
    reference's.  Also checks that the compiled kernels actually took the event path."""
    from fluctinit.sim import _fused_cpu

    calls = []
    real = _fused_cpu.lif_events_backward
    monkeypatch.setattr(_fused_cpu, "lif_events_backward", lambda *a, **k: calls.append(1) or real(*a, **k))
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
    kw = dict(surrogate=surrogate, reset=reset)
    out_f = fused_lif(xin, w, projection="sparse", **kw)
    out_r = reference_lif(x, w, **kw)
    for a, b in zip(out_f, out_r):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    assert 0.0 < float(out_r[0].detach().mean()) < (0.5 if reset else 1.0)
    coeffs = [torch.randn(o.shape, generator=g, dtype=DT) for o in out_r]
    (gf,) = torch.autograd.grad(sum((o * c).sum() for o, c in zip(out_f, coeffs)), [w])
    (gr,) = torch.autograd.grad(sum((o * c).sum() for o, c in zip(out_r, coeffs)), [w])
    scale = float(gr.abs().max())
    assert scale > 0.0
    torch.testing.assert_close(gf, gr, rtol=1e-9, atol=1e-9 * scale)
    assert len(calls) == (0 if kernels == "torch_ops" else 1)


def test_event_input_auto_follows_density(kernels, monkeypatch):
    """``projection="auto"``: sparse data input takes the event scan, dense input does not,
    and input that needs a gradient never does (its events cannot give dx)."""
    from fluctinit.sim import _fused, _fused_cpu

    if kernels == "torch_ops":
        pytest.skip("the event scan needs the compiled kernels")
    calls = []
    real = _fused_cpu.lif_events_forward
    monkeypatch.setattr(_fused_cpu, "lif_events_forward", lambda *a, **k: calls.append(1) or real(*a, **k))
    g = _gen(8)
    w = torch.randn(N, N_IN, generator=g, dtype=DT)
    lo = _fused.EVENT_INPUT_MAX_DENSITY / 2
    fused_lif(_spikes((B, T, N_IN), lo, g), w)
    assert len(calls) == 1
    fused_lif(_spikes((B, T, N_IN), 0.5, g), w)
    assert len(calls) == 1
    fused_lif(_spikes((B, T, N_IN), lo, g).requires_grad_(), w)
    assert len(calls) == 1


@pytest.mark.parametrize("surrogate", ["superspike", "superspike_rescaled"])
def test_event_scan_counts_and_probe(surrogate, kernels):
    """``extras=True``: the event scan's spike counts equal ``S.sum(time)``; a loss on S and on
    the counts gives the reference's weight gradient, and the probe holds the reference's
    ``sum |dL/dS|`` (both routes)."""
    g = _gen(11)
    x = _spikes((B, T, N_IN), 0.2, g)
    w = (0.9 * torch.randn(N, N_IN, generator=g, dtype=DT) + 0.3).requires_grad_()
    s_f, u_f, ex = fused_lif(x, w, projection="sparse", surrogate=surrogate, extras=True)
    if kernels == "torch_ops":
        assert ex.counts is None and ex.grad_abs_sum is None  # no event scan
        return
    s_r, u_r = reference_lif(x, w, surrogate=surrogate)
    torch.testing.assert_close(ex.counts, s_r.sum(dim=1), rtol=0, atol=0)
    cs, cu = (torch.randn(o.shape, generator=g, dtype=DT) for o in (s_r, u_r))
    cc = torch.randn(ex.counts.shape, generator=g, dtype=DT)
    lf = (s_f * cs).sum() + (u_f * cu).sum() + (ex.counts ** 2 * cc).sum()
    lr = (s_r * cs).sum() + (u_r * cu).sum() + (s_r.sum(dim=1) ** 2 * cc).sum()
    (gf,) = torch.autograd.grad(lf, [w])
    gw, gs = torch.autograd.grad(lr, [w, s_r])
    torch.testing.assert_close(gf, gw, rtol=1e-9, atol=1e-9 * float(gw.abs().max()))
    assert float(ex.grad_abs_sum) == pytest.approx(float(gs.abs().sum()), rel=1e-9)
