"""Data-calibrated kernel terms: the exact second-order statistics of a data set's inputs as the
free membrane sees them (the ``calibrated`` kernel mode, beyond the paper's Poisson theory).

The statistic ``fluctinit validate`` measures is, per neuron ``i``, the mean and variance of its
free membrane pooled over every sample ``k`` and window step ``n`` (:mod:`.measure`).  The free
membrane is linear in its inputs::

    U_i[k, n] = sum_j w_ij y_j[k, n],     y_j = K * x_j     (K the discrete PSP kernel, zero state at n = 0)

so, with ``<.>`` the pooled average over samples and window steps, exactly::

    mu_i      = sum_j w_ij m_j,                 m_j  = <y_j>
    sigma_i^2 = sum_jl w_ij w_il C_jl,          C_jl = <y_j y_l> - m_j m_l

``C`` holds everything the paper's Poisson theory leaves out: the inputs' cross-covariances
summed against the PSP kernel's autocorrelation, their non-Poisson autocorrelations, and the
variation of the mean over time (onsets, silence) and across samples.  For independent
homogeneous Poisson inputs at rate ``nu`` it becomes ``C = nu eps_hat I`` and ``m = nu eps_bar``
(eqs. 2-3, up to the burn-in from the zero state).

For weights drawn independently, ``W ~ N(mu_W, sigma_W^2)``, the expected variance over the
draw is ``sigma_W^2 tr C + mu_W^2 1'C1``, and the expected mean ``mu_W 1'm``.  The paper's
formulas (eqs. 6-7) use ``n nu eps_hat`` for both ``tr C`` and ``1'C1`` and ``n nu eps_bar``
for ``1'm``.  :meth:`InputStatistics.kernel` therefore returns the effective kernel integrals
``eps_bar = 1'm / (n nu)`` and ``eps_hat = f^2 tr C / (n nu)``. With them, the theory's inverse
maps give weights whose free-membrane ``sigma_i`` over the data averages to the target over the
weight draw: ``f`` (:meth:`InputStatistics.sigma_factor`) turns the expected variance into the
expected standard deviation, the statistic ``fluctinit validate`` reports (``f = 1`` keeps the
paper's convention, the expected variance).  This is exact for ``mu_u = 0``.  For ``mu_u != 0``
the mean-weight term uses ``tr C`` where the data have ``1'C1``, and the ratio of the two is
reported (:attr:`InputStatistics.correlation_excess`).

:func:`input_statistics` estimates ``m`` and ``C`` in one streaming pass over a
:class:`~fluctinit.validation.SpikeSource`.  It filters every input with the simulator's free
membrane (identity weights) and accumulates shifted sums in float64, so no trial and error over
weights is needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from fluctinit.errors import Integer, Interval, OneOf, check, check_all

from ._constraints import CHUNK_ELEMENTS, CONSTRAINTS
from .resources import chunk_samples
from .sources import SpikeSource

__all__ = ["InputStatistics", "input_statistics", "layer_input_statistics", "recurrent_kernels"]


@dataclass(frozen=True)
class InputStatistics:
    """Pooled statistics of a data set's PSP-filtered inputs (see the module docstring).

    Attributes:
        mean: ``m_j = <y_j>``, shape ``(n_inputs,)`` (threshold units per unit weight).
        cov: ``C_jl``, shape ``(n_inputs, n_inputs)``.
        n_values: samples times window steps pooled.
        tau_mem, tau_syn, dt: the kernel's time constants and step (s).
        source: the data set's name.
        cov_slow: with ``block`` steps given, the covariance of the filtered inputs' means over
            consecutive blocks of that many window steps: the part of ``cov`` that varies
            slower than a block (between samples, onsets, silence); ``cov - cov_slow`` is the
            mean variance within a block (the law of total variance, up to the window's
            remainder after the last whole block).
    """

    mean: np.ndarray
    cov: np.ndarray
    n_values: int
    tau_mem: float
    tau_syn: float
    dt: float
    source: str = "data"
    cov_slow: np.ndarray | None = None
    block: int | None = None

    @property
    def n_inputs(self) -> int:
        return int(self.mean.shape[0])

    @property
    def trace(self) -> float:
        """``tr C = sum_j Var(y_j)``: the variance a unit-variance zero-mean weight vector sees."""
        return float(np.trace(self.cov))

    @property
    def total(self) -> float:
        """``1'C1``: the variance of the summed input (all weights equal)."""
        return float(self.cov.sum())

    @property
    def correlation_excess(self) -> float:
        """``1'C1 / tr C``: 1 for uncorrelated inputs; the factor the inputs' cross-covariances
        put on the mean-weight term of the variance."""
        return self.total / self.trace if self.trace > 0 else float("nan")

    def sigma_factor(self, draws: int = 20_000, seed: int = 0) -> float:
        """``E[sqrt(z'Cz)] / sqrt(tr C)`` for ``z ~ N(0, I)``: the mean over a zero-mean Gaussian
        weight draw of a neuron's ``sigma_i``, relative to its root mean square.

        Below 1 by Jensen's inequality, the more so the fewer inputs carry the variance (1 -
        tr(C^2) / (4 tr(C)^2) to second order).  Computed from the eigenvalues of ``C`` by Monte
        Carlo with a fixed seed (relative standard error printed by tests, about 1e-4).
        """
        lam = np.clip(np.linalg.eigvalsh(self.cov), 0.0, None)
        rng = np.random.default_rng(seed)
        total, done = 0.0, 0
        while done < draws:
            k = min(2048, draws - done)
            z = rng.standard_normal((k, lam.size))
            total += float(np.sqrt((z * z) @ lam).sum())
            done += k
        return total / draws / np.sqrt(lam.sum())

    def kernel(self, nu: float, statistic: str = "mean", factor: float | None = None):
        """The effective kernel integrals for rate ``nu`` (Hz), seconds.

        ``eps_bar = 1'm / (n nu)``, so that the paper's ``n nu eps_bar`` is the data's ``1'm``;
        ``eps_hat = f^2 tr C / (n nu)``, so that ``n nu eps_hat`` is ``tr C`` (``statistic="rms"``,
        ``f = 1``: each neuron's expected variance is the target, the paper's convention) or
        ``f^2 tr C`` with ``f`` = :meth:`sigma_factor` (``statistic="mean"``, the default: the
        mean over neurons of ``sigma_i``, what ``fluctinit validate`` measures, is the target).
        Exact for zero-mean Gaussian weights (``mu_u = 0``).  ``factor`` replaces ``f``
        (:func:`recurrent_kernels` computes one for two blocks of inputs together).

        Raises:
            ValueError: the data give no variance (silent inputs) or a non-positive mean.
        """
        from fluctinit.theory import KernelIntegrals

        check("statistic", statistic, OneOf(("mean", "rms")))
        n = self.n_inputs
        if not (self.trace > 0 and self.mean.sum() > 0):
            raise ValueError(f"the {self.source} data give no input variance over the window "
                             f"(tr C = {self.trace:.3g}, sum m = {float(self.mean.sum()):.3g}); cannot calibrate")
        f = factor if factor is not None else self.sigma_factor() if statistic == "mean" else 1.0
        return KernelIntegrals(float(self.mean.sum()) / (n * nu), f * f * self.trace / (n * nu))

    def moments(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact pooled ``(mu_i, sigma_i)`` of the free membranes with ``weights`` ``(n_post, n_inputs)``."""
        w = np.asarray(weights, dtype=float)
        mu = w @ self.mean
        var = np.einsum("ij,jk,ik->i", w, self.cov, w)
        return mu, np.sqrt(np.clip(var, 0.0, None))

    def part(self, units: slice) -> "InputStatistics":
        """The statistics of a block of the inputs (e.g. a recurrent layer's feed-forward
        ``slice(0, n_F)`` or its own spikes' ``slice(n_F, None)``)."""
        return InputStatistics(self.mean[units], self.cov[units, units], self.n_values, self.tau_mem, self.tau_syn,
                               self.dt, self.source, None if self.cov_slow is None else self.cov_slow[units, units],
                               self.block)

    def with_poisson_inputs(self, n: int, nu: float) -> "InputStatistics":
        """These statistics with ``n`` independent Bernoulli-Poisson inputs at ``nu`` (Hz)
        appended (the generated channels of ``fluctinit validate``): mean ``nu eps_bar`` and
        variance ``nu eps_hat (1 - nu dt)`` each (discrete kernel), uncorrelated with the data."""
        from fluctinit.theory import kernel_integrals

        k = kernel_integrals(self.tau_mem, self.tau_syn, self.dt, "discrete")
        m = len(self.mean)
        cov = np.zeros((m + n, m + n))
        cov[:m, :m] = self.cov
        cov[m:, m:] = np.eye(n) * nu * k.epsilon_hat * (1.0 - nu * self.dt)
        mean = np.concatenate([self.mean, np.full(n, nu * k.epsilon_bar)])
        return InputStatistics(mean, cov, self.n_values, self.tau_mem, self.tau_syn, self.dt, self.source)

    def split_moments(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(mu_i, sigma_fast_i, sigma_slow_i)`` of the free membranes with ``weights``: the
        slow part ``sqrt(w' cov_slow w)`` (block means) and the fast rest, ``sigma_fast^2 +
        sigma_slow^2 = w'Cw``.  Needs statistics estimated with ``block``."""
        if self.cov_slow is None:
            raise ValueError("split_moments needs statistics estimated with `block` (steps per block)")
        mu, sigma = self.moments(weights)
        w = np.asarray(weights, dtype=float)
        slow = np.clip(np.einsum("ij,jk,ik->i", w, self.cov_slow, w), 0.0, None)
        return mu, np.sqrt(np.clip(sigma ** 2 - slow, 0.0, None)), np.sqrt(slow)

    def as_dict(self) -> dict:
        return {"source": self.source, "n_inputs": self.n_inputs, "n_values": int(self.n_values),
                "trace": self.trace, "total": self.total, "correlation_excess": self.correlation_excess,
                "mean_sum": float(self.mean.sum()), "tau_mem": self.tau_mem, "tau_syn": self.tau_syn, "dt": self.dt}


def recurrent_kernels(stats: InputStatistics, n_ff: int, nu: float, nu_rec: float, alpha: float,
                      statistic: str = "mean"):
    """The effective kernel integrals of a recurrent layer's feed-forward and recurrent inputs.

    ``stats`` are the pooled statistics of the feed-forward units ``[0, n_ff)`` followed by the
    layer's own spikes (:func:`layer_input_statistics` with ``own``).  Each block's kernel is
    :meth:`InputStatistics.kernel` of its part at its rate (``nu``, ``nu_rec``), so that the
    feed-forward weights carry ``alpha`` of the expected variance and the recurrent ones the rest
    (eqs. 34-39).  With ``statistic="mean"`` one Jensen factor ``f`` serves both: that of the
    whole covariance with each block scaled as its weights will be (``alpha / tr C_FF`` and
    ``(1 - alpha) / tr C_RR``), cross-covariances of the two blocks included, so that the mean
    over neurons of the whole free membrane's ``sigma_i`` is the target.

    Returns:
        ``(kernel, kernel_rec)``, :class:`~fluctinit.theory.KernelIntegrals`.
    """

    check("statistic", statistic, OneOf(("mean", "rms")))
    alpha = check("alpha", alpha, Interval(0.0, 1.0, "neither"))
    ff, rec = stats.part(slice(0, n_ff)), stats.part(slice(n_ff, None))
    f = 1.0
    if statistic == "mean" and ff.trace > 0 and rec.trace > 0:
        d = np.concatenate([np.full(ff.n_inputs, np.sqrt(alpha / ff.trace)),
                            np.full(rec.n_inputs, np.sqrt((1.0 - alpha) / rec.trace))])
        scaled = InputStatistics(stats.mean * d, stats.cov * np.outer(d, d), stats.n_values, stats.tau_mem,
                                 stats.tau_syn, stats.dt, stats.source)
        f = scaled.sigma_factor()
    return ff.kernel(nu, factor=f), rec.kernel(nu_rec, factor=f)


def filtered_inputs(x: torch.Tensor, *, tau_mem: float, tau_syn: float, dt: float) -> torch.Tensor:
    """Every input filtered by the free membrane on its own, ``y_j = K * x_j`` (``(batch, time,
    n)``, float32): :func:`~fluctinit.validation.free_membrane` with identity weights, by the
    same recursion (``I[n+1] = ls I[n] + x[n]``, ``U[n+1] = lm U[n] + (1 - lm) I[n]``, zero at
    ``n = 0``) element by element, without its ``n x n`` matrix product."""
    lm, ls = math.exp(-dt / tau_mem), math.exp(-dt / tau_syn)
    x = x.float()
    out = torch.empty_like(x)
    u = torch.zeros_like(x[:, 0])
    i = torch.zeros_like(u)
    for t in range(x.shape[1]):
        out[:, t] = u
        u = torch.lerp(i, u, lm)  # lm U[n] + (1 - lm) I[n]
        i = torch.add(x[:, t], i, alpha=ls)
    return out


def input_statistics(source: SpikeSource, *, tau_mem: float = 20e-3, tau_syn: float = 10e-3,
                     max_elements: int = CHUNK_ELEMENTS, block: int | None = None) -> InputStatistics:
    """``m`` and ``C`` of ``source``'s filtered inputs over its window, in one streaming pass.

    Each mini-batch's inputs are filtered by the free membrane with identity weights
    (:func:`~fluctinit.validation.free_membrane`), exactly the filter a neuron applies. The
    window steps are accumulated as sums of ``y - c`` and ``(y - c)(y - c)'``, in float32
    within a chunk and float64 across chunks, with ``c`` the first chunk's mean (a shift that
    keeps the covariance's cancellation small).

    Args:
        source: the data (:func:`~fluctinit.validation.randman_source`, ``shd_source``, ...).
        tau_mem, tau_syn: the neurons' time constants (s).
        max_elements: chunking as in :func:`~fluctinit.validation.measure_membrane`.
        block: also the covariance of the means over consecutive blocks of this many window
            steps (:attr:`InputStatistics.cov_slow`), in the same pass.

    Returns:
        :class:`InputStatistics`.
    """
    p = check_all(CONSTRAINTS, tau_mem=tau_mem, tau_syn=tau_syn)
    n = source.n_inputs
    a, b = source.window
    chunk = chunk_samples(source.n_steps, n, max_elements)
    s1 = torch.zeros(n, dtype=torch.float64)
    s2 = torch.zeros(n, n, dtype=torch.float64)
    shift = None
    n_seen = 0
    if block is not None:
        block = check("block", block, Integer(1))
        n_blocks = (b - a) // block
        if n_blocks < 1:
            raise ValueError(f"`block` ({block} steps) must fit in the window ({b - a} steps)")
        s1b = torch.zeros(n, dtype=torch.float64)
        s2b = torch.zeros(n, n, dtype=torch.float64)
    for xb in source.batches():
        for s in range(0, xb.shape[0], chunk):
            x = xb[s:s + chunk]
            n_seen += x.shape[0]
            y = filtered_inputs(x, tau_mem=p["tau_mem"], tau_syn=p["tau_syn"], dt=source.dt)[:, a:b]
            flat = y.reshape(-1, n)
            if shift is None:
                shift = flat.mean(0)
            d = flat - shift
            s1 += d.sum(0).double()
            s2 += (d.T @ d).double()
            if block is not None:
                means = (y[:, :n_blocks * block].reshape(y.shape[0], n_blocks, block, n).mean(2).reshape(-1, n)
                         - shift)
                s1b += means.sum(0).double()
                s2b += (means.T @ means).double()
    if n_seen != source.n_samples:
        raise ValueError(f"the data source yielded {n_seen} samples, expected {source.n_samples}")
    n_val = source.n_samples * (b - a)
    dm = s1 / n_val
    cov = s2 / n_val - torch.outer(dm, dm)
    mean = dm + shift.double()
    cov = 0.5 * (cov + cov.T)
    slow = None
    if block is not None:
        mb = s1b / (source.n_samples * n_blocks)
        slow = s2b / (source.n_samples * n_blocks) - torch.outer(mb, mb)
        slow = (0.5 * (slow + slow.T)).numpy()
    return InputStatistics(mean.numpy(), cov.numpy(), int(n_val), p["tau_mem"], p["tau_syn"], float(source.dt),
                           source.name, slow, block)


def layer_input_statistics(x: torch.Tensor, *, dt: float, tau_mem: float = 20e-3, tau_syn: float = 10e-3,
                           kernel_size: int | tuple[int, ...] | None = None, stride: int | tuple[int, ...] = 1,
                           padding: int | tuple[int, ...] = 0, own: torch.Tensor | None = None,
                           rec_kernel_size: int | tuple[int, ...] | None = None, block: int | None = None,
                           samples_per_batch: int = 8, name: str = "layer input") -> InputStatistics:
    """:func:`input_statistics` of a layer's inputs ``x`` (spikes, ``(batch, time, *shape)``).

    A dense layer's inputs are its ``prod(shape)`` units.  A convolution's (``kernel_size``
    given, ``shape = (channels, length)`` or ``(channels, height, width)``) are the
    ``channels * prod(kernel_size)`` units of one receptive field, pooled over every position as
    well.  Its weight ``(out, channels, *k)``, flattened, then gives each output channel's exact
    pooled moments through :meth:`InputStatistics.moments`.

    A recurrent layer's own spikes ``own`` (``(batch, time, *out_shape)``: the layer's output,
    which enters its synaptic current at the same step as ``x``) come after the feed-forward
    units: a dense layer's every unit, a convolution's ``out_channels * prod(rec_kernel_size)``
    units of its stride-1 'same' recurrent receptive field.  The weights are then
    ``concat(W.flatten(1), V.flatten(1))`` and :meth:`InputStatistics.part` gives each block.
    The patches are made ``samples_per_batch`` samples at a time; ``block`` as in
    :func:`input_statistics`.
    """
    from .sources import SpikeSource

    x = x.detach().float().cpu()
    own = None if own is None else own.detach().float().cpu()
    B, T = x.shape[0], x.shape[1]
    if kernel_size is None:
        parts = [(x, None, None, None)] + ([] if own is None else [(own, None, None, None)])
    else:
        nd = x.dim() - 3
        if nd not in (1, 2):
            raise ValueError("a convolution's inputs must be (batch, time, channels, *spatial) with 1 or 2 spatial "
                             f"axes; got {tuple(x.shape)}")
        parts = [(x, _tuple(kernel_size, nd), _tuple(stride, nd), _tuple(padding, nd))]
        if own is not None:
            k_r = _tuple(rec_kernel_size, nd)
            parts.append((own, k_r, (1,) * nd, tuple(k // 2 for k in k_r)))
    shapes = [_patches(p[0][:1], *p[1:]).shape for p in parts]
    per = shapes[0][0]
    if any(sh[0] != per for sh in shapes):
        raise ValueError(f"the layer's own spikes {tuple(own.shape)} do not match its output positions ({per})")
    n = sum(sh[2] for sh in shapes)

    def batches():
        for s in range(0, B, samples_per_batch):
            yield torch.cat([_patches(p[0][s:s + samples_per_batch], *p[1:]) for p in parts], dim=2)

    src = SpikeSource(name=name, n_inputs=n, n_steps=T, n_samples=B * per, dt=dt, window=(0, T), batches=batches)
    return input_statistics(src, tau_mem=tau_mem, tau_syn=tau_syn, block=block)


def _tuple(v, nd: int) -> tuple[int, ...]:
    return tuple(int(a) for a in v) if isinstance(v, (tuple, list)) else (int(v),) * nd


def _patches(xb: torch.Tensor, kernel, stride, padding) -> torch.Tensor:
    """``(b * positions, time, units)``: every unit of a dense input, or one receptive field per
    output position of a convolution (channel-major, as ``weight.flatten(1)``)."""
    b, T = xb.shape[0], xb.shape[1]
    if kernel is None:
        return xb.reshape(b, T, -1)
    import torch.nn.functional as F

    nd = len(kernel)
    pad = [p for q in reversed(padding) for p in (q, q)]
    xp = F.pad(xb, pad) if any(padding) else xb
    for axis, (k, st) in enumerate(zip(kernel, stride)):
        xp = xp.unfold(3 + axis, k, st)  # (b, T, C, *P, *k)
    perm = (0, *range(3, 3 + nd), 1, 2, *range(3 + nd, 3 + 2 * nd))
    return xp.permute(*perm).reshape(b * math.prod(xp.shape[3:3 + nd]), T, xb.shape[2] * math.prod(kernel))
