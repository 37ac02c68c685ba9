"""Randman: shapes, one spike per unit in the window, 5 Hz, determinism, class structure."""

import numpy as np
import pytest
import torch

from fluctinit.sim.inputs import (
    RANDMAN_CONSTRAINTS,
    RandmanConfig,
    make_randman,
    randman_cutoff,
    randman_manifold,
)
from fluctinit.theory import ParameterError

SMALL = dict(samples_per_class=40, n_train=30, n_valid=5, n_test=5, max_terms=200, seed=3)


@pytest.fixture(scope="module")
def small():
    return make_randman(**SMALL)


def test_paper_defaults():
    # paper section 4.1: 20 units, 10 classes, D = alpha = 1, 800/100/100, 100 ms + 100 ms
    c = RandmanConfig()
    assert (c.n_units, c.n_classes, c.dim_manifold, c.alpha) == (20, 10, 1, 1.0)
    assert (c.samples_per_class, c.n_train, c.n_valid, c.n_test) == (1000, 800, 100, 100)
    assert c.spike_window == 0.1 and c.duration == pytest.approx(0.2)
    assert c.mean_rate == pytest.approx(5.0)  # paper: nu_randman = 5 Hz


def test_shapes(small):
    assert (len(small.train), len(small.valid), len(small.test)) == (300, 50, 50)
    x = small.train.dense(np.arange(7), dt=2e-3)
    assert x.shape == (7, 100, 20)  # 200 ms / 2 ms = 100 steps
    for ds, n in ((small.train, 30), (small.valid, 5), (small.test, 5)):
        assert np.array_equal(np.bincount(ds.labels, minlength=10), np.full(10, n))


def test_one_spike_per_unit_inside_window(small):
    for ds in (small.train, small.valid, small.test):
        assert np.all(ds.spike_counts() == 20)
        assert np.all(ds.times < 0.1) and np.all(ds.times >= 0)
        for i in range(0, len(ds), 17):
            _, units, _ = ds.sample(i)
            assert np.array_equal(np.sort(units), np.arange(20))
        x = ds.dense(dt=2e-3)
        assert torch.all(x[:, :50].sum(dim=1) == 1)  # exactly one spike per unit in the window
        assert x[:, 50:].sum() == 0  # silence


def test_mean_rate_is_5hz_exactly(small):
    for ds in (small.train, small.valid, small.test):
        assert ds.mean_rate == pytest.approx(5.0, rel=1e-12)


def test_spikes_span_the_window(small):
    # each coordinate is rescaled to [0, 1] over its class: min 0 and max ~T_spk per class and unit
    t = np.concatenate([small.train.times, small.valid.times, small.test.times])
    assert t.min() == 0.0
    assert t.max() == pytest.approx(0.1, rel=1e-9)


def test_determinism_by_seed(small):
    again = make_randman(**SMALL)
    other = make_randman(**{**SMALL, "seed": 4})
    assert np.array_equal(again.train.times, small.train.times)
    assert np.array_equal(again.test.labels, small.test.labels)
    assert not np.array_equal(other.train.times, small.train.times)


def test_classes_differ(small):
    # 1-nearest-neighbour on spike-time vectors: far above chance (1/10) when classes differ
    def vectors(ds):
        v = np.empty((len(ds), 20))
        for i in range(len(ds)):
            t, u, _ = ds.sample(i)
            v[i, u] = t
        return v

    tr, te = vectors(small.train), vectors(small.test)
    d = ((te[:, None, :] - tr[None, :, :]) ** 2).sum(-1)
    acc = np.mean(small.train.labels[d.argmin(1)] == small.test.labels)
    # chance 0.1 with binomial SE sqrt(0.1*0.9/50) = 0.042: 0.5 is > 9 SE above it
    assert acc > 0.5


def test_cutoff_closed_forms():
    assert randman_cutoff(1.0, 1e-3, 1000) == 1000  # 1/k < 1e-3 first at k = 1001, capped
    assert randman_cutoff(2.0, 1e-3, 1000) == 32  # 31**2 = 961 < 1000 < 1024 = 32**2
    assert randman_cutoff(1.0, 0.3, 1000) == 4  # 1/4 < 0.3 <= 1/3


def test_manifold_single_term_closed_form():
    # K = 1, D = 1: f(x) = a * sin(2*pi*(b*x + c))
    rng = np.random.default_rng(0)
    params = rng.random((3, 4, 1, 1))
    x = rng.random((9, 1))
    a, b, c = (params[i, :, 0, 0] for i in range(3))
    expect = a * np.sin(2 * np.pi * (x * b + c))
    assert np.allclose(randman_manifold(x, params, alpha=1.0), expect, rtol=0, atol=1e-14)


def test_several_spikes_per_unit():
    s = make_randman(**{**SMALL, "spikes_per_unit": 2, "n_classes": 3})
    assert np.all(s.train.spike_counts() == 40)
    assert s.train.mean_rate == pytest.approx(10.0, rel=1e-12)


def test_cache_round_trip(tmp_path):
    a = make_randman(**SMALL, cache_dir=tmp_path)
    files = list(tmp_path.glob("randman-*.npz"))
    assert len(files) == 1
    b = make_randman(**SMALL, cache_dir=tmp_path)
    assert np.array_equal(a.train.times, b.train.times)
    files[0].write_bytes(b"garbage")  # unreadable cache: regenerated, not trusted
    c = make_randman(**SMALL, cache_dir=tmp_path)
    assert np.array_equal(a.valid.times, c.valid.times)
    assert not list(tmp_path.glob("*.tmp"))


def test_event_and_dense_forms_interchangeable(small):
    from fluctinit.sim.data import SpikeDataset

    x = small.valid.dense(dt=1e-3)
    back = SpikeDataset.from_dense(x, 1e-3, small.valid.labels, n_classes=10)
    assert torch.equal(back.dense(dt=1e-3), x)
    assert torch.equal(small.valid.events(dt=1e-3).to_dense(), x)


@pytest.mark.parametrize("name", sorted(RANDMAN_CONSTRAINTS))
def test_every_parameter_out_of_range_raises(name):
    for value in RANDMAN_CONSTRAINTS[name].sample_invalid():
        with pytest.raises(ParameterError) as err:
            RandmanConfig(**{name: value})
        assert f"`{name}`" in str(err.value)


def test_split_sizes_must_sum():
    with pytest.raises(ParameterError, match="n_train"):
        RandmanConfig(samples_per_class=10, n_train=5, n_valid=2, n_test=2)


@pytest.mark.slow
def test_paper_sized_data_set():
    s = make_randman()
    assert (len(s.train), len(s.valid), len(s.test)) == (8000, 1000, 1000)
    assert s.train.mean_rate == pytest.approx(5.0, rel=1e-12)
