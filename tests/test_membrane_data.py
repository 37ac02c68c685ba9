"""Membrane statistics on data sets: SHD-format files (generated) and Randman (paper figure 2).

SHD-format reference (exact, derivation below): spikes of a homogeneous Poisson process in
continuous time, binned at dt, are independent Poisson counts with mean and variance
``p = nu*dt`` per bin.  From ``U[0] = 0`` over the whole trial (steps 0..T-1, the paper's
choice for data sets) neuron ``i`` with weights ``w`` has ``E[U_n] = (sum w) p C1[n]`` and
``Var[U_n] = |w|^2 p C2[n]``, with ``C1[n] = sum_{k<=n} K[k]``, ``C2[n] = sum_{k<=n} K[k]^2``
(``K`` = theory.psp_kernel).  The pooled variance over S samples and T steps then has the
expectation

    mean_n Var[U_n] + var_n E[U_n] - Var(U_bar),
    Var(U_bar) = |w|^2 p / (S T^2) * sum_{m<T} C1[T-1-m]^2

and the pooled mean ``(sum w) p mean_n C1[n]``.
"""

import math

import h5py
import numpy as np
import pytest
import torch

from fluctinit import theory
from fluctinit import validation as M

Z = 4.0


pytestmark = pytest.mark.usefixtures("one_thread")


def write_shd_file(path, times, units, labels):
    """The official SHD layout: spikes/times (vlen float, s), spikes/units (vlen uint16), labels."""
    with h5py.File(path, "w") as f:
        g = f.create_group("spikes")
        dt_t = g.create_dataset("times", (len(times),), dtype=h5py.vlen_dtype(np.float32))
        dt_u = g.create_dataset("units", (len(units),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (t, u) in enumerate(zip(times, units)):
            dt_t[i] = np.asarray(t, dtype=np.float32)
            dt_u[i] = np.asarray(u, dtype=np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint8))
        e = f.create_group("extra")
        e.create_dataset("speaker", data=np.zeros(len(times), dtype=np.uint16))


def poisson_events(rng, n_samples, n_units=700, nu=15.8, t_max=0.9):
    times, units = [], []
    for _ in range(n_samples):
        k = rng.poisson(nu * n_units * t_max)
        t = rng.random(k) * t_max  # beyond 0.7 s too: the loader must cut them
        order = np.argsort(t)
        times.append(t[order])
        units.append(rng.integers(0, n_units, k)[order])
    return times, units


@pytest.fixture(scope="module")
def shd_files(tmp_path_factory):
    rng = np.random.default_rng(7)
    root = tmp_path_factory.mktemp("shd")
    files = []
    for g in range(6):
        t, u = poisson_events(rng, 8)
        path = root / f"shd_train_{g}.h5"
        write_shd_file(path, t, u, rng.integers(0, 20, 8))
        files.append((path, t, u))
    return files


def test_shd_source_bins_the_official_layout(shd_files):
    path, times, units = shd_files[0]
    src = M.shd_source(path, batch_size=3)
    assert (src.n_inputs, src.n_steps, src.n_samples, src.window) == (700, 350, 8, (0, 350))
    x = torch.cat(list(src.batches()))
    for i in (0, 5):
        t, u = times[i], units[i]
        t32 = t.astype(np.float32).astype(np.float64)  # the file stores float32
        keep = t32 < 0.7
        ref = np.zeros((350, 700))
        np.add.at(ref, (np.floor(t32[keep] / 2e-3).astype(int), u[keep]), 1)
        np.testing.assert_array_equal(x[i].numpy(), ref)
    rates = M.measure_rates(src)  # counted from the events, without binning
    assert rates.shape == (700,)
    np.testing.assert_allclose(rates, x.double().sum((0, 1)).numpy() / (8 * 350 * 2e-3), rtol=1e-12)
    assert abs(rates.mean() - 15.8) < Z * math.sqrt(15.8 / (700 * 8 * 0.7))


def test_shd_source_reads_an_fsdd_file_with_its_own_channels(tmp_path):
    # FSDD through SHD's cochlear model, in SHD's layout: the same reading and binning, the file's
    # `channels` attribute as the inputs, the source named "fsdd"
    from fluctinit.datasets import write_spike_file
    from fluctinit.errors import ParameterError

    rng = np.random.default_rng(11)
    t, u = poisson_events(rng, 5, n_units=32)
    path = tmp_path / "fsdd_train.h5"
    write_spike_file(path, t, u, rng.integers(0, 10, 5), attrs={"channels": 32})
    fsdd, shd = M.shd_source(path, dataset="fsdd", batch_size=2), M.shd_source(path, batch_size=2)
    assert (fsdd.name, fsdd.n_inputs, shd.name, shd.n_inputs) == ("fsdd", 32, "shd", 700)
    x_fsdd, x_shd = torch.cat(list(fsdd.batches())), torch.cat(list(shd.batches()))
    torch.testing.assert_close(x_fsdd, x_shd[..., :32], rtol=0, atol=0)
    assert not x_shd[..., 32:].any()
    np.testing.assert_array_equal(M.measure_rates(fsdd), M.measure_rates(shd)[:32])
    for bad in M.CONSTRAINTS["dataset"].sample_invalid():
        with pytest.raises(ParameterError, match=r"^`dataset` must be one of 'shd', 'fsdd'; got "):
            M.shd_source(path, dataset=bad)
    with pytest.raises(FileNotFoundError, match="no FSDD file at .*fluctinit data fsdd"):
        M.shd_source(tmp_path / "none.h5", dataset="fsdd")


def test_shd_format_moments_match_exact_expectation(shd_files):
    nu, dt, T, S = 15.8, 2e-3, 350, 8
    pop = M.draw_population("feedforward", 128, 700, nu, sigma_u=1.0, generator=torch.Generator().manual_seed(3))
    w = pop.channels[0].weights.double().numpy()
    K = np.asarray(theory.psp_kernel(20e-3, 10e-3, dt, T), dtype=float)
    C1, C2 = np.cumsum(K), np.cumsum(K**2)
    p = nu * dt
    w2, w1 = (w**2).sum(1), w.sum(1)
    var_ubar = w2 * p / (S * T**2) * (C1[::-1] ** 2).sum()
    expected_var = w2 * p * C2.mean() + (w1 * p) ** 2 * C1.var() - var_ubar
    expected_mu = w1 * p * C1.mean()
    ratios, dmu = [], []
    for path, _, _ in shd_files:
        m = M.measure_membrane(M.shd_source(path), pop)
        ratios.append(np.mean(m.sigma_u**2 / expected_var))
        dmu.append(np.mean((m.mu_u - expected_mu) / np.sqrt(expected_var)))
    ratios, dmu = np.array(ratios), np.array(dmu)
    se = ratios.std(ddof=1) / math.sqrt(len(ratios))
    assert abs(ratios.mean() - 1) < Z * se, (ratios.mean(), se)
    assert se < 0.02
    assert abs(dmu.mean()) < Z * dmu.std(ddof=1) / math.sqrt(len(dmu))
    # the transient from U[0] = 0 matters over 700 ms: the whole-trial variance is about 2 %
    # below the stationary eq. 3, which this test resolves (this is in the paper's SHD numbers)
    stationary = w2 * p * (K**2).sum()
    assert np.mean(expected_var / stationary) < 1 - 3 * se


def test_shd_report_on_generated_file(shd_files):
    path = shd_files[1][0]
    rep = M.validate(M.shd_source(path), sigma_u=1.0, seed=0)
    assert rep.data == "shd" and rep.n_inputs == 700 and rep.n_steps == 350 and rep.window == (0, 350)
    assert rep.nu_used == pytest.approx(rep.nu, rel=1e-12)  # the rate is measured from the data
    assert abs(rep.nu - 15.8) < Z * math.sqrt(15.8 / (700 * 8 * 0.7))
    assert rep.sigma_u_expected is None  # no closed-form expectation for data sets
    # the per-neuron theory of the drawn weights is the stationary eq. 3 with measured rates
    assert 0.9 < rep.sigma_u_predicted < 1.1
    assert rep.ratio < 1.0  # whole trial from U[0] = 0: below the stationary target


@pytest.fixture(scope="module")
def randman_report():
    # a smaller Randman (100 samples per class instead of 1000; same generator and statistics)
    src = M.randman_source(seed=0, samples_per_class=100, n_train=80, n_valid=10, n_test=10)
    return src, M.sweep(src, [0.5, 1.0], seed=0, hist_neurons=1)


def test_randman_rate_and_measured_sigma_below_target(randman_report):
    src, (r05, r1) = randman_report
    assert (src.n_inputs, src.n_steps, src.n_samples) == (20, 100, 800)
    # one spike per unit per 200 ms trial: exactly 5 Hz (paper section 4.1)
    assert r1.nu == pytest.approx(5.0, rel=1e-12)
    # figure 2c: the measured sigma_u on Randman comes out below the target (not tuned here:
    # the numbers are what the data give; see the module report)
    assert r1.ratio + Z * r1.ratio_sem < 1.0, (r1.ratio, r1.ratio_sem)
    assert r05.ratio < 1.0
    # centered weights: the mean membrane potential stays near 0 within the weight-sampling spread
    assert abs(r1.mu_u_measured) < Z * r1.mu_u_sem


def test_histograms_are_normalized_densities(randman_report):
    _, reps = randman_report
    for r in reps:
        (h,) = r.histograms
        e, d = np.asarray(h["edges"]), np.asarray(h["density"])
        total = (d * np.diff(e)).sum() + h["underflow"] + h["overflow"]
        assert total == pytest.approx(1.0, rel=1e-9)
        assert h["sigma_u_target"] == r.sigma_u_target
        # bins span the predicted mean +- 6 predicted std
        assert e[0] == pytest.approx(h["mu_u_predicted"] - 6 * h["sigma_u_predicted"], rel=1e-9)
        # Randman is not Gaussian (figure 2b: a peak at U = 0 from U[0] = 0 and the silent
        # periods): the density at 0 exceeds the peak of a Gaussian with the measured std
        k = np.searchsorted(e, 0.0) - 1
        assert d[k] > 1 / (math.sqrt(2 * math.pi) * h["sigma_u_measured"])
