"""Randman: the paper's synthetic classification task (section 4.1; Zenke & Vogels 2021).

Spike trains generated from smooth random manifolds, returned as
:class:`fluctinit.datasets.SpikeDataset` splits in event form (sample, unit, time), from which
dense ``(batch, time, units)`` tensors are binned per mini-batch.  The generator follows the
published one by default (docs/theory.md, "Randman", lists the differences to randman.md's
printed formula, which is an option).  Randomness is explicit: a seed in the config.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from typing import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fluctinit._io import atomic_path, check_output_path
from fluctinit.errors import Integer, Interval, OneOf, check, check_all, conflict

from .spikes import SpikeDataset

__all__ = [
    "RANDMAN_CONSTRAINTS",
    "RandmanConfig",
    "RandmanSplits",
    "randman_cutoff",
    "randman_spectrum",
    "randman_manifold_params",
    "randman_class_manifolds",
    "randman_manifold",
    "make_randman",
]

# ----------------------------------------------------------------------------
# Randman: smooth random manifolds (paper section 4.1; Zenke & Vogels 2021)
# ----------------------------------------------------------------------------

RANDMAN_FREQUENCIES = ("reference", "printed")
RANDMAN_SPECTRA = ("plus_one", "power")
RANDMAN_SPLITS = ("stratified", "pooled")

RANDMAN_CONSTRAINTS = {
    "n_units": Integer(low=1),
    "n_classes": Integer(low=1),
    "dim_manifold": Integer(low=1),
    "alpha": Interval(0.0, None, closed="neither"),
    "samples_per_class": Integer(low=1),
    "n_train": Integer(low=0),
    "n_valid": Integer(low=0),
    "n_test": Integer(low=0),
    "spike_window": Interval(0.0, None, closed="neither"),
    "silence": Interval(0.0, None, closed="left"),
    "spikes_per_unit": Integer(low=1),
    "precision": Interval(0.0, 1.0, closed="neither"),
    "max_terms": Integer(low=1),
    "seed": Integer(low=0),
    "frequencies": OneOf(RANDMAN_FREQUENCIES),
    "spectrum": OneOf(RANDMAN_SPECTRA),
    "zero_constant": OneOf((False, True)),
    "split": OneOf(RANDMAN_SPLITS),
}


@dataclass(frozen=True)
class RandmanConfig:
    """Parameters of a Randman data set; defaults are the paper's (section 4.1).

    The defaults reproduce the generator the paper's data came from (the paper cites
    github.com/fzenke/randman; the authors' library stork, whose Randman example uses the
    paper's settings, generates the data with ``stork.datasets.make_tempo_randman``, which
    calls that package's default ``Randman`` class), which differs from the formula
    printed in /work/shared/randman.md in three ways that change the data
    (``frequencies``, ``spectrum``, ``zero_constant``; see :func:`randman_spectrum`
    and docs/theory.md, "Randman").

    Attributes:
        n_units: embedding dimension M = number of input units (20).
        n_classes: number of classes, one manifold each (10).
        dim_manifold: intrinsic dimension D (1).
        alpha: smoothness, the spectral fall-off exponent (1.0).
        samples_per_class: samples drawn per class (1000).
        n_train, n_valid, n_test: per-class split sizes (800/100/100); must sum
            to ``samples_per_class``.
        spike_window: spiking window T_spk in seconds (0.1).
        silence: silent period appended after the window, seconds (0.1).
        spikes_per_unit: spikes per unit and sample, one manifold per spike
            index (1).
        precision, max_terms: the number of Fourier terms is
            ``K = min(ceil(precision**(-1/alpha)), max_terms)`` (1e-3, 1000; K = 1000
            for alpha = 1), see :func:`randman_cutoff`.
        seed: fully determines the data set (0).
        frequencies: Fourier indexing of term ``k = 1..K``.  ``"reference"`` (default,
            the published generator): frequency ``k - 1``, so the first term is the
            constant ``a_1 s_1 sin(2 pi c_1)``; ``"printed"`` (randman.md's formula):
            frequency ``k``.
        spectrum: amplitude ``s_k`` of term k.  ``"plus_one"`` (default, the published
            generator's default backend, used by stork): ``1/(k**alpha + 1)``;
            ``"power"`` (randman.md and randman's numpy backend): ``1/k**alpha``.
        zero_constant: with ``frequencies="reference"``, set ``a_1 = 0`` so the
            constant term vanishes, as the published generator does by default
            (its ``use_bias=False``) (True).  Ignored with ``"printed"``, which has
            no constant term.  With D = 1 the per-class min-max rescaling removes any
            constant anyway, so this changes the data only for D > 1.
        split: ``"stratified"`` (default; the paper's text and randman.md: exactly
            n_train/n_valid/n_test samples of every class) or ``"pooled"`` (as
            ``stork.datasets.split_dataset`` after ``make_tempo_randman``: all
            samples shuffled together, then the first ``n_classes*n_train`` are
            training data and so on, so class counts per split vary).
    """

    n_units: int = 20
    n_classes: int = 10
    dim_manifold: int = 1
    alpha: float = 1.0
    samples_per_class: int = 1000
    n_train: int = 800
    n_valid: int = 100
    n_test: int = 100
    spike_window: float = 0.1
    silence: float = 0.1
    spikes_per_unit: int = 1
    precision: float = 1e-3
    max_terms: int = 1000
    seed: int = 0
    frequencies: str = "reference"
    spectrum: str = "plus_one"
    zero_constant: bool = True
    split: str = "stratified"

    def __post_init__(self) -> None:
        for name, constraint in RANDMAN_CONSTRAINTS.items():
            check(name, getattr(self, name), constraint)
        if self.n_train + self.n_valid + self.n_test != self.samples_per_class:
            raise conflict(
                "the split sizes must sum to samples_per_class",
                n_train=self.n_train,
                n_valid=self.n_valid,
                n_test=self.n_test,
                samples_per_class=self.samples_per_class,
            )

    @property
    def duration(self) -> float:
        """Sample duration ``T = spike_window + silence`` in seconds (0.2)."""
        return self.spike_window + self.silence

    @property
    def mean_rate(self) -> float:
        """Mean input rate ``spikes_per_unit / T`` in Hz, exact by construction (5 Hz)."""
        return self.spikes_per_unit / self.duration


@dataclass(frozen=True)
class RandmanSplits:
    """Train/validation/test splits of a Randman data set (event form)."""

    train: SpikeDataset
    valid: SpikeDataset
    test: SpikeDataset
    config: RandmanConfig


def randman_cutoff(alpha: float, precision: float = 1e-3, max_terms: int = 1000) -> int:
    """Number of Fourier terms K: the smallest k with ``k**-alpha <= precision``, capped.

    ``K = min(ceil(precision**(-1/alpha)), max_terms)``, the published generator's
    rule; for the paper's ``alpha = 1`` and ``precision = 1e-3``: ``K = 1000``.  The
    search runs over integers, so no floating-point root decides the edge case in
    which ``precision**(-1/alpha)`` is an integer (the reference's ``ceil`` of a
    rounded root could then be one larger; it cannot be for the paper's values,
    where ``1e-3**-1`` is exactly 1000.0).  randman.md's "falls below" (strict)
    would give one term more in that edge case only.
    """
    v = check_all(
        {k: RANDMAN_CONSTRAINTS[k] for k in ("alpha", "precision", "max_terms")},
        alpha=alpha,
        precision=precision,
        max_terms=max_terms,
    )
    k = 1
    # exact integer search (no floating-point root edge cases); bounded by max_terms
    while k < v["max_terms"] and k ** (-v["alpha"]) > v["precision"]:
        k += 1
    return k


def randman_spectrum(
    n_terms: int, alpha: float, frequencies: str = "reference", spectrum: str = "plus_one"
) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies ``n_k`` and amplitudes ``s_k`` of the Fourier terms ``k = 1..K``.

    The 1-D random function is ``g(x) = sum_k a_k s_k sin(2 pi (n_k b_k x + c_k))``
    with ``a, b, c ~ U[0, 1)``:

    * ``frequencies="reference"``: ``n_k = k - 1`` (the published generator's
      0-based loop index); ``"printed"``: ``n_k = k`` (randman.md's formula);
    * ``spectrum="plus_one"``: ``s_k = 1/(k**alpha + 1)`` (the published
      generator's default torch backend, with its spectral peak parameter 0);
      ``"power"``: ``s_k = 1/k**alpha`` (randman.md; randman's numpy backend).

    For the paper's alpha = 1 the reference term at frequency f >= 1 has amplitude
    ``1/(f + 2)``, randman.md's ``1/f``: high frequencies weigh relatively more
    (a rougher manifold) in the reference.

    Returns:
        ``(n, s)``, two float64 arrays of shape ``(n_terms,)``.
    """
    check("n_terms", n_terms, Integer(low=1))
    check("alpha", alpha, RANDMAN_CONSTRAINTS["alpha"])
    check("frequencies", frequencies, RANDMAN_CONSTRAINTS["frequencies"])
    check("spectrum", spectrum, RANDMAN_CONSTRAINTS["spectrum"])
    n, denominator = _spectrum_terms(n_terms, alpha, frequencies, spectrum)
    return n, 1.0 / denominator


def _spectrum_terms(n_terms: int, alpha: float, frequencies: str, spectrum: str):
    """``(n_k, 1/s_k)``: the manifold divides by ``1/s_k`` (bitwise as ``a/k**alpha``)."""
    k = np.arange(1, n_terms + 1, dtype=np.float64)
    n = k - 1.0 if frequencies == "reference" else k
    return n, (k**alpha + 1.0 if spectrum == "plus_one" else k**alpha)


def randman_manifold_params(
    n_units: int, dim_manifold: int, n_terms: int, rng: np.random.Generator,
    *, zero_first: bool = False,
) -> np.ndarray:
    """Random parameters of one manifold: array ``(3, n_units, dim_manifold, n_terms)``.

    Rows are ``a``, ``b``, ``c``, each uniform on [0, 1) for every output
    coordinate, intrinsic coordinate and Fourier index k.  ``zero_first`` sets
    ``a_1 = 0`` after drawing (same random stream either way): with the reference
    indexing (:func:`randman_spectrum`) that removes the constant term.
    """
    params = rng.random((3, n_units, dim_manifold, n_terms))
    if zero_first:
        params[0, :, :, 0] = 0.0
    return params


def randman_manifold(
    x: np.ndarray,
    params: np.ndarray,
    alpha: float,
    chunk: int = 64,
    *,
    frequencies: str = "reference",
    spectrum: str = "plus_one",
) -> np.ndarray:
    """Evaluate one smooth random manifold ``f: [0,1]^D -> R^M``.

    ``f_m(x) = prod_{d=1..D} g_{m,d}(x_d)`` with
    ``g_{m,d}(x) = sum_{k=1..K} a_{m,d,k} s_k sin(2*pi*(n_k*x*b_{m,d,k} + c_{m,d,k}))``,
    ``n_k, s_k`` from :func:`randman_spectrum` (Zenke & Vogels 2021).  With
    ``frequencies="printed", spectrum="power"`` this is randman.md's
    ``sum_k a_k/k**alpha sin(2 pi (k x b_k + c_k))``.

    Args:
        x: points, shape ``(n_points, D)`` in [0, 1].
        params: from :func:`randman_manifold_params`, shape ``(3, M, D, K)``.
        alpha: smoothness (> 0).
        chunk: points evaluated at once (bounds memory to ``chunk*M*D*K`` floats).
        frequencies, spectrum: see :func:`randman_spectrum`.

    Returns:
        Array of shape ``(n_points, M)``.
    """
    a, b, c = params
    check("frequencies", frequencies, RANDMAN_CONSTRAINTS["frequencies"])
    check("spectrum", spectrum, RANDMAN_CONSTRAINTS["spectrum"])
    n, denominator = _spectrum_terms(a.shape[-1], alpha, frequencies, spectrum)
    amp = a / denominator  # (M, D, K): a_k s_k
    freq = n * b  # (M, D, K)
    out = np.empty((x.shape[0], a.shape[0]), dtype=np.float64)
    for start in range(0, x.shape[0], chunk):
        xs = x[start : start + chunk]  # (n, D)
        phase = 2.0 * np.pi * (xs[:, None, :, None] * freq[None] + c[None])  # (n, M, D, K)
        g = np.einsum("nmdk,mdk->nmd", np.sin(phase), amp)
        out[start : start + chunk] = np.prod(g, axis=2)
    return out


def _randman_cache_path(cache_dir: Path, config: RandmanConfig) -> Path:
    key = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir / f"randman-{key}.npz"


def _class_draws(config: RandmanConfig, rng: np.random.Generator):
    """The generator's random stream, class by class: yields ``(cls, draws, order)`` with one
    ``(params, y, lo, span)`` per spike index (the manifold's parameters, its values at the
    class's samples, and the per-unit minimum and range that rescale them) and the split
    permutation (drawn in both split modes, so manifolds and samples do not depend on the mode)."""
    n_terms = randman_cutoff(config.alpha, config.precision, config.max_terms)
    zero_first = config.zero_constant and config.frequencies == "reference"
    for cls in range(config.n_classes):
        x = rng.random((config.samples_per_class, config.dim_manifold))
        draws = []
        for _ in range(config.spikes_per_unit):
            params = randman_manifold_params(config.n_units, config.dim_manifold, n_terms, rng, zero_first=zero_first)
            y = randman_manifold(x, params, config.alpha, frequencies=config.frequencies, spectrum=config.spectrum)
            lo, hi = y.min(axis=0), y.max(axis=0)
            draws.append((params, y, lo, np.where(hi > lo, hi - lo, 1.0)))
        yield cls, draws, rng.permutation(config.samples_per_class)


def randman_class_manifolds(config: RandmanConfig, classes: Sequence[int] = (0, 1), n_points: int = 400) -> dict:
    """The manifolds of Randman classes in spike times, from the generator's own stream.

    For each class in ``classes``: the first spike index's manifold ``f`` rescaled as the data
    are (each unit's min and max over the class's samples onto ``[0, spike_window]``), at
    ``n_points`` evenly spaced points of ``[0, 1]`` (``"curve"``, for ``dim_manifold = 1``;
    None otherwise), and at the class's samples (``"samples"``: the data's spike times of these
    samples, clipped into the half-open window as :func:`make_randman` does).

    Returns:
        ``{class: {"curve": (n_points, n_units) array or None, "samples": (samples_per_class,
        n_units) array}}``, seconds.
    """
    rng = np.random.default_rng(config.seed)
    grid = np.linspace(0.0, 1.0, n_points)[:, None]
    t_max = config.spike_window * (1.0 - 1e-12)
    out = {}
    for cls, draws, _ in _class_draws(config, rng):
        if cls in classes:
            params, y, lo, span = draws[0]
            curve = None
            if config.dim_manifold == 1:
                f = randman_manifold(grid, params, config.alpha, frequencies=config.frequencies,
                                     spectrum=config.spectrum)
                curve = (f - lo) / span * config.spike_window
            out[cls] = dict(curve=curve, samples=np.minimum((y - lo) / span * config.spike_window, t_max))
        if cls >= max(classes):
            break
    return out


def _generate_randman_arrays(config: RandmanConfig) -> dict[str, np.ndarray]:
    """Spike times ``(n_samples, n_units*spikes_per_unit)``, unit ids and labels, per split."""
    rng = np.random.default_rng(config.seed)
    m, spu = config.n_units, config.spikes_per_unit
    split_sizes = {"train": config.n_train, "valid": config.n_valid, "test": config.n_test}
    parts: dict[str, list] = {s: [] for s in split_sizes}
    labels: dict[str, list] = {s: [] for s in split_sizes}
    pooled_times, pooled_labels = [], []
    # the half-open window [0, T_spk): the largest sample sits 1e-12 (relative) below T_spk
    # so that binning at a dt that divides T_spk puts every spike in the first T_spk/dt steps.
    t_max = config.spike_window * (1.0 - 1e-12)
    for cls, draws, order in _class_draws(config, rng):
        times = np.empty((config.samples_per_class, spu, m))
        for s, (_, y, lo, span) in enumerate(draws):
            u = (y - lo) / span  # each coordinate rescaled to [0, 1] over this class's samples
            times[:, s, :] = np.minimum(u * config.spike_window, t_max)
        if config.split == "pooled":
            pooled_times.append(times[order].reshape(config.samples_per_class, spu * m))
            pooled_labels.append(np.full(config.samples_per_class, cls, dtype=np.int64))
            continue
        start = 0
        for split, size in split_sizes.items():
            idx = order[start : start + size]
            parts[split].append(times[idx].reshape(size, spu * m))
            labels[split].append(np.full(size, cls, dtype=np.int64))
            start += size
    out: dict[str, np.ndarray] = {}
    if config.split == "pooled":
        t = np.concatenate(pooled_times, axis=0)
        lab = np.concatenate(pooled_labels)
        perm = rng.permutation(t.shape[0])  # one shuffle of all classes, then cut
        start = 0
        for split, size in split_sizes.items():
            idx = perm[start : start + size * config.n_classes]
            out[f"{split}_times"] = t[idx]
            out[f"{split}_labels"] = lab[idx]
            start += size * config.n_classes
        return out
    for split in split_sizes:
        t = np.concatenate(parts[split], axis=0)
        lab = np.concatenate(labels[split])
        perm = rng.permutation(t.shape[0])  # interleave the classes
        out[f"{split}_times"] = t[perm]
        out[f"{split}_labels"] = lab[perm]
    return out


def _read_cache(path: Path, config: RandmanConfig) -> dict[str, np.ndarray] | None:
    """The arrays of a cache entry, or None if it is unreadable, truncated or of the wrong shape
    (then it is regenerated and overwritten, never trusted)."""
    width = config.n_units * config.spikes_per_unit
    try:
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None
    for split, size in (("train", config.n_train), ("valid", config.n_valid), ("test", config.n_test)):
        t, y = arrays.get(f"{split}_times"), arrays.get(f"{split}_labels")
        n = size * config.n_classes
        if t is None or y is None or t.shape != (n, width) or y.shape != (n,) \
                or t.dtype.kind != "f" or y.dtype.kind not in "iu" or not np.isfinite(t).all():
            return None
    return arrays


def _to_dataset(times: np.ndarray, labels: np.ndarray, config: RandmanConfig) -> SpikeDataset:
    n, k = times.shape
    units = np.tile(np.arange(k, dtype=np.int64) % config.n_units, n)
    return SpikeDataset.from_flat(
        times=times.reshape(-1),
        units=units,
        counts=np.full(n, k, dtype=np.int64),
        labels=labels,
        n_units=config.n_units,
        duration=config.duration,
        n_classes=config.n_classes,
    )


def make_randman(config: RandmanConfig | None = None, *, cache_dir: str | os.PathLike | None = None,
                 **overrides) -> RandmanSplits:
    """Generate the Randman classification data set (paper section 4.1).

    For each class c (one manifold per class and spike index, random
    parameters from the seed): draw ``x ~ U([0,1]^D)``, evaluate the manifold
    (:func:`randman_manifold`, with the config's ``frequencies``, ``spectrum`` and
    ``zero_constant``; the defaults follow the published generator, not randman.md's
    printed formula), rescale each of the M coordinates to [0, 1]
    with the min and max over that class's samples, and fire each unit once at
    ``t = value * spike_window`` (seconds; the window is half-open, a value of
    exactly 1 lands 1e-12 (relative) below ``spike_window``).  Binned at ``dt``, a
    spike falls in step ``floor(value * spike_window/dt)``, the reference's
    ``int(nb_steps*step_frac*value)`` (50 steps of 2 ms).  A silent period follows,
    so a sample lasts ``T = spike_window + silence`` and the mean rate is
    exactly ``spikes_per_unit / T`` (5 Hz with the defaults: 20 units, 10
    classes, D = alpha = 1, 800/100/100 samples per class, 100 ms + 100 ms).
    Information is in relative spike timing only.  ``split`` chooses per-class
    (default) or pooled splitting (:class:`RandmanConfig`).

    Args:
        config: a :class:`RandmanConfig` (default: the paper's settings).
        cache_dir: if given, the arrays are cached there as ``.npz`` keyed by
            the config (written atomically) and reused on the next call; an
            unreadable, truncated or misshapen entry is regenerated.  Checked before
            anything is generated: a writable folder (or creatable), not a file, not
            empty, not the file-system root.
        **overrides: fields replacing those of ``config``, e.g. ``seed=3``.

    Returns:
        :class:`RandmanSplits` of :class:`~fluctinit.datasets.SpikeDataset`
        (event form; ``.dense(...)``/``.batches(...)`` bin them at any ``dt``
        into ``(batch, time, units)`` tensors).  Samples of all classes are
        interleaved in a seeded order.

    Raises:
        ParameterError: a config field out of range, inconsistent splits, or a
            ``cache_dir`` that cannot receive the cache.
    """
    if config is None:
        config = RandmanConfig(**overrides)
    elif overrides:
        config = RandmanConfig(**{**asdict(config), **overrides})
    arrays = None
    if cache_dir is not None:
        cache_path = _randman_cache_path(check_output_path("cache_dir", cache_dir, kind="dir"), config)
        if cache_path.exists():
            arrays = _read_cache(cache_path, config)
    if arrays is None:
        arrays = _generate_randman_arrays(config)
        if cache_dir is not None:
            with atomic_path(cache_path) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
    return RandmanSplits(
        train=_to_dataset(arrays["train_times"], arrays["train_labels"], config),
        valid=_to_dataset(arrays["valid_times"], arrays["valid_labels"], config),
        test=_to_dataset(arrays["test_times"], arrays["test_labels"], config),
        config=config,
    )
