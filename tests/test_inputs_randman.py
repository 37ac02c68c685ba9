"""Randman: shapes, one spike per unit in the window, 5 Hz, determinism, class structure,
and the published generator's Fourier indexing and spectrum against randman.md's printed formula."""

import math

import numpy as np
import pytest
import torch

from fluctinit.datasets.randman import (
    RANDMAN_CONSTRAINTS,
    RandmanConfig,
    _randman_cache_path,
    make_randman,
    randman_cutoff,
    randman_manifold,
    randman_manifold_params,
    randman_spectrum,
)
from fluctinit.errors import ParameterError

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
    # the published generator: K = min(ceil(precision**(-1/alpha)), max_f_cutoff)
    assert randman_cutoff(1.0, 1e-3, 1000) == 1000  # ceil(1000) = 1000
    assert randman_cutoff(1.0, 1e-3, 300) == 300  # capped
    assert randman_cutoff(2.0, 1e-3, 1000) == 32  # 31**2 = 961 < 1000 < 1024 = 32**2
    assert randman_cutoff(1.0, 0.3, 1000) == 4  # ceil(3.33) = 4
    assert randman_cutoff(1.0, 0.25, 1000) == 4  # ceil(4) = 4: 1/4 <= 0.25 (not 5)
    assert randman_cutoff(2.0, 0.01, 1000) == 10  # ceil(10) = 10


def test_manifold_single_term_closed_form():
    # K = 1, D = 1, randman.md's printed formula: f(x) = a * sin(2*pi*(b*x + c))
    rng = np.random.default_rng(0)
    params = rng.random((3, 4, 1, 1))
    x = rng.random((9, 1))
    a, b, c = (params[i, :, 0, 0] for i in range(3))
    expect = a * np.sin(2 * np.pi * (x * b + c))
    got = randman_manifold(x, params, alpha=1.0, frequencies="printed", spectrum="power")
    assert np.allclose(got, expect, rtol=0, atol=1e-14)
    # reference indexing: the first term has frequency 0, the constant a * s_1 * sin(2 pi c),
    # s_1 = 1/(1 + 1) ("plus_one") or 1 ("power")
    ref = randman_manifold(x, params, alpha=1.0)
    assert np.allclose(ref, np.broadcast_to(a / 2 * np.sin(2 * np.pi * c), (9, 4)), rtol=0, atol=1e-15)
    ref_pow = randman_manifold(x, params, alpha=1.0, spectrum="power")
    assert np.allclose(ref_pow, np.broadcast_to(a * np.sin(2 * np.pi * c), (9, 4)), rtol=0, atol=1e-15)


def _loop_manifold(x, params, alpha, frequencies, spectrum):
    """Independent, straightforward loop over points, coordinates and terms (float64)."""
    a, b, c = params
    n_units, dim, n_terms = a.shape
    out = np.ones((x.shape[0], n_units))
    for p in range(x.shape[0]):
        for m in range(n_units):
            for d in range(dim):
                g = 0.0
                for i in range(n_terms):  # i = k - 1
                    k = i + 1
                    f = i if frequencies == "reference" else k
                    s = 1.0 / (k**alpha + 1.0) if spectrum == "plus_one" else 1.0 / k**alpha
                    g += a[m, d, i] * s * math.sin(2 * math.pi * (f * x[p, d] * b[m, d, i] + c[m, d, i]))
                out[p, m] *= g
    return out


@pytest.mark.parametrize("frequencies", ["reference", "printed"])
@pytest.mark.parametrize("spectrum", ["plus_one", "power"])
@pytest.mark.parametrize("alpha", [1.0, 1.7])
def test_manifold_matches_loop(frequencies, spectrum, alpha):
    rng = np.random.default_rng(11)
    for dim in (1, 2):
        params = rng.random((3, 3, dim, 40))
        x = rng.random((13, dim))
        want = _loop_manifold(x, params, alpha, frequencies, spectrum)
        got = randman_manifold(x, params, alpha, chunk=5, frequencies=frequencies, spectrum=spectrum)
        # sums of 40 terms of size <= 1: float64 round-off ~1e-15
        assert np.allclose(got, want, rtol=0, atol=1e-12)


def test_indexings_differ():
    rng = np.random.default_rng(2)
    params = rng.random((3, 4, 1, 50))
    x = rng.random((20, 1))
    ref = randman_manifold(x, params, 1.0)
    printed = randman_manifold(x, params, 1.0, frequencies="printed", spectrum="power")
    assert np.abs(ref - printed).max() > 0.1


def test_spectrum_closed_forms():
    n, s = randman_spectrum(5, 1.0)
    assert np.array_equal(n, [0, 1, 2, 3, 4])  # the reference's 0-based loop index
    assert np.allclose(s, [1 / 2, 1 / 3, 1 / 4, 1 / 5, 1 / 6], rtol=1e-15)  # 1/(k**alpha + 1)
    n, s = randman_spectrum(5, 2.0, "printed", "power")
    assert np.array_equal(n, [1, 2, 3, 4, 5])
    assert np.allclose(s, [1, 1 / 4, 1 / 9, 1 / 16, 1 / 25], rtol=1e-15)  # randman.md: 1/k**alpha


def test_zero_first_sets_constant_term_to_zero():
    rng = np.random.default_rng(5)
    p0 = randman_manifold_params(4, 2, 7, np.random.default_rng(5), zero_first=False)
    p1 = randman_manifold_params(4, 2, 7, rng, zero_first=True)
    assert np.all(p1[0, :, :, 0] == 0) and np.all(p0[0, :, :, 0] > 0)
    p0[0, :, :, 0] = 0.0
    assert np.array_equal(p0, p1)  # same random stream: only a_1 changes
    # K = 1 with the reference indexing: the manifold is the constant term, now exactly 0
    x = rng.random((6, 2))
    assert np.all(randman_manifold(x, p1[..., :1], 1.0) == 0)


def test_default_config_is_reference():
    c = RandmanConfig()
    assert (c.frequencies, c.spectrum, c.zero_constant, c.split) == (
        "reference", "plus_one", True, "stratified")
    assert randman_cutoff(c.alpha, c.precision, c.max_terms) == 1000


def test_cache_key_depends_on_generator_options(tmp_path):
    base = RandmanConfig(**SMALL)
    keys = {
        _randman_cache_path(tmp_path, RandmanConfig(**{**SMALL, **kw})).name
        for kw in ({}, {"frequencies": "printed"}, {"spectrum": "power"},
                   {"zero_constant": False}, {"split": "pooled"})
    }
    assert len(keys) == 5
    assert _randman_cache_path(tmp_path, base) == _randman_cache_path(tmp_path, RandmanConfig(**SMALL))


def test_printed_option_changes_data(small):
    printed = make_randman(**SMALL, frequencies="printed", spectrum="power")
    assert np.array_equal(printed.train.labels, small.train.labels)  # same random stream
    assert not np.allclose(printed.train.times, small.train.times, atol=1e-3)


def test_zero_constant_effect():
    kw = {**SMALL, "n_classes": 3}
    on, off = make_randman(**kw), make_randman(**kw, zero_constant=False)
    # D = 1: the per-class min-max rescaling removes a constant offset (round-off only)
    assert np.allclose(on.train.times, off.train.times, rtol=0, atol=1e-12)
    # D = 2: g_1 * g_2 turns the constant of g_1 into a multiple of g_2, data change
    on2, off2 = make_randman(**kw, dim_manifold=2), make_randman(**kw, dim_manifold=2, zero_constant=False)
    assert np.abs(on2.train.times - off2.train.times).max() > 1e-3
    # printed indexing has no constant term: the option is ignored
    p_on = make_randman(**kw, dim_manifold=2, frequencies="printed")
    p_off = make_randman(**kw, dim_manifold=2, frequencies="printed", zero_constant=False)
    assert np.array_equal(p_on.train.times, p_off.train.times)


def test_pooled_split_same_samples_random_class_counts(small):
    pooled = make_randman(**SMALL, split="pooled")
    assert (len(pooled.train), len(pooled.valid), len(pooled.test)) == (300, 50, 50)

    def rows(s):
        t = np.concatenate([d.times.reshape(len(d), 20) for d in (s.train, s.valid, s.test)])
        lab = np.concatenate([s.train.labels, s.valid.labels, s.test.labels])
        key = np.lexsort(np.column_stack([t, lab]).T)
        return t[key], lab[key]

    # the same manifolds and samples, only distributed differently over the splits
    t_a, l_a = rows(small)
    t_b, l_b = rows(pooled)
    assert np.array_equal(t_a, t_b) and np.array_equal(l_a, l_b)
    counts = np.bincount(pooled.test.labels, minlength=10)
    assert counts.sum() == 50 and not np.all(counts == 5)  # seed 3: not stratified by chance


def test_manifold_rejects_bad_options():
    params = np.random.default_rng(0).random((3, 2, 1, 3))
    for name, value in (("frequencies", "zero-based"), ("spectrum", "plus-one")):
        with pytest.raises(ParameterError, match=f"`{name}`"):
            randman_manifold(np.zeros((1, 1)), params, 1.0, **{name: value})
        with pytest.raises(ParameterError, match=f"`{name}`"):
            randman_spectrum(3, 1.0, **{name: value})


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
    from fluctinit.datasets import SpikeDataset

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


def test_experiment_config_options_match_the_generator():
    from fluctinit.training.experiments import DATA_CONSTRAINTS

    for field, key in (("frequencies", "frequencies"), ("spectrum", "spectrum"),
                       ("zero_constant", "zero_constant"), ("split", "split_mode")):
        assert set(DATA_CONSTRAINTS[key].options) == set(RANDMAN_CONSTRAINTS[field].options)
