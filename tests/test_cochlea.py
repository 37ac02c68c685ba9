"""The vectorized cochlea (fluctinit.datasets.cochlea) against lauscher, SHD's reference chain.

Deterministic stages (normalization, ramps, basilar membrane, hair cells, the bushy cell's LIF
given its fibres' spikes) are held to lauscher's output to floating-point tolerance on real FSDD
recordings; the stochastic stages (fibre sampling, the whole bushy-cell stage) in distribution:
per-channel spike counts over repetitions agree within their standard errors (fixed seeds).
"""

import numpy as np
import pytest

from fluctinit.datasets import cochlea as C
from fluctinit.datasets import read_wav

lauscher = pytest.importorskip("lauscher", reason="lauscher (the data extra) is the reference")
from lauscher.audiowaves import MonoAudioWave  # noqa: E402
from lauscher.helpers import CommandLineArguments  # noqa: E402
from lauscher.transformations import (  # noqa: E402
    BasilarMembrane, BushyCell, HairCell, HanningWindow, RmsNormalizer)

CHANNELS = 24
RECORDINGS = ("0_george_0.wav", "7_yweweler_31.wav")


@pytest.fixture(scope="module", autouse=True)
def one_lauscher_job():
    CommandLineArguments().num_concurrent_jobs = 1


@pytest.fixture(scope="module")
def stages(fsdd_recordings):
    """Per recording: lauscher's stage outputs and ours (basilar membrane at CHANNELS)."""
    out = {}
    for name in RECORDINGS:
        raw = read_wav(fsdd_recordings / name)
        wave = MonoAudioWave(raw.copy(), 8000).transform(RmsNormalizer(0.3)).transform(HanningWindow())
        ours_x = C.hanning_ramps(C.rms_normalize(raw))
        ref_bm = wave.transform(BasilarMembrane(channels=CHANNELS))
        v, rate = C.basilar_membrane(ours_x, 8000, C.BasilarMembrane(channels=CHANNELS))
        out[name] = dict(ref_x=wave.samples, x=ours_x, ref_bm=ref_bm, v=v, rate=rate)
    return out


def test_read_wav_matches_lauscher_reader(fsdd_recordings):
    from lauscher.audiowaves import FileMonoAudioWave

    for name in RECORDINGS:
        np.testing.assert_array_equal(read_wav(fsdd_recordings / name),
                                      FileMonoAudioWave(str(fsdd_recordings / name)).samples)


def test_normalization_and_ramps_equal_lauscher(stages):
    for s in stages.values():
        np.testing.assert_allclose(s["x"], s["ref_x"], rtol=1e-14, atol=1e-15)
        assert np.sqrt(np.mean(C.rms_normalize(s["x"] * 7.0) ** 2)) == pytest.approx(C.RMS_LEVEL, rel=1e-12)


def test_basilar_membrane_equals_lauscher(stages):
    for s in stages.values():
        ref = s["ref_bm"]
        assert s["rate"] == ref.sample_rate == 4000
        assert s["v"].shape == ref.channels.shape == (CHANNELS, s["x"].shape[0] // 2 + 1)
        scale = np.abs(ref.channels).max()
        assert scale > 0
        np.testing.assert_allclose(s["v"], ref.channels, rtol=0, atol=1e-12 * scale)


def test_hair_cells_equal_lauscher(stages):
    for s in stages.values():
        ours = C.hair_cells(s["ref_bm"].channels, s["rate"])
        ref = np.array([HairCell()._meddis(ch, s["rate"]) for ch in s["ref_bm"].channels])
        assert ref.max() > 0.01  # the stage does something on real speech
        np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15)


def _probability(stages, name):
    s = stages[name]
    return C.hair_cells(s["v"], s["rate"]), s["rate"]


def test_bushy_lif_equals_lauscher_given_the_same_fibre_spikes(stages):
    prob, rate = _probability(stages, RECORDINGS[0])
    cell = BushyCell()
    np.random.seed(1)
    for i in range(0, CHANNELS, 3):
        fibres = cell._sample(prob[i], rate).astype(np.float64)  # (steps, 40) after refractoriness
        ref = cell._lif(fibres, rate)
        ours = C.bushy_cell_spikes(fibres.sum(axis=1)[None, :], rate)[0]
        assert ref.sum() > 0
        np.testing.assert_array_equal(ours, ref.astype(bool))


def _z_per_channel(a, b):
    """Per-channel z-scores of the difference of mean counts (rows: repetitions)."""
    se = np.sqrt(a.var(axis=0, ddof=1) / a.shape[0] + b.var(axis=0, ddof=1) / b.shape[0])
    keep = se > 0
    return (a.mean(axis=0)[keep] - b.mean(axis=0)[keep]) / se[keep], keep


def test_fibre_counts_match_lauscher_in_distribution(stages):
    prob, rate = _probability(stages, RECORDINGS[1])
    cell, reps = BushyCell(), 40
    np.random.seed(2)
    ref = np.array([[cell._sample(p, rate).sum() for p in prob] for _ in range(reps)], dtype=float)
    gen = np.random.default_rng(3)
    ours = np.array([C.fibre_spike_counts(prob, rate, gen).sum(axis=1) for _ in range(reps)], dtype=float)
    z, keep = _z_per_channel(ours, ref)
    assert keep.sum() >= CHANNELS // 2
    # |z| < 4 per channel (a false alarm about 1 in 15,000 per channel), and no overall bias
    assert np.abs(z).max() < 4.0, z
    assert abs(z.mean()) * np.sqrt(z.size) < 4.0


def test_bushy_cell_stage_matches_lauscher_in_distribution(stages):
    from lauscher.firing_probability import FiringProbability

    prob, rate = _probability(stages, RECORDINGS[0])
    cell, reps = BushyCell(), 12
    np.random.seed(4)
    ref = []
    for _ in range(reps):
        spikes = cell(FiringProbability(prob, rate))
        ref.append(np.bincount(spikes.spike_labels.astype(int), minlength=CHANNELS))
    gen = np.random.default_rng(5)
    ours = [C.bushy_cell_spikes(C.fibre_spike_counts(prob, rate, gen), rate).sum(axis=1)
            for _ in range(reps)]
    ref, ours = np.array(ref, float), np.array(ours, float)
    assert ref.sum() > 100
    z, _ = _z_per_channel(ours, ref)
    assert np.abs(z).max() < 4.5, z
    assert abs(z.mean()) * np.sqrt(z.size) < 4.0


def test_fibre_extremes_are_deterministic():
    rate = 4000
    dead = 3  # 1 ms at 4 kHz: a fibre that fired at step j can fire again at j + 4
    prob = np.zeros((2, 20))
    prob[1] = 1.0
    counts = C.fibre_spike_counts(prob, rate, np.random.default_rng(0))
    assert counts[0].sum() == 0
    expect = np.zeros(20, int)
    expect[::dead + 1] = 40
    np.testing.assert_array_equal(counts[1], expect)


def test_whole_chain_output_form(fsdd_recordings):
    x = read_wav(fsdd_recordings / RECORDINGS[0])
    params = C.Cochlea(membrane=C.BasilarMembrane(channels=CHANNELS))
    t, u = C.cochlea_spikes(x, 8000, np.random.default_rng(0), params)
    t2, u2 = C.cochlea_spikes(x, 8000, np.random.default_rng(0), params)
    np.testing.assert_array_equal(t, t2)
    np.testing.assert_array_equal(u, u2)
    assert t.size > 0 and u.min() >= 0 and u.max() < CHANNELS
    assert np.all(np.diff(t) >= 0)
    steps = t * 4000
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-9)
    assert t.max() < x.shape[0] / 8000
