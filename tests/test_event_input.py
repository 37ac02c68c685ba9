"""Spike events from a data loader flow through the simulator: same values and gradients as
the dense batch, on every backend and for every first-layer type (events from the loader
reach the fast core's event-input scan without a dense tensor)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fluctinit.datasets import SpikeDataset
from fluctinit.sim import DaleDense, LIFConv1d, LIFDense, Network, use_backend
from fluctinit.sim import gradient_probe
from fluctinit.sim._core import compiled
from fluctinit.sim.activity import stored_counts
from fluctinit.sim.events import SpikeEvents
from fluctinit.errors import ParameterError

DT = torch.float64


def _dataset(n=6, units=12, duration=0.1, seed=0):
    rng = np.random.default_rng(seed)
    counts = rng.integers(5, 30, size=n)
    total = int(counts.sum())
    return SpikeDataset.from_flat(
        times=rng.uniform(0, duration, total), units=rng.integers(0, units, total), counts=counts,
        labels=rng.integers(0, 3, n), n_units=units, duration=duration, n_classes=3,
    )


def test_event_batch_to_spike_events_matches_the_dense_batch():
    ds = _dataset()
    gen = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    dense = list(ds.batches(4, 2e-3, generator=gen(), dtype=DT))
    events = list(ds.batches(4, 2e-3, generator=gen(), dtype=DT, form="events"))
    assert len(dense) == len(events) == 2
    for (xd, yd), (eb, ye) in zip(dense, events):
        ev = SpikeEvents.from_event_batch(eb)
        assert torch.equal(yd, ye)
        assert ev.shape == (xd.shape[1], xd.shape[0], xd.shape[2])
        assert bool((ev.rows[1:] >= ev.rows[:-1]).all()), "rows ascending without a sort"
        torch.testing.assert_close(ev.to_dense(DT).transpose(0, 1), xd, rtol=0, atol=0)
    assert any(float(x.max()) > 1 for x, _ in dense), "the test data must hold bins with 2+ spikes"


def _net(first, seed=3):
    g = torch.Generator().manual_seed(seed)
    if first == "dense":
        layers = [LIFDense(12, 9, generator=g, dtype=DT), LIFDense(9, 7, recurrent=True, generator=g, dtype=DT)]
    elif first == "single":
        layers = [LIFDense(12, 9, generator=g, dtype=DT)]
    elif first == "dale":
        layers = [DaleDense(12, 8, 3, generator=g, dtype=DT)]
    else:  # a first layer that cannot take events: the network bins them into a dense tensor
        return None
    net = Network(layers, n_out=3, input_shape=(12,), tau_out=0.1, generator=g, dtype=DT)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0).add_(0.05)  # strong enough to spike
    return net


@pytest.mark.parametrize("backend", ["reference", "fused"])
@pytest.mark.parametrize("first", ["dense", "single", "dale"])
def test_network_on_events_equals_network_on_dense(backend, first):
    ds = _dataset(n=5, seed=4)
    (x, _), = list(ds.batches(5, 2e-3, shuffle=False, dtype=DT))
    (eb, _), = list(ds.batches(5, 2e-3, shuffle=False, dtype=DT, form="events"))
    ev = SpikeEvents.from_event_batch(eb)
    net = _net(first)
    with use_backend(backend):
        out_d = net(x)
        out_e = net(ev)
    with use_backend("reference"):
        out_r = net(x)
    # the fast core's compiled scan counts the spikes in its loop where the layer has no
    # recurrence (Dale layers always have)
    counted = backend == "fused" and compiled.AVAILABLE and first != "dale"
    assert (stored_counts(out_e.layers[0].spikes) is not None) == counted
    torch.testing.assert_close(out_e.output, out_d.output, rtol=0, atol=1e-12)
    torch.testing.assert_close(out_e.output, out_r.output, rtol=0, atol=1e-12)
    s = out_d.layers[0].spikes
    assert 0.0 < float(s.detach().mean()) < 0.5
    c = torch.randn(out_d.output.shape, generator=torch.Generator().manual_seed(0), dtype=DT)
    g_d = torch.autograd.grad((out_d.output * c).sum(), list(net.parameters()))
    g_e = torch.autograd.grad((out_e.output * c).sum(), list(net.parameters()))
    g_r = torch.autograd.grad((out_r.output * c).sum(), list(net.parameters()))
    for a, b, r in zip(g_e, g_d, g_r):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(a, r, rtol=1e-9, atol=1e-12)


def test_events_reach_a_conv_first_layer_as_a_dense_tensor():
    ds = _dataset(n=3, seed=5)
    (x, _), = list(ds.batches(3, 2e-3, shuffle=False, dtype=DT))
    (eb, _), = list(ds.batches(3, 2e-3, shuffle=False, dtype=DT, form="events"))
    g = torch.Generator().manual_seed(0)
    net = Network([LIFConv1d(1, 2, 3, generator=g, dtype=DT)], n_out=2, input_shape=(1, 12), tau_out=0.1,
                  generator=g, dtype=DT)
    with pytest.raises(ParameterError, match="input units"):
        net(SpikeEvents.from_event_batch(eb))  # events are (time, batch, units): no channel axis
    net2 = Network([LIFDense(12, 4, generator=g, dtype=DT)], n_out=2, input_shape=(12,), tau_out=0.1,
                   generator=g, dtype=DT)
    with pytest.raises(ParameterError, match="input units"):
        net2(SpikeEvents.from_dense(torch.zeros(3, 50, 11, dtype=DT), time_major=False))


@pytest.mark.parametrize("events", [True, False])
def test_counts_from_the_scan_give_the_same_regularized_gradients_and_recording(events):
    """Regularizers on the counts the fast core made in its time loop (``spike_counts``) equal
    regularizers on ``S.sum(time)``: loss, weight gradients, and the recorded
    surrogate-gradient magnitude of ``S``; and both equal the reference backend's."""
    from fluctinit.training.losses import homeostatic_loss, max_over_time_cross_entropy, upper_bound_loss
    from fluctinit.training.recording import GradientRecorder
    from fluctinit.sim import spike_counts

    ds = _dataset(n=6, seed=6)
    (x, y), = list(ds.batches(6, 2e-3, shuffle=False, dtype=DT))
    (eb, _), = list(ds.batches(6, 2e-3, shuffle=False, dtype=DT, form="events"))
    net = _net("dense")
    results = []
    for backend, use_counts in (("fused", True), ("fused", False), ("reference", False)):
        xin = SpikeEvents.from_event_batch(eb) if events and backend == "fused" else x
        with use_backend(backend):
            out = net(xin)
        s = [rec.spikes for rec in out.layers]
        if backend == "fused" and compiled.AVAILABLE:
            # the first layer counted in its scan; the recurrent second one is summed from S
            torch.testing.assert_close(stored_counts(s[0]), s[0].sum(dim=1), rtol=0, atol=0)
            assert stored_counts(s[1]) is None
        counts = [spike_counts(sp) if use_counts else sp.sum(dim=1) for sp in s]
        rec = GradientRecorder(s + [out.output])
        sup, _ = max_over_time_cross_entropy(out.output, y)
        # bounds chosen so that both regularizers are active on some samples and neurons
        loss = sup + upper_bound_loss(counts, 0.5, 0.3) + homeostatic_loss(counts, 2.0, 0.2)
        grads = torch.autograd.grad(loss, list(net.parameters()))
        results.append((float(loss.detach()), grads, rec.magnitudes()))
    (l1, g1, m1) = results[0]
    for l2, g2, m2 in results[1:]:
        assert l1 == pytest.approx(l2, rel=1e-12)
        for a, b in zip(g1, g2):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
        assert m1 == pytest.approx(m2, rel=1e-9)
    assert min(m1) > 0


def test_recorded_gradient_magnitude_with_fused_readout_equals_reference():
    """Single dense layer + readout, regularized through the spike counts: on the fast core the
    recorder reads the scan's gradient probe, on the reference a plain hook; the same mean
    |dL/dS|."""
    from fluctinit.training.losses import max_over_time_cross_entropy, spike_counts, upper_bound_loss
    from fluctinit.training.recording import GradientRecorder

    ds = _dataset(n=6, seed=9)
    (x, y), = list(ds.batches(6, 2e-3, shuffle=False, dtype=DT))
    (eb, _), = list(ds.batches(6, 2e-3, shuffle=False, dtype=DT, form="events"))
    net = _net("single")
    mags = {}
    for backend, xin in (("reference", x), ("fused", SpikeEvents.from_event_batch(eb))):
        with use_backend(backend):
            out = net(xin)
        spikes = out.layers[0].spikes
        assert (gradient_probe(spikes) is not None) == (backend == "fused" and compiled.AVAILABLE)
        rec = GradientRecorder([spikes, out.output])
        loss = max_over_time_cross_entropy(out.output, y)[0] + upper_bound_loss([spike_counts(spikes)], 0.5, 0.3)
        loss.backward()
        mags[backend] = rec.magnitudes()
    assert mags["fused"] == pytest.approx(mags["reference"], rel=1e-9)
    assert min(mags["reference"]) > 0
