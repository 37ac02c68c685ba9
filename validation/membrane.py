"""Membrane statistics of free (non-spiking) LIF neurons: theory against measurement.

Paper figure 2 and supplementary S2.  A population of ``n_neurons`` postsynaptic neurons,
each with an independent draw of its incoming weights from an initializer, receives a data
set (stationary Poisson/Bernoulli spikes, Randman or SHD).  In free-membrane mode (no
threshold, no reset) each neuron's membrane is a linear filter of its weighted input
(paper eq. 1, discrete form of eqs. 10-11)::

    I_c[n+1] = lambda_syn_c * I_c[n] + W_c @ x_c[n]           (one current per synapse type c)
    U[n+1]   = lambda_mem * U[n] + (1 - lambda_mem) * sum_c I_c[n],     U[0] = I_c[0] = 0

so ``U[n] = sum_c sum_m K_c[n - m] (W_c @ x_c[m])`` with ``K_c`` the discrete PSP kernel
(``theory.psp_kernel``).  Because filtering in time and weighting over inputs commute, the
implementation first forms the weighted input ``x_c @ W_c.T`` for all neurons at once (one
matrix product per synapse type and mini-batch), then evaluates the exact two-state
recursion above in blocks of 32 steps, each block one small matrix product with the kernel's
Toeplitz matrix plus the state carried exactly from the previous block
(:func:`_filter_time_major`).  No loop over neurons, samples or single steps.

Which time steps enter the moments:

* stationary Poisson input starts from ``U[0] = I[0] = 0``; the first ``burn_steps``
  steps (the transient, chosen so that the kernel's tail beyond them carries less than
  ``1e-6`` of ``sum K`` and of ``sum K**2``; see :func:`burn_in_steps`) are simulated but
  discarded, and the moments are taken over the following ``round(duration/dt)`` steps;
* data sets (Randman, SHD) use the whole trial, steps ``0 .. T-1``, as the paper does.

Per neuron ``i`` the measured moments are pooled over all samples and window steps,
``mu_i = <U_i>``, ``sigma_i**2 = <U_i**2> - mu_i**2`` (chunk sums accumulated in float64).
The theory's per-neuron prediction for the drawn weights is paper eqs. 2-3
(``theory.membrane_moments_from_weights``) with the per-input rates ``nu_j`` (measured from
the data, or the Poisson rate); its spread across neurons is the variability expected from
finite weight sampling alone (supplementary S2).

Bernoulli inputs: the simulator's input is one 0/1 value per step, drawn with probability
``p = nu*dt``.  Its per-step variance is ``p(1-p)`` instead of the Poisson ``p``, so the
exact membrane variance is eq. 3 times ``1 - nu*dt`` (the mean is unchanged).  Reports on
Poisson input carry that exact expectation as ``sigma_u_expected``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from fluctinit._io import atomic_write_json, atomic_write_text
from fluctinit.errors import Integer, Interval, OneOf, ParameterError, check, check_all, conflict

__all__ = [
    "INITIALIZERS",
    "Channel",
    "NeuronPopulation",
    "SpikeSource",
    "MembraneMeasurement",
    "MembraneReport",
    "burn_in_steps",
    "free_membrane",
    "draw_population",
    "predicted_moments",
    "poisson_source",
    "tensor_source",
    "dataset_source",
    "shd_source",
    "randman_source",
    "measure_rates",
    "measure_membrane",
    "validate",
    "sweep",
    "write_table_atomic",
]

INITIALIZERS = ("feedforward", "recurrent", "dale-exponential", "dale-lognormal")

_POS = Interval(0.0, None, "neither")
_NONNEG = Interval(0.0, None, "left")
_FINITE = Interval()

#: constraints of the public functions' parameters (one table, so tests can push each out of range)
CONSTRAINTS: dict[str, Any] = {
    "tau_mem": _POS,
    "tau_syn": _POS,
    "tau_syn_inh": _POS,
    "dt": _POS,
    "duration": _POS,
    "sigma_u": _POS,
    "mu_u": _FINITE,
    "xi": _POS,
    "theta": _FINITE,
    "nu": _POS,
    "nu_rec": _POS,
    "nu_inh": _POS,
    "alpha": Interval(0.0, 1.0, "neither"),
    "sigma_log": _POS,
    "n_neurons": Integer(1),
    "fan_in": Integer(1),
    "fan_in_rec": Integer(1),
    "n_inh": Integer(1),
    "trials": Integer(1),
    "batch_size": Integer(1),
    "max_samples": Integer(1),
    "hist_neurons": Integer(0),
    "hist_bins": Integer(2),
    "hist_width": _POS,
    "burn_tol": Interval(0.0, 1.0, "neither"),
    "mode": OneOf(("discrete", "continuous")),
    "poisson_mode": OneOf(("bernoulli", "count")),
    "init": OneOf(INITIALIZERS),
}


# --------------------------------------------------------------------------------------
# the exact linear filter


def _decays(tau_mem: float, tau_syn: float, dt: float) -> tuple[float, float]:
    return math.exp(-dt / tau_mem), math.exp(-dt / tau_syn)


def _kernel_from_decays(lambda_mem: float, lambda_syn: float, n: int) -> np.ndarray:
    """Discrete PSP kernel ``K[0..n-1]`` (float64) from the decays: ``K[0] = K[1] = 0`` and
    ``K[m+1] = lambda_mem K[m] + (1 - lambda_mem) lambda_syn**(m-1)`` (same as ``theory.psp_kernel``)."""
    k = np.zeros(max(n, 2))
    i_syn = 1.0
    for m in range(1, n - 1):
        k[m + 1] = lambda_mem * k[m] + (1.0 - lambda_mem) * i_syn
        i_syn *= lambda_syn
    return k[:n]


def _filter_time_major(currents: Sequence[tuple[torch.Tensor, float]], lambda_mem: float,
                       block: int = 32) -> torch.Tensor:
    """Exact free-membrane recursion, evaluated block-wise in time by matrix products.

    Within a block of ``L`` steps starting at ``n0`` the recursion unrolls to (``K_c`` the
    discrete PSP kernel of current ``c``, :func:`_kernel_from_decays`)::

        U[n0+k] = lambda_mem**k U[n0] + sum_c K_c[k+1] I_c[n0] + sum_c sum_{j<k} K_c[k-j] Y_c[n0+j]
        I_c[n0+L] = lambda_syn_c**L I_c[n0] + sum_{j<L} lambda_syn_c**(L-1-j) Y_c[n0+j]

    so each block costs one (L+1, L) x (L, batch*neurons) matrix product per current and the
    state is carried exactly from block to block (no Python loop over single steps).

    Args:
        currents: pairs ``(Y_c, lambda_syn_c)``, ``Y_c`` time-major ``(time, batch, neurons)``:
            the input increment ``W_c @ x_c[n]`` of current ``c`` at step ``n``.
        lambda_mem: ``exp(-dt/tau_mem)``.

    Returns:
        ``U``, time-major ``(time, batch, neurons)``, ``U[0] = 0``.
    """
    y0 = currents[0][0]
    steps, batch, neurons = y0.shape
    dtype, dev = y0.dtype, y0.device
    width = batch * neurons
    L = max(1, min(block, steps))
    kk = np.arange(L + 1)
    as_t = lambda a: torch.as_tensor(a, dtype=dtype, device=dev)  # noqa: E731
    mem_pow = as_t(lambda_mem ** kk.astype(float)).unsqueeze(1)  # (L+1, 1)
    mats = []
    for _, lam in currents:
        K = _kernel_from_decays(lambda_mem, lam, L + 2)
        toe = np.zeros((L + 1, L))
        for k in range(L + 1):
            toe[k, :k] = K[k - np.arange(k)]
        decay = lam ** (L - 1 - np.arange(L)).astype(float)
        mats.append((as_t(toe), as_t(K[1:L + 2]).unsqueeze(1), as_t(decay), lam))
    ys = [y.reshape(steps, width) for y, _ in currents]
    out = torch.empty(steps, width, dtype=dtype, device=dev)
    u0 = torch.zeros(1, width, dtype=dtype, device=dev)
    state = [torch.zeros(1, width, dtype=dtype, device=dev) for _ in currents]
    for n0 in range(0, steps, L):
        n1 = min(n0 + L, steps)
        ln = n1 - n0
        blk = mem_pow[: ln + 1] * u0  # (ln+1, width)
        for c, (toe, carry, decay, lam) in enumerate(mats):
            yb = ys[c][n0:n1]
            blk.addmm_(toe[: ln + 1, :ln], yb)
            blk.addmm_(carry[: ln + 1], state[c])
            state[c] = (decay[L - ln:].unsqueeze(0) @ yb).add_(state[c], alpha=lam**ln)
        out[n0:n1] = blk[:ln]
        u0 = blk[ln:ln + 1]
    return out.view(steps, batch, neurons)


def _filter(currents: Sequence[tuple[torch.Tensor, float]], lambda_mem: float) -> torch.Tensor:
    """Free-membrane recursion for summed weighted inputs, batch-major.

    Args:
        currents: pairs ``(Y_c, lambda_syn_c)``; ``Y_c`` of shape ``(batch, time, neurons)``
            is the input increment ``W_c @ x_c[n]`` of current ``c`` at step ``n``.
        lambda_mem: ``exp(-dt/tau_mem)``.

    Returns:
        ``U`` of shape ``(batch, time, neurons)``, ``U[:, 0] = 0``.
    """
    tm = [(y.transpose(0, 1).contiguous(), lam) for y, lam in currents]
    return _filter_time_major(tm, lambda_mem).transpose(0, 1)


def free_membrane(
    x: torch.Tensor,
    weights: torch.Tensor,
    *,
    tau_mem: float = 20e-3,
    tau_syn: float = 10e-3,
    dt: float = 2e-3,
) -> torch.Tensor:
    """Free membrane potential of ``n_post`` neurons driven by input spikes (paper eqs. 1, 10-11).

    Exact discrete recursion without threshold or reset, all state zero at ``n = 0``::

        I[n+1] = exp(-dt/tau_syn) I[n] + W @ x[n]
        U[n+1] = exp(-dt/tau_mem) U[n] + (1 - exp(-dt/tau_mem)) I[n]

    i.e. ``U[n] = sum_m K[n-m] W @ x[m]`` with the discrete PSP kernel ``K``
    (``theory.psp_kernel``).  Computed as one matrix product ``x @ W.T`` followed by one
    pass of the recursion over time (linear operations commute).

    Args:
        x: presynaptic spikes (or counts), shape ``(batch, time, n_pre)``.
        weights: ``W``, shape ``(n_post, n_pre)`` (threshold units per spike).
        tau_mem, tau_syn, dt: time constants and step (seconds).

    Returns:
        ``U``, shape ``(batch, time, n_post)``, dtype of ``x``.

    Raises:
        ParameterError: bad time constants or mismatched shapes.
    """
    p = check_all(CONSTRAINTS, tau_mem=tau_mem, tau_syn=tau_syn, dt=dt)
    if x.dim() != 3:
        raise ParameterError(f"`x` must be a tensor of shape (batch, time, n_pre); got shape {tuple(x.shape)!r}",
                             ["x"], [tuple(x.shape)])
    if weights.dim() != 2 or weights.shape[1] != x.shape[2]:
        raise conflict("weights must have shape (n_post, n_pre) with n_pre = x.shape[2]",
                       weights=tuple(weights.shape), x=tuple(x.shape))
    lm, ls = _decays(p["tau_mem"], p["tau_syn"], p["dt"])
    y = torch.matmul(x, weights.to(x.dtype).T)
    return _filter([(y, ls)], lm)


def burn_in_steps(tau_mem: float = 20e-3, tau_syn: float = 10e-3, dt: float = 2e-3,
                  *, burn_tol: float = 1e-6) -> int:
    """Number of initial steps to discard for stationary input starting from ``U[0] = 0``.

    The variance at step ``n`` is the stationary one times ``sum_{m<n} K[m]**2 / sum K**2``
    (and the mean likewise with ``K``).  Returns the smallest ``n`` for which the kernel's
    tail ``m >= n`` carries at most ``burn_tol`` of both ``sum K`` and ``sum K**2``.  With
    ``K[m] ~ m * exp(-m dt/tau)`` near ``tau_mem = tau_syn`` this is about
    ``-log(burn_tol) * max(tau_mem, tau_syn)/dt`` steps plus a few (136 steps for the
    defaults 20 ms, 10 ms, 2 ms).

    Units: tau_mem, tau_syn, dt in seconds.  Returns an integer number of steps.
    """
    p = check_all(CONSTRAINTS, tau_mem=tau_mem, tau_syn=tau_syn, dt=dt, burn_tol=burn_tol)
    lm, ls = _decays(p["tau_mem"], p["tau_syn"], p["dt"])
    # closed-form kernel (same recursion as _filter on a unit spike at step 0), float64
    n_max = int(math.ceil(60.0 * max(p["tau_mem"], p["tau_syn"]) / p["dt"])) + 4
    k = np.zeros(n_max)
    i_syn, u = 1.0, 0.0  # I[1] = 1 and U[1] = 0 after the spike at step 0
    for n in range(1, n_max - 1):
        u = lm * u + (1 - lm) * i_syn  # U[n+1]
        k[n + 1] = u
        i_syn *= ls  # I[n+1]
    tail1 = np.cumsum(np.abs(k)[::-1])[::-1]
    tail2 = np.cumsum((k * k)[::-1])[::-1]
    ok = (tail1 <= p["burn_tol"] * tail1[0]) & (tail2 <= p["burn_tol"] * tail2[0])
    return int(np.argmax(ok))


# --------------------------------------------------------------------------------------
# populations: weights drawn from an initializer


@dataclass(frozen=True)
class Channel:
    """One block of presynaptic inputs onto the population.

    Attributes:
        name: "ff" (the data's inputs), "rec", "exc", "inh", "exc_rec".
        weights: signed weights ``(n_post, n_pre)`` (inhibitory weights negative), float32.
        tau_syn: synaptic time constant of this synapse type (s).
        source: "data" (the data set's inputs) or "poisson" (independent Bernoulli spikes
            generated at rate ``nu`` with ``p = nu*dt`` per step).
        nu: the rate of a generated channel (Hz); ``None`` for "data".
    """

    name: str
    weights: torch.Tensor
    tau_syn: float
    source: str
    nu: float | None = None

    @property
    def n_pre(self) -> int:
        return int(self.weights.shape[1])


@dataclass(frozen=True)
class NeuronPopulation:
    """Neurons with independently drawn weights and the targets they were drawn for.

    Attributes:
        channels: the input blocks (see :class:`Channel`).
        init: initializer name (one of :data:`INITIALIZERS`).
        sigma_u, mu_u: the targets (threshold units), ``sigma_u`` per neuron ``(n_post,)``
            so that populations for several targets can be stacked.
        params: the theory's parameter records (one per target).
    """

    channels: tuple[Channel, ...]
    init: str
    sigma_u: np.ndarray
    mu_u: np.ndarray
    params: tuple[Any, ...]

    @property
    def n_post(self) -> int:
        return int(self.channels[0].weights.shape[0])

    @staticmethod
    def stack(pops: Sequence["NeuronPopulation"]) -> "NeuronPopulation":
        """Concatenate populations with the same channel layout along the neuron axis."""
        first = pops[0]
        chans = []
        for c, ch in enumerate(first.channels):
            chans.append(Channel(ch.name, torch.cat([p.channels[c].weights for p in pops], 0),
                                 ch.tau_syn, ch.source, ch.nu))
        return NeuronPopulation(tuple(chans), first.init,
                          np.concatenate([p.sigma_u for p in pops]),
                          np.concatenate([p.mu_u for p in pops]),
                          tuple(r for p in pops for r in p.params))


def draw_population(
    init: str,
    n_neurons: int,
    n_inputs: int,
    nu: float,
    *,
    sigma_u: float = 1.0,
    mu_u: float = 0.0,
    xi: float | None = None,
    theta: float = 1.0,
    alpha: float = 0.9,
    fan_in_rec: int | None = None,
    nu_rec: float | None = None,
    n_inh: int | None = None,
    nu_inh: float | None = None,
    sigma_log: float = 1.0,
    tau_mem: float = 20e-3,
    tau_syn: float = 10e-3,
    tau_syn_inh: float | None = None,
    dt: float = 2e-3,
    mode: str = "discrete",
    generator: torch.Generator | None = None,
) -> NeuronPopulation:
    """Draw ``n_neurons`` independent weight vectors from an initializer for given targets.

    The weights are drawn by the simulator's initializers (:mod:`fluctinit.sim.init`), whose
    parameters come from :mod:`fluctinit.theory` (kernel integrals in ``mode``):

    * ``feedforward``: ``W ~ N(mu_w, sigma_w**2)`` with eqs. 6-7 (``fluctuation_normal_``; ``feedforward_params``;
      ``xi`` instead of ``sigma_u`` for the non-centered form).
    * ``recurrent``: ``W ~ N(mu_w, sigma_w**2)`` on the data's ``n_inputs`` and
      ``V ~ N(mu_w, sigma_v**2)`` on ``fan_in_rec`` recurrent inputs (eqs. 35-36,
      ``recurrent_params``), the recurrent inputs treated as independent Poisson at
      ``nu_rec`` (default ``nu``), same synaptic kernel.
    * ``dale-exponential`` / ``dale-lognormal``: non-negative excitatory weights on the data's
      inputs and inhibitory weights on ``n_inh`` (default ``n_inputs // 4``) independent
      Poisson inputs at ``nu_inh`` (default ``nu``) with their own synaptic time constant
      ``tau_syn_inh`` (default ``theory.DEFAULT_TAU_SYN_INH``, 20 ms, paper table 3;
      excitatory synapses use ``tau_syn``) (eqs. 40-47, ``dale_params``; ``mu_u`` must be 0); the
      inhibitory weights enter with a minus sign.  With ``fan_in_rec`` set, a recurrent
      excitatory block at ``nu_rec`` is added and ``alpha`` splits the excitatory variance.

    Args:
        n_inputs: number of the data set's inputs (``fan_in``).
        nu: presynaptic rate used in the formulas (Hz).
        generator: torch generator for the weight draws (``None``: torch's default).

    Returns:
        a :class:`NeuronPopulation`; weights are float32 tensors.

    Raises:
        ParameterError: out-of-range arguments (before any math), infeasible targets.
    """
    from fluctinit import theory
    from fluctinit.sim import init as sim_init

    p = check_all(CONSTRAINTS, init=init, n_neurons=n_neurons, fan_in=n_inputs, nu=nu, sigma_u=sigma_u,
                  mu_u=mu_u, xi=xi, theta=theta, alpha=alpha, fan_in_rec=fan_in_rec, nu_rec=nu_rec,
                  n_inh=n_inh, nu_inh=nu_inh, sigma_log=sigma_log, tau_mem=tau_mem, tau_syn=tau_syn,
                  tau_syn_inh=tau_syn_inh, dt=dt, mode=mode)
    n_post = p["n_neurons"]
    kern = theory.kernel_integrals(tau_mem=p["tau_mem"], tau_syn=p["tau_syn"], dt=p["dt"], mode=p["mode"])
    sig_arg = None if xi is not None else p["sigma_u"]
    target = dict(sigma_u=sig_arg, mu_u=p["mu_u"], xi=p["xi"], theta=p["theta"])

    def empty(n_pre):
        return torch.empty(n_post, n_pre, dtype=torch.float32)

    # the weights come from the simulator's initializers (fluctinit.sim.init), which take their
    # parameters from the theory; the theory's record is kept for the report
    if init == "feedforward":
        prm = theory.feedforward_params(p["fan_in"], p["nu"], kernel=kern, **target)
        w = sim_init.fluctuation_normal_(empty(p["fan_in"]), p["nu"], kernel=kern, generator=generator, **target)
        channels = (Channel("ff", w, p["tau_syn"], "data"),)
    elif init == "recurrent":
        n_rec = p["fan_in_rec"] if fan_in_rec is not None else n_post
        nu_r = p["nu_rec"] if nu_rec is not None else p["nu"]
        prm = theory.recurrent_params(p["fan_in"], n_rec, p["nu"], alpha=p["alpha"], nu_rec=nu_r, kernel=kern, **target)
        w, v = sim_init.fluctuation_recurrent_(empty(p["fan_in"]), empty(n_rec), p["nu"], alpha=p["alpha"], nu_rec=nu_r,
                                               kernel=kern, generator=generator, **target)
        channels = (Channel("ff", w, p["tau_syn"], "data"), Channel("rec", v, p["tau_syn"], "poisson", nu_r))
    else:
        dist = "exponential" if init == "dale-exponential" else "lognormal"
        n_i = p["n_inh"] if n_inh is not None else max(1, p["fan_in"] // 4)
        nu_i = p["nu_inh"] if nu_inh is not None else p["nu"]
        ts_i = p["tau_syn_inh"] if tau_syn_inh is not None else theory.DEFAULT_TAU_SYN_INH
        kern_i = theory.kernel_integrals(tau_mem=p["tau_mem"], tau_syn=ts_i, dt=p["dt"], mode=p["mode"])
        n_rec = p["fan_in_rec"]
        extra: dict[str, Any] = {}
        nu_r = None
        if n_rec is not None:
            nu_r = p["nu_rec"] if nu_rec is not None else p["nu"]
            extra.update(alpha=p["alpha"], nu_exc_rec=nu_r)
        if dist == "lognormal":
            extra["sigma_log"] = p["sigma_log"]
        prm = theory.dale_params(p["fan_in"], n_i, p["nu"], nu_i, n_exc_rec=n_rec, kernel_exc=kern, kernel_inh=kern_i,
                                   dist=dist, **target, **extra)
        filler = sim_init.dale_exponential_ if dist == "exponential" else sim_init.dale_lognormal_
        ws = filler(empty(p["fan_in"]), empty(n_i), p["nu"], nu_i, w_exc_rec=None if n_rec is None else empty(n_rec),
                    kernel_exc=kern, kernel_inh=kern_i, generator=generator, **target, **extra)
        chans = [Channel("exc", ws[0], p["tau_syn"], "data"), Channel("inh", -ws[1], ts_i, "poisson", nu_i)]
        if n_rec is not None:
            chans.append(Channel("exc_rec", ws[2], p["tau_syn"], "poisson", nu_r))
        channels = tuple(chans)
    return NeuronPopulation(channels, init, np.full(n_post, p["sigma_u"] if xi is None else (p["theta"] - p["mu_u"]) / p["xi"]),
                      np.full(n_post, p["mu_u"]), (prm,))


def predicted_moments(pop: NeuronPopulation, data_rates: np.ndarray, *, tau_mem: float, dt: float,
                      bernoulli_data: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron theory (paper eqs. 2-3) for the drawn weights: ``(mu_u, sigma_u)``, each ``(n_post,)``.

    ``mu_i = sum_j w_ij nu_j epsilon_bar_c`` and ``sigma_i**2 = sum_j w_ij**2 nu_j epsilon_hat_c``
    summed over channels ``c`` (each with its own discrete kernel integrals; the simulation
    is discrete, so the exact discrete integrals are used whatever ``mode`` set the weights).
    On Bernoulli inputs (generated channels, and the data when ``bernoulli_data``) the
    variance term of input ``j`` is multiplied by ``1 - nu_j dt``.
    """
    from fluctinit import theory

    mu = np.zeros(pop.n_post)
    var = np.zeros(pop.n_post)
    for ch in pop.channels:
        kern = theory.kernel_integrals(tau_mem=tau_mem, tau_syn=ch.tau_syn, dt=dt, mode="discrete")
        rates = np.asarray(data_rates, dtype=float) if ch.source == "data" else np.full(ch.n_pre, float(ch.nu))
        w = ch.weights.double().cpu().numpy()
        bern = ch.source == "poisson" or bernoulli_data
        # variance rate: nu_j (1 - nu_j dt) on Bernoulli inputs (theory.bernoulli_variance_factor)
        rv = rates * (1.0 - rates * dt) if bern else rates
        # silent inputs (rate 0) contribute nothing; the theory takes positive rates only
        on_m, on_v = rates > 0, rv > 0
        if on_m.any():
            m, _ = theory.membrane_moments_from_weights(w[:, on_m], rates[on_m], kern)
            mu += np.asarray(m, dtype=float)
        if on_v.any():
            _, s = theory.membrane_moments_from_weights(w[:, on_v], rv[on_v], kern)
            var += np.asarray(s, dtype=float) ** 2
    return mu, np.sqrt(var)


# --------------------------------------------------------------------------------------
# spike sources


@dataclass(frozen=True)
class SpikeSource:
    """A data set streamed as dense mini-batches.

    Attributes:
        name: "poisson", "randman", "shd", or a caller's name.
        n_inputs: number of input units.
        n_steps: steps per sample (including any burn-in).
        n_samples: number of samples (trials).
        dt: time step (s).
        window: ``(start, stop)`` steps entering the moments.
        batches: callable returning a fresh iterator of float32 tensors
            ``(batch, n_steps, n_inputs)`` (spike counts per step); calling it again
            replays the same data.
        poisson_rate: for generated stationary Poisson input, its rate (Hz); ``None`` for data.
        variance_factor: for generated Poisson input, the exact variance relative to eq. 3
            (``1 - nu*dt`` for Bernoulli spikes, 1 for Poisson counts); ``None`` for data.
        rates: optional callable giving the per-input rates over the window (Hz) without a
            pass over the binned data (event-form data sets count their events directly).
    """

    name: str
    n_inputs: int
    n_steps: int
    n_samples: int
    dt: float
    window: tuple[int, int]
    batches: Callable[[], Iterator[torch.Tensor]]
    poisson_rate: float | None = None
    variance_factor: float | None = None
    rates: Callable[[], np.ndarray] | None = None


def _check_rate(name, nu, dt):
    if nu * dt > 1.0:
        raise conflict("Bernoulli inputs need nu*dt <= 1; lower the rate or the time step", **{name: nu, "dt": dt})


def poisson_source(fan_in: int, nu: float, *, duration: float = 1.0, trials: int = 16, dt: float = 2e-3,
                   burn_steps: int = 0, batch_size: int = 16, seed: int = 0, poisson_mode: str = "bernoulli") -> SpikeSource:
    """Independent homogeneous Poisson inputs in discrete time (``fluctinit.sim.inputs.poisson_spikes``).

    ``poisson_mode="bernoulli"``: one 0/1 value per step with ``p = nu*dt`` (variance lower by
    ``1 - nu*dt``); ``poisson_mode="count"``: Poisson counts per step (eq. 3 exactly).  Each of
    ``trials`` samples has ``burn_steps + round(duration/dt)`` steps; the window is the last
    ``round(duration/dt)`` steps.  The same ``seed`` replays the same spikes.

    Raises:
        ParameterError: out-of-range arguments, ``nu*dt > 1`` for Bernoulli spikes.
    """
    from fluctinit.sim.inputs import poisson_spikes
    from fluctinit.theory import bernoulli_variance_factor

    p = check_all(CONSTRAINTS, fan_in=fan_in, nu=nu, duration=duration, trials=trials, dt=dt, batch_size=batch_size,
                  poisson_mode=poisson_mode)
    mode = p["poisson_mode"]
    check("burn_steps", burn_steps, Integer(0))
    if mode == "bernoulli":
        _check_rate("nu", p["nu"], p["dt"])
        factor = bernoulli_variance_factor(p["nu"], p["dt"])
    else:
        factor = 1.0
    n_win = max(1, int(round(p["duration"] / p["dt"])))
    n_steps = burn_steps + n_win

    def batches():
        gen = torch.Generator().manual_seed(int(seed))
        for start in range(0, p["trials"], p["batch_size"]):
            b = min(p["batch_size"], p["trials"] - start)
            yield poisson_spikes(b, n_steps, p["fan_in"], p["nu"], p["dt"], mode=mode, generator=gen)

    return SpikeSource("poisson", p["fan_in"], n_steps, p["trials"], p["dt"], (burn_steps, n_steps), batches,
                       p["nu"], factor)


def tensor_source(x: torch.Tensor | np.ndarray, dt: float, *, batch_size: int = 64, name: str = "tensor") -> SpikeSource:
    """Wrap an in-memory data set ``(samples, time, inputs)`` (whole trial enters the moments)."""
    check("dt", dt, CONSTRAINTS["dt"])
    check("batch_size", batch_size, CONSTRAINTS["batch_size"])
    x = torch.as_tensor(x, dtype=torch.float32)
    if x.dim() != 3 or min(x.shape) < 1:
        raise ParameterError(f"`x` must be a non-empty tensor of shape (samples, time, inputs); got shape {tuple(x.shape)!r}",
                             ["x"], [tuple(x.shape)])
    if not bool(torch.isfinite(x).all()) or bool((x < 0).any()):
        raise ParameterError("`x` must hold finite non-negative spike counts; got other values", ["x"], ["<tensor>"])

    def batches():
        for s in range(0, x.shape[0], batch_size):
            yield x[s:s + batch_size]

    return SpikeSource(name, int(x.shape[2]), int(x.shape[1]), int(x.shape[0]), float(dt), (0, int(x.shape[1])), batches)


def dataset_source(dataset, *, dt: float = 2e-3, batch_size: int = 128, name: str = "data",
                   max_samples: int | None = None) -> SpikeSource:
    """Stream a :class:`fluctinit.datasets.SpikeDataset` (event form), binned per mini-batch.

    The whole trial, ``dataset.n_steps(dt)`` steps, enters the moments (the paper's choice for
    Randman and SHD); samples in storage order, the first ``max_samples`` if given.
    """
    p = check_all(CONSTRAINTS, dt=dt, batch_size=batch_size, max_samples=max_samples)
    if max_samples is not None and max_samples < len(dataset):
        dataset = dataset.subset(np.arange(p["max_samples"]))
    n_steps = dataset.n_steps(p["dt"])

    def batches():
        for x, _ in dataset.batches(p["batch_size"], p["dt"], shuffle=False):
            yield x

    def rates():
        # events binned into steps 0..n_steps-1 (the same rule as the dense binning)
        n_bins = np.floor(np.asarray(dataset.times, dtype=np.float64) / p["dt"])
        counts = np.bincount(np.asarray(dataset.units)[n_bins < n_steps].astype(np.int64),
                             minlength=dataset.n_units)
        return counts / (len(dataset) * n_steps * p["dt"])

    return SpikeSource(name, int(dataset.n_units), int(n_steps), len(dataset), p["dt"], (0, int(n_steps)), batches,
                       rates=rates)


SHD_HELP = ("the official SHD training file shd_train.h5: download shd_train.h5.gz from "
            "https://zenkelab.org/datasets/ (Heidelberg spiking data sets), gunzip it and pass its path "
            "with --path (or fetch both files with `fluctinit data shd --root DIR --download`)")


def shd_source(path: str | os.PathLike, *, dt: float = 2e-3, duration: float = 0.7, batch_size: int = 128,
               max_samples: int | None = None) -> SpikeSource:
    """The Spiking Heidelberg Digits training file (official HDF5 format) as a source.

    The file is validated and read by ``fluctinit.datasets.validate_shd_file``
    (``spikes/times`` in seconds, ``spikes/units`` in ``0..699``, ``labels``); spikes at
    ``t >= duration`` are dropped (paper: first 700 ms), and bins of width ``dt`` hold spike
    counts (paper: 350 steps of 2 ms).  The whole 700 ms enters the moments.

    Raises:
        FileNotFoundError: no file at ``path`` (the message says where to get it).
        fluctinit.datasets.DataError (a ValueError): a file without the official layout.
    """
    from fluctinit.datasets import SHD_N_UNITS, SpikeDataset, validate_shd_file

    p = check_all(CONSTRAINTS, dt=dt, duration=duration, batch_size=batch_size, max_samples=max_samples)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no SHD file at {path!r}; need {SHD_HELP}")
    t, u, c, y = validate_shd_file(path)
    keep = t < p["duration"]
    counts = np.bincount(np.repeat(np.arange(c.shape[0]), c)[keep], minlength=c.shape[0])
    ds = SpikeDataset.from_flat(t[keep], u[keep], counts, y, SHD_N_UNITS, p["duration"], source=path)
    if len(ds) < 1:
        raise ValueError(f"{path}: the file holds no samples")
    return dataset_source(ds, dt=p["dt"], batch_size=p["batch_size"], name="shd", max_samples=max_samples)


def randman_source(*, dt: float = 2e-3, seed: int = 0, batch_size: int = 256, max_samples: int | None = None,
                   cache_dir: str | os.PathLike | None = None, **overrides: Any) -> SpikeSource:
    """The paper's Randman training split (``fluctinit.datasets.make_randman``; 20 units, 10 classes,
    8000 samples of 100 ms spiking window + 100 ms silence; 5 Hz), whole trial in the moments.

    ``overrides`` replace fields of ``RandmanConfig`` (e.g. fewer ``samples_per_class``)."""
    from fluctinit.datasets.randman import make_randman

    check("seed", seed, Integer(0))
    splits = make_randman(seed=int(seed), cache_dir=cache_dir, **overrides)
    return dataset_source(splits.train, dt=dt, batch_size=batch_size, name="randman", max_samples=max_samples)


# --------------------------------------------------------------------------------------
# measurement


def _column_sums(x: torch.Tensor) -> torch.Tensor:
    """Spike counts per input of a ``(batch, time, inputs)`` block, float64 ``(inputs,)``.

    A ones-vector product (faster than a reduction over the leading axes); float32 partial
    sums are exact for counts below 2**24 per block, and the caller accumulates in float64."""
    flat = x.reshape(-1, x.shape[-1])
    return (torch.ones(1, flat.shape[0], dtype=flat.dtype, device=flat.device) @ flat)[0].double()


def measure_rates(source: SpikeSource) -> np.ndarray:
    """Per-input rates over the moment window (Hz), ``(n_inputs,)``: spike count / (samples * steps * dt).

    Uses ``source.rates`` when the source can count its events directly, else one pass."""
    if source.rates is not None:
        return np.asarray(source.rates(), dtype=float)
    a, b = source.window
    total = torch.zeros(source.n_inputs, dtype=torch.float64)
    for x in source.batches():
        total += _column_sums(x[:, a:b])
    return (total / (source.n_samples * (b - a) * source.dt)).numpy()


@dataclass
class MembraneMeasurement:
    """Per-neuron moments measured over a data set, and histograms of chosen neurons.

    Attributes:
        mu_u, sigma_u: ``(n_post,)`` float64, pooled over samples and window steps.
        n_values: number of ``U`` values per neuron.
        rates: per-input rates of the data's inputs over the window (Hz), ``(n_inputs,)``.
        hist: list of dicts (neuron, edges, counts, underflow, overflow).
    """

    mu_u: np.ndarray
    sigma_u: np.ndarray
    n_values: int
    rates: np.ndarray
    hist: list[dict] = field(default_factory=list)


def measure_membrane(
    source: SpikeSource,
    pop: NeuronPopulation,
    *,
    tau_mem: float = 20e-3,
    seed: int = 0,
    hist_edges: dict[int, np.ndarray] | None = None,
    max_elements: int = 2**23,
) -> MembraneMeasurement:
    """Stream ``source`` through the free membranes of ``pop``; per-neuron mean and std of ``U``.

    For each mini-batch: one matrix product per channel (``x_c @ W_c.T``, all neurons),
    the exact recursion over time (:func:`_filter`), then sums of ``U`` and ``U**2`` over the
    window (float32 within a chunk, accumulated across chunks in float64).  Generated
    (Poisson) channels are drawn with a generator seeded by ``seed``.  Mini-batches are split
    so that ``batch * time * neurons <= max_elements``.

    Args:
        hist_edges: ``{neuron: bin edges}`` of the neurons whose ``U`` histogram is kept.

    Returns:
        :class:`MembraneMeasurement`.
    """
    from fluctinit.sim.inputs import poisson_spikes

    check("tau_mem", tau_mem, CONSTRAINTS["tau_mem"])
    for ch in pop.channels:
        if ch.source == "data" and ch.n_pre != source.n_inputs:
            raise conflict("the population's data weights must match the data's number of inputs",
                           n_pre=ch.n_pre, n_inputs=source.n_inputs)
        if ch.source == "poisson":
            _check_rate(f"nu_{ch.name}", ch.nu, source.dt)
    dt = source.dt
    lm = math.exp(-dt / tau_mem)
    groups: dict[float, list[Channel]] = {}
    for ch in pop.channels:
        groups.setdefault(ch.tau_syn, []).append(ch)
    a, b = source.window
    n_post = pop.n_post
    s1 = torch.zeros(n_post, dtype=torch.float64)
    s2 = torch.zeros(n_post, dtype=torch.float64)
    counts_in = torch.zeros(source.n_inputs, dtype=torch.float64)
    hist_edges = hist_edges or {}
    hist_t = {h: torch.as_tensor(e, dtype=torch.float64) for h, e in hist_edges.items()}
    hist_c = {h: torch.zeros(len(e) - 1, dtype=torch.float64) for h, e in hist_edges.items()}
    under = {h: 0 for h in hist_edges}
    over = {h: 0 for h in hist_edges}
    gen = torch.Generator().manual_seed(int(seed))
    weights_t = {id(ch): ch.weights.float().T.contiguous() for ch in pop.channels}
    chunk = max(1, max_elements // max(1, source.n_steps * n_post))
    n_seen = 0
    for xb in source.batches():
        counts_in += _column_sums(xb[:, a:b])
        for s in range(0, xb.shape[0], chunk):
            x = xb[s:s + chunk]
            B, T = x.shape[0], x.shape[1]
            n_seen += B
            currents = []
            for tau, chans in groups.items():
                y = None
                for ch in chans:
                    if ch.source == "data":
                        inp = x
                    else:
                        inp = poisson_spikes(B, T, ch.n_pre, ch.nu, dt, mode="bernoulli", generator=gen)
                    # time-major weighted input (time, batch, neurons): one matrix product
                    wt = weights_t[id(ch)]
                    term = torch.matmul(inp, wt if wt.dtype == inp.dtype else wt.to(inp.dtype))
                    y = term if y is None else y.add_(term)
                currents.append((y.transpose(0, 1).contiguous(), math.exp(-dt / tau)))
            u = _filter_time_major(currents, lm)[a:b]  # (window, batch, neurons)
            flat = u.reshape(-1, n_post)
            # chunk sums in float32 (torch's cascade summation), accumulated across chunks in float64
            s1 += flat.sum(0).double()
            s2 += (flat * flat).sum(0).double()
            for h, e in hist_t.items():
                v = u[:, :, h].reshape(-1).double()  # time-major; the order does not matter
                nb = len(e) - 1
                idx = torch.bucketize(v, e, right=True) - 1
                idx = torch.where(v == e[-1], torch.full_like(idx, nb - 1), idx)  # last edge closed
                under[h] += int((idx < 0).sum())
                over[h] += int((idx >= nb).sum())
                inside = (idx >= 0) & (idx < nb)
                hist_c[h] += torch.bincount(idx[inside], minlength=nb).double()
    if n_seen != source.n_samples:
        raise ValueError(f"the data source yielded {n_seen} samples, expected {source.n_samples}")
    n_val = source.n_samples * (b - a)
    mean = s1 / n_val
    var = torch.clamp(s2 / n_val - mean * mean, min=0.0)
    rates = (counts_in / (source.n_samples * (b - a) * dt)).numpy()
    hist = [dict(neuron=int(h), edges=hist_edges[h].tolist(), counts=hist_c[h].tolist(),
                 underflow=int(under[h]), overflow=int(over[h])) for h in hist_edges]
    return MembraneMeasurement(mean.numpy(), var.sqrt().numpy(), n_val, rates, hist)


# --------------------------------------------------------------------------------------
# reports


@dataclass
class MembraneReport:
    """Target against measured membrane statistics for one target (paper figure 2c/2f point).

    All ``sigma``/``mu`` values are in threshold units; spreads are standard deviations
    across neurons (``ddof=1``); ``ratio`` is the across-neuron mean of
    ``sigma_measured_i / sigma_u_target`` and ``ratio_sem`` its standard error
    (spread / sqrt(n_neurons)).  ``sigma_u_spread_predicted`` is the across-neuron spread
    of the theory's per-neuron prediction for the drawn weights (eqs. 2-3, per-input rates;
    supplementary S2), ``sigma_u_predicted`` its mean.  ``sigma_u_expected`` (Poisson input
    only) is the exact expectation ``sigma_u_target * sqrt(1 - nu dt)`` for Bernoulli inputs.
    """

    data: str
    init: str
    sigma_u_target: float
    mu_u_target: float
    sigma_u_measured: float
    sigma_u_spread: float
    ratio: float
    ratio_sem: float
    mu_u_measured: float
    mu_u_spread: float
    mu_u_sem: float
    sigma_u_predicted: float
    sigma_u_spread_predicted: float
    mu_u_predicted: float
    mu_u_spread_predicted: float
    sigma_u_expected: float | None
    nu: float
    nu_used: float
    n_neurons: int
    n_inputs: int
    n_samples: int
    n_steps: int
    window: tuple[int, int]
    dt: float
    tau_mem: float
    tau_syn: float
    mode: str
    seed: int
    per_neuron: dict = field(default_factory=dict, repr=False)
    histograms: list = field(default_factory=list, repr=False)

    def to_dict(self, per_neuron: bool = False) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k not in ("per_neuron", "histograms")}
        d["window"] = list(self.window)
        if per_neuron:
            d["per_neuron"] = self.per_neuron
        return d


def _std(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1)) if len(x) > 1 else 0.0


def _report(source, pop, meas, sel, *, nu_used, pred_mu, pred_sigma, tau_mem, tau_syn, mode, seed) -> MembraneReport:
    sig_t = float(pop.sigma_u[sel][0])
    mu_t = float(pop.mu_u[sel][0])
    s = meas.sigma_u[sel]
    m = meas.mu_u[sel]
    r = s / sig_t
    n = len(s)
    nu = float(np.mean(meas.rates))
    expected = None
    if source.variance_factor is not None:
        expected = sig_t * math.sqrt(source.variance_factor)
    hist = []
    for h in meas.hist:
        if sel[h["neuron"]]:
            k = h["neuron"]
            edges = np.asarray(h["edges"])
            counts = np.asarray(h["counts"])
            dens = counts / (meas.n_values * np.diff(edges))
            hist.append(dict(neuron=int(k - np.argmax(sel)), edges=edges.tolist(), density=dens.tolist(),
                             underflow=h["underflow"] / meas.n_values, overflow=h["overflow"] / meas.n_values,
                             mu_u_measured=float(meas.mu_u[k]), sigma_u_measured=float(meas.sigma_u[k]),
                             mu_u_predicted=float(pred_mu[k]), sigma_u_predicted=float(pred_sigma[k]),
                             mu_u_target=mu_t, sigma_u_target=sig_t))
    return MembraneReport(
        data=source.name, init=pop.init, sigma_u_target=sig_t, mu_u_target=mu_t,
        sigma_u_measured=float(np.mean(s)), sigma_u_spread=_std(s), ratio=float(np.mean(r)),
        ratio_sem=_std(r) / math.sqrt(n), mu_u_measured=float(np.mean(m)), mu_u_spread=_std(m),
        mu_u_sem=_std(m) / math.sqrt(n), sigma_u_predicted=float(np.mean(pred_sigma[sel])),
        sigma_u_spread_predicted=_std(pred_sigma[sel]), mu_u_predicted=float(np.mean(pred_mu[sel])),
        mu_u_spread_predicted=_std(pred_mu[sel]), sigma_u_expected=expected, nu=nu, nu_used=float(nu_used),
        n_neurons=n, n_inputs=source.n_inputs, n_samples=source.n_samples, n_steps=source.n_steps,
        window=tuple(source.window), dt=source.dt, tau_mem=tau_mem, tau_syn=tau_syn, mode=mode, seed=int(seed),
        per_neuron=dict(mu_u=m.tolist(), sigma_u=s.tolist(), mu_u_predicted=pred_mu[sel].tolist(),
                        sigma_u_predicted=pred_sigma[sel].tolist()),
        histograms=hist,
    )


def sweep(
    source: SpikeSource,
    sigma_us: Sequence[float],
    *,
    init: str = "feedforward",
    n_neurons: int = 128,
    nu: float | None = None,
    mu_u: float = 0.0,
    xi: float | None = None,
    tau_mem: float = 20e-3,
    tau_syn: float = 10e-3,
    mode: str = "discrete",
    seed: int = 0,
    hist_neurons: int = 1,
    hist_bins: int = 80,
    hist_width: float = 6.0,
    input_seed: int | None = None,
    **init_kwargs: Any,
) -> list[MembraneReport]:
    """Measured against target membrane statistics for several targets ``sigma_u`` (figure 2c/2f).

    For each target an independent population of ``n_neurons`` is drawn (weights from
    ``init`` with rate ``nu``; by default the data's mean rate, measured in a first pass
    over the window); all populations are stacked and the data set is streamed once.

    Args:
        source: the data (see :func:`poisson_source`, :func:`shd_source`, ...).
        sigma_us: target fluctuation magnitudes (threshold units).
        hist_neurons: keep the ``U`` histogram of the first this-many neurons per target,
            ``hist_bins`` bins over the predicted mean +- ``hist_width`` predicted stds.
        seed: seeds the weight draws.
        input_seed: seeds the generated recurrent/inhibitory Poisson inputs (default: derived
            from ``seed``); the same ``seed`` with another ``input_seed`` keeps the weights.
        init_kwargs: passed to :func:`draw_population` (``alpha``, ``fan_in_rec``, ...).

    Returns:
        one :class:`MembraneReport` per target, in order.
    """
    p = check_all(CONSTRAINTS, init=init, n_neurons=n_neurons, nu=nu, mu_u=mu_u, xi=xi, tau_mem=tau_mem,
                  tau_syn=tau_syn, mode=mode, hist_neurons=hist_neurons, hist_bins=hist_bins, hist_width=hist_width)
    if len(sigma_us) < 1:
        raise ParameterError("`sigma_u` must be a non-empty list of positive numbers; got []", ["sigma_u"], [list(sigma_us)])
    sigmas = [check("sigma_u", s, CONSTRAINTS["sigma_u"]) for s in sigma_us]
    if xi is not None and len(sigmas) > 1:
        raise conflict("a sweep over sigma_u cannot also fix xi; drop --xi", xi=xi, sigma_u=list(sigma_us))
    rates = None
    if nu is None:
        rates = measure_rates(source)
        nu_used = float(np.mean(rates))
        if not nu_used > 0:
            raise ValueError(f"the {source.name} data have no spikes in the window; cannot set the weights")
    else:
        nu_used = p["nu"]
    wseed, iseed = (int(v) for v in np.random.SeedSequence(int(seed)).generate_state(2))
    if input_seed is not None:
        iseed = int(check("input_seed", input_seed, Integer(0)))
    gen = torch.Generator().manual_seed(wseed)
    pops = [draw_population(init, p["n_neurons"], source.n_inputs, nu_used, sigma_u=s, mu_u=p["mu_u"], xi=p["xi"],
                            tau_mem=p["tau_mem"], tau_syn=p["tau_syn"], dt=source.dt, mode=p["mode"], generator=gen,
                            **init_kwargs) for s in sigmas]
    pop = NeuronPopulation.stack(pops)
    if rates is None:
        rates = np.full(source.n_inputs, source.poisson_rate) if source.poisson_rate is not None else measure_rates(source)
    pred_mu, pred_sigma = predicted_moments(pop, rates, tau_mem=p["tau_mem"], dt=source.dt,
                                            bernoulli_data=source.variance_factor is not None and source.variance_factor < 1)
    edges = {}
    for k in range(len(sigmas)):
        for h in range(min(p["hist_neurons"], p["n_neurons"])):
            i = k * p["n_neurons"] + h
            sd = max(pred_sigma[i], 1e-12)
            edges[i] = np.linspace(pred_mu[i] - p["hist_width"] * sd, pred_mu[i] + p["hist_width"] * sd, p["hist_bins"] + 1)
    meas = measure_membrane(source, pop, tau_mem=p["tau_mem"], seed=iseed, hist_edges=edges)
    reports = []
    for k in range(len(sigmas)):
        sel = np.zeros(pop.n_post, dtype=bool)
        sel[k * p["n_neurons"]:(k + 1) * p["n_neurons"]] = True
        reports.append(_report(source, pop, meas, sel, nu_used=nu_used, pred_mu=pred_mu, pred_sigma=pred_sigma,
                               tau_mem=p["tau_mem"], tau_syn=p["tau_syn"], mode=p["mode"], seed=seed))
    return reports


def validate(source: SpikeSource, *, sigma_u: float = 1.0, **kwargs: Any) -> MembraneReport:
    """One target: :func:`sweep` with a single ``sigma_u``.  See there for the arguments."""
    return sweep(source, [sigma_u], **kwargs)[0]


# --------------------------------------------------------------------------------------
# atomic output


TABLE_COLUMNS = ("sigma_u_target", "sigma_u_measured", "sigma_u_spread", "ratio", "ratio_sem", "mu_u_target",
                 "mu_u_measured", "mu_u_spread", "sigma_u_predicted", "sigma_u_spread_predicted", "nu", "nu_used")


def write_table_atomic(path: str | os.PathLike, reports: Sequence[MembraneReport], meta: dict | None = None) -> None:
    """Write a sweep table: CSV (``.csv``: one row per target, columns :data:`TABLE_COLUMNS`)
    or JSON (otherwise: ``{"meta": ..., "rows": [report dicts]}``), atomically."""
    path = os.fspath(path)
    if path.endswith(".csv"):
        lines = [",".join(TABLE_COLUMNS)]
        for r in reports:
            d = r.to_dict()
            lines.append(",".join(repr(float(d[c])) for c in TABLE_COLUMNS))
        atomic_write_text(path, "\n".join(lines) + "\n")
    else:
        atomic_write_json(path, {"meta": meta or {}, "rows": [r.to_dict() for r in reports]})
