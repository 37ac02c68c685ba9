"""SpikeDataset: binning, event form, batches, mean rate, validation."""

import math

import numpy as np
import pytest
import torch

from fluctinit.datasets import DataError, SpikeDataset, n_steps_for
from fluctinit.sim.inputs import poisson_spikes
from fluctinit.errors import ParameterError


@pytest.fixture
def tiny():
    # sample 0: unit 1 at 0.5 ms and 1.5 ms (same 2 ms bin), unit 0 at 3 ms, one spike at 10 ms
    #           (= duration: not binned, cropped away)
    # sample 1: no spikes; sample 2: unit 2 at 9.9 ms (last bin)
    return SpikeDataset.from_samples(
        times=[[0.5e-3, 1.5e-3, 3e-3, 10e-3], [], [9.9e-3]],
        units=[[1, 1, 0, 2], [], [2]],
        labels=[0, 1, 1],
        n_units=3,
        duration=10e-3,
        n_classes=2,
    )


def test_dense_by_hand(tiny):
    x = tiny.dense(dt=2e-3)
    assert x.shape == (3, 5, 3)
    expect = torch.zeros(3, 5, 3)
    expect[0, 0, 1] = 2  # two spikes in one bin are counted
    expect[0, 1, 0] = 1
    expect[2, 4, 2] = 1
    assert torch.equal(x, expect)
    assert torch.equal(tiny.dense(dt=2e-3, binary=True), expect.clamp(max=1))
    assert torch.equal(tiny.dense([2, 0], dt=2e-3), expect[[2, 0]])


def test_events_form(tiny):
    ev = tiny.events(dt=2e-3)
    assert ev.shape == (3, 5, 3)
    assert ev.sample.tolist() == [0, 0, 2]
    assert ev.step.tolist() == [0, 1, 4]
    assert ev.unit.tolist() == [1, 0, 2]
    assert ev.count.tolist() == [2.0, 1.0, 1.0]
    assert torch.equal(ev.to_dense(), tiny.dense(dt=2e-3))


def test_mean_rate_formula(tiny):
    # total spikes / (samples * units * duration) = 5 / (3 * 3 * 0.01)
    assert tiny.mean_rate == pytest.approx(5 / (3 * 3 * 0.01), rel=1e-12)
    cropped = tiny.crop(10e-3)
    assert cropped.n_events == 4
    assert cropped.mean_rate == pytest.approx(4 / (3 * 3 * 0.01), rel=1e-12)


def test_poisson_round_trip_measures_the_rate():
    nu, dt = 20.0, 1e-3
    x = poisson_spikes(50, 400, 30, nu, dt, generator=torch.Generator().manual_seed(0))
    ds = SpikeDataset.from_dense(x, dt, np.zeros(50, dtype=np.int64))
    assert torch.equal(ds.dense(dt=dt), x)
    assert ds.duration == pytest.approx(0.4)
    p, n = nu * dt, x.numel()
    assert abs(ds.mean_rate - nu) < 4 * math.sqrt(p * (1 - p) / n) / dt


def test_n_steps_round_off():
    assert n_steps_for(0.7, 2e-3) == 350  # SHD: 700 ms at 2 ms
    assert n_steps_for(0.2, 2e-3) == 100  # Randman
    assert n_steps_for(1.0, 3e-3) == 334  # ceil


def test_batches_cover_everything_once_and_are_seeded():
    x = poisson_spikes(23, 10, 4, 100.0, 1e-3, generator=torch.Generator().manual_seed(1))
    ds = SpikeDataset.from_dense(x, 1e-3, np.arange(23) % 3, n_classes=3)
    seen = []
    for xb, yb in ds.batches(5, dt=1e-3, generator=torch.Generator().manual_seed(7)):
        assert xb.shape[1:] == (10, 4) and xb.shape[0] == yb.shape[0] <= 5
        seen.append(yb)
    labels = torch.cat(seen)
    assert labels.shape == (23,)
    order1 = [yb for _, yb in ds.batches(5, dt=1e-3, generator=torch.Generator().manual_seed(7))]
    assert torch.equal(torch.cat(order1), labels)
    # contents: each batch equals the dense binning of the same indices
    perm = torch.randperm(23, generator=torch.Generator().manual_seed(7))
    xb, yb = next(iter(ds.batches(5, dt=1e-3, generator=torch.Generator().manual_seed(7))))
    assert torch.equal(xb, x[perm[:5]])
    assert sorted(labels.tolist()) == sorted((np.arange(23) % 3).tolist())
    sizes = [xb.shape[0] for xb, _ in ds.batches(5, dt=1e-3, shuffle=False, drop_last=True)]
    assert sizes == [5, 5, 5, 5]
    ev, _ = next(iter(ds.batches(4, dt=1e-3, shuffle=False, form="events")))
    assert torch.equal(ev.to_dense(), x[:4])


def test_dense_refuses_huge_outputs():
    ds = SpikeDataset.from_samples([[0.1]] * 10, [[0]] * 10, np.zeros(10), 700, 0.7)
    with pytest.raises(ParameterError, match="batches"):
        ds.dense(dt=2e-3, max_elements=10 * 350 * 700 - 1)


def test_subset_and_split():
    ds = SpikeDataset.from_samples([[0.1 * i] for i in range(10)], [[i % 2] for i in range(10)],
                                   np.arange(10) % 2, 2, 1.0)
    sub = ds.subset([3, 1])
    assert sub.labels.tolist() == [1, 1]
    assert sub.times.tolist() == pytest.approx([0.3, 0.1])
    rest, held = ds.split(0.2, seed=4)
    assert len(held) == 2 and len(rest) == 8
    assert sorted(np.concatenate([rest.times, held.times]).tolist()) == pytest.approx(
        sorted(ds.times.tolist()))
    again = ds.split(0.2, seed=4)[1]
    assert np.array_equal(again.times, held.times)


@pytest.mark.parametrize(
    "times, units, match",
    [
        ([[-0.1]], [[0]], "finite and >= 0"),
        ([[float("nan")]], [[0]], "finite and >= 0"),
        ([[0.1]], [[3]], r"\[0, 3\)"),
        ([[0.1]], [[-1]], r"\[0, 3\)"),
        ([[0.1, 0.2]], [[0]], "sample 0"),
    ],
)
def test_malformed_data_rejected(times, units, match):
    with pytest.raises(DataError, match=match):
        SpikeDataset.from_samples(times, units, [0], 3, 1.0)


def test_bad_labels_and_parameters():
    with pytest.raises(DataError, match="labels"):
        SpikeDataset.from_samples([[0.1]], [[0]], [5], 3, 1.0, n_classes=2)
    with pytest.raises(ParameterError, match="`duration`"):
        SpikeDataset.from_samples([[0.1]], [[0]], [0], 3, 0.0)
    ds = SpikeDataset.from_samples([[0.1]], [[0]], [0], 3, 1.0)
    with pytest.raises(ParameterError, match="`dt`"):
        ds.dense(dt=-1.0)
    with pytest.raises(ParameterError, match="`indices`"):
        ds.dense([5])
    with pytest.raises(ParameterError, match="`batch_size`"):
        next(ds.batches(0))
    with pytest.raises(ParameterError, match="`form`"):
        next(ds.batches(1, form="sparse"))
    for bad in ("a", 1.5, 0):
        with pytest.raises(ParameterError, match="`n_steps`"):
            ds.dense(dt=1e-3, n_steps=bad)
        with pytest.raises(ParameterError, match="`n_steps`"):
            ds.events(dt=1e-3, n_steps=bad)
    with pytest.raises(ParameterError, match="`max_elements`"):
        ds.dense(dt=1e-3, max_elements=0)


# ------------------------------------------------------------- properties ----------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402


@given(arrays(np.int64, st.tuples(st.integers(1, 4), st.integers(1, 6), st.integers(1, 5)),
              elements=st.integers(0, 3)),
       st.sampled_from([1e-3, 2e-3, 0.1]))
def test_dense_event_dense_round_trip(x, dt):
    """dense -> events -> dense is the identity, and both binned forms agree."""
    ds = SpikeDataset.from_dense(x, dt, np.zeros(x.shape[0], dtype=np.int64))
    dense = ds.dense(dt=dt, dtype=torch.float64)
    assert np.array_equal(dense.numpy(), x)
    assert torch.equal(ds.events(dt=dt, dtype=torch.float64).to_dense(), dense)
    assert ds.n_events == x.sum()
    assert ds.mean_rate == pytest.approx(x.sum() / (x.size * dt), rel=1e-12)


@given(st.lists(st.tuples(st.floats(0, 0.05, allow_nan=False), st.integers(0, 2)), max_size=30),
       st.sampled_from([1e-3, 3e-3, 7e-3]))
def test_binning_keeps_every_spike_inside_the_duration(events, dt):
    times = [t for t, _ in events]
    units = [u for _, u in events]
    ds = SpikeDataset.from_samples([times], [units], [0], 3, 0.05)
    x = ds.dense(dt=dt)
    n_t = ds.n_steps(dt)
    inside = sum(1 for t in times if int(np.floor(t / dt)) < n_t)
    assert x.sum().item() == inside
    assert x.shape == (1, n_t, 3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_binning_on_cuda_matches_cpu():
    x = poisson_spikes(8, 50, 16, 40.0, 1e-3, generator=torch.Generator().manual_seed(0))
    ds = SpikeDataset.from_dense(x, 1e-3, np.zeros(8, dtype=np.int64))
    assert torch.equal(ds.dense(dt=1e-3, device="cuda").cpu(), x)
    assert torch.equal(ds.events(dt=1e-3, device="cuda").to_dense().cpu(), x)
    g = torch.Generator(device="cuda").manual_seed(0)
    y = poisson_spikes(2, 10, 3, 100.0, 1e-3, generator=g, device="cuda")
    assert y.device.type == "cuda" and y.shape == (2, 10, 3)
