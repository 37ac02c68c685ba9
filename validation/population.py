"""Neuron populations: independent weight draws from an initializer, and the theory's prediction.

A :class:`NeuronPopulation` is ``n_post`` neurons, each with its own draw of its incoming
weights, grouped into :class:`Channel` blocks (the data's inputs, and generated recurrent or
inhibitory Poisson inputs, each with its synaptic time constant).  :func:`draw_population`
draws them with the simulator's initializers for a membrane target (``sigma_u``, ``mu_u`` or
``xi``), whose parameters come from :mod:`fluctinit.theory`; :func:`predicted_moments` is the
theory's per-neuron prediction for the drawn weights (paper eqs. 2-3), whose spread across
neurons is the variability expected from finite weight sampling alone (supplementary S2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

import math

from fluctinit import theory
from fluctinit.errors import ParameterError, check_all, conflict

from ._constraints import CONSTRAINTS, FLOAT32_WEIGHTS, INITIALIZERS

__all__ = ["INITIALIZERS", "Channel", "NeuronPopulation", "draw_population", "predicted_moments", "generated_inputs",
           "check_target"]


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


def check_target(init: str, *, sigma_u: float | None = 1.0, mu_u: float = 0.0, xi: float | None = None,
                 theta: float = 1.0) -> float:
    """Check a membrane target for ``init`` before any data are read; return the target sigma_u.

    The theory's rules (``theory.resolve_target``: one of sigma_u and xi, mu_u < theta, mu_u = 0
    for Dale's law) and the float32 range of the simulation (:data:`CONSTRAINTS`, also for a
    sigma_u implied by xi).  The rules that depend on the rates and sizes are checked when the
    population is drawn.

    Raises:
        ParameterError: naming the target's parameters.
    """
    p = check_all(CONSTRAINTS, init=init, sigma_u=sigma_u, mu_u=mu_u, xi=xi, theta=theta)
    sigma, mu, xi_, theta_ = theory.resolve_target(p["sigma_u"], p["mu_u"], p["xi"], p["theta"],
                                                   balanced=p["init"].startswith("dale"))
    if not CONSTRAINTS["sigma_u"].contains(sigma):
        raise conflict(f"imply a target sigma_u = {sigma:.6g}; it must be {CONSTRAINTS['sigma_u'].describe()} "
                       "for the float32 simulation", mu_u=mu, xi=xi_, theta=theta_)
    return sigma


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
    data_kernel: "theory.KernelIntegrals | None" = None,
    rec_kernel: "theory.KernelIntegrals | None" = None,
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
        mode: ``"discrete"`` or ``"continuous"`` kernel integrals, or ``"calibrated"``: the data
            channel's integrals are ``data_kernel`` (:meth:`~fluctinit.validation.calibrate.InputStatistics.kernel`
            for ``nu``: the data's own pooled statistics); generated channels keep the discrete
            ones.  Calibrated mode takes ``feedforward`` and ``recurrent`` (Gaussian weights, for
            which the calibration is exact at ``mu_u = 0``).
        data_kernel: the data channel's kernel integrals, with ``mode="calibrated"`` only.
        rec_kernel: ``recurrent`` with ``mode="calibrated"``: the generated recurrent channel's
            (:func:`fluctinit.validation.recurrent_kernels` of the data's statistics with the
            generated inputs appended, :meth:`~fluctinit.validation.InputStatistics.with_poisson_inputs`:
            both kernels with one Jensen factor); default the discrete one.
        generator: torch generator for the weight draws (``None``: torch's default).

    Returns:
        a :class:`NeuronPopulation`; weights are float32 tensors.

    Raises:
        ParameterError: out-of-range arguments (before any math), infeasible targets, or weight
            scales outside :data:`FLOAT32_WEIGHTS` (the float32 simulation would lose them).
    """
    p = check_all(CONSTRAINTS, init=init, n_neurons=n_neurons, fan_in=n_inputs, nu=nu, sigma_u=sigma_u,
                  mu_u=mu_u, xi=xi, theta=theta, alpha=alpha, fan_in_rec=fan_in_rec, nu_rec=nu_rec,
                  n_inh=n_inh, nu_inh=nu_inh, sigma_log=sigma_log, tau_mem=tau_mem, tau_syn=tau_syn,
                  tau_syn_inh=tau_syn_inh, dt=dt, mode=mode)
    if p["mode"] == "calibrated":
        _check_calibrated(p, data_kernel)
        kern = data_kernel
        p = dict(p, mode="discrete")  # the generated channels' kernels
    else:
        for name, value in (("data_kernel", data_kernel), ("rec_kernel", rec_kernel)):
            if value is not None:
                raise conflict(f"`{name}` applies to mode 'calibrated' only", mode=mode, **{name: value})
        kern = theory.kernel_integrals(tau_mem=p["tau_mem"], tau_syn=p["tau_syn"], dt=p["dt"], mode=p["mode"])
    sig_arg = None if xi is not None else p["sigma_u"]
    target = dict(sigma_u=sig_arg, mu_u=p["mu_u"], xi=p["xi"], theta=p["theta"])
    check_target(init, **target)
    # the weights come from the simulator's initializers (fluctinit.sim.init), which take their
    # parameters from the theory; the theory's record is kept for the report
    if init == "feedforward":
        prm, channels = _feedforward_channels(p, kern, target, generator)
    elif init == "recurrent":
        prm, channels = _recurrent_channels(p, kern, target, generator, rec_kernel)
    else:
        prm, channels = _dale_channels(p, kern, target, generator)
    n_post = p["n_neurons"]
    sigma_target = p["sigma_u"] if xi is None else (p["theta"] - p["mu_u"]) / p["xi"]
    return NeuronPopulation(channels, init, np.full(n_post, sigma_target), np.full(n_post, p["mu_u"]), (prm,))


def _check_calibrated(p: dict, data_kernel) -> None:
    """Calibrated mode needs the data's kernel and the feed-forward (Gaussian) initializer."""
    if data_kernel is None:
        raise ParameterError("mode 'calibrated' needs the data's kernel integrals (`data_kernel`, from "
                             "fluctinit.validation.input_statistics(source).kernel(nu)); got None",
                             ["data_kernel"], [None])
    if p["init"] not in ("feedforward", "recurrent"):
        raise conflict("mode 'calibrated' calibrates Gaussian weights (init feedforward or recurrent); the Dale's-law "
                       "initializers draw non-Gaussian weights and share one kernel between populations; use mode "
                       "discrete for them", init=p["init"], mode="calibrated")


# the arguments that set the weight scales of each initializer, named when a scale leaves the float32 range
_SCALE_ARGS = ("fan_in", "nu", "sigma_u", "xi", "mu_u", "theta", "tau_mem", "tau_syn", "dt")
_SCALE_ARGS_OF = {
    "feedforward": _SCALE_ARGS,
    "recurrent": (*_SCALE_ARGS, "fan_in_rec", "nu_rec", "alpha"),
    "dale-exponential": (*_SCALE_ARGS, "n_inh", "nu_inh", "tau_syn_inh", "fan_in_rec", "nu_rec"),
    "dale-lognormal": (*_SCALE_ARGS, "n_inh", "nu_inh", "tau_syn_inh", "fan_in_rec", "nu_rec"),
}


def _check_float32(prm, p: dict) -> None:
    """The weight scales of the theory's record ``prm`` must fit the float32 simulation
    (:data:`FLOAT32_WEIGHTS`): a scale below it vanishes, one above it overflows ``U**2``."""
    d = prm.as_dict()
    if "sigma_w" in d:  # normal weights: the root mean square of each block
        scales = {"sigma_w": math.hypot(d["mu_w"], d["sigma_w"])}
        if "sigma_v" in d:
            scales["sigma_v"] = math.hypot(d["mu_w"], d["sigma_v"])
    else:  # Dale's law: the mean weight of each population
        scales = {k: d[k] for k in ("mean_exc", "mean_inh", "mean_exc_rec") if k in d}
    involved = {k: p[k] for k in _SCALE_ARGS_OF[p["init"]]
                if p.get(k) is not None and not (k == "sigma_u" and p["xi"] is not None)}
    low, high = FLOAT32_WEIGHTS
    for name, scale in scales.items():
        if not low <= scale <= high:
            raise conflict(
                f"imply weights of scale {name} = {scale:.3g}, outside {low:g} .. {high:g} where the float32 simulation "
                "loses them (tiny weights vanish, huge ones overflow U**2); bring the rates, the target and the time "
                "constants to physical scales", **involved)


def generated_inputs(init: str, n_inputs: int, n_neurons: int, *, fan_in_rec: int | None = None,
                     n_inh: int | None = None) -> dict[str, int]:
    """The generated Poisson inputs per neuron of a population drawn by ``init``:
    ``{"rec": n}`` (recurrent; default ``n_neurons``), ``{"inh": n_inh, "exc_rec": fan_in_rec}``
    (Dale's law; ``n_inh`` default ``n_inputs // 4``, at least 1; ``exc_rec`` only with
    ``fan_in_rec``), ``{}`` (feedforward)."""
    if init == "recurrent":
        return {"rec": fan_in_rec if fan_in_rec is not None else n_neurons}
    if init.startswith("dale"):
        sizes = {"inh": n_inh if n_inh is not None else max(1, n_inputs // 4)}
        if fan_in_rec is not None:
            sizes["exc_rec"] = fan_in_rec
        return sizes
    return {}


def _empty(n_post: int, n_pre: int) -> torch.Tensor:
    return torch.empty(n_post, n_pre, dtype=torch.float32)


def _feedforward_channels(p: dict, kern, target: dict, generator) -> tuple[Any, tuple[Channel, ...]]:
    """``feedforward``: the theory's record and the one data channel (``p``: checked arguments)."""
    from fluctinit.sim import init as sim_init

    prm = theory.feedforward_params(p["fan_in"], p["nu"], kernel=kern, **target)
    _check_float32(prm, p)
    w = sim_init.fluctuation_normal_(_empty(p["n_neurons"], p["fan_in"]), p["nu"], kernel=kern, generator=generator,
                                     **target)
    return prm, (Channel("ff", w, p["tau_syn"], "data"),)


def _recurrent_channels(p: dict, kern, target: dict, generator, rec_kernel=None) -> tuple[Any, tuple[Channel, ...]]:
    """``recurrent``: the data channel and ``fan_in_rec`` (default ``n_neurons``) Poisson inputs at ``nu_rec``."""
    from fluctinit.sim import init as sim_init

    n_post = p["n_neurons"]
    n_rec = generated_inputs("recurrent", p["fan_in"], n_post, fan_in_rec=p["fan_in_rec"])["rec"]
    nu_r = p["nu_rec"] if p["nu_rec"] is not None else p["nu"]
    prm = theory.recurrent_params(p["fan_in"], n_rec, p["nu"], alpha=p["alpha"], nu_rec=nu_r, kernel=kern,
                                  kernel_rec=rec_kernel, **target)
    _check_float32(prm, p)
    w, v = sim_init.fluctuation_recurrent_(_empty(n_post, p["fan_in"]), _empty(n_post, n_rec), p["nu"], alpha=p["alpha"],
                                           nu_rec=nu_r, kernel=kern, kernel_rec=rec_kernel, generator=generator,
                                           **target)
    return prm, (Channel("ff", w, p["tau_syn"], "data"), Channel("rec", v, p["tau_syn"], "poisson", nu_r))


def _dale_channels(p: dict, kern, target: dict, generator) -> tuple[Any, tuple[Channel, ...]]:
    """``dale-*``: excitatory data channel, inhibitory Poisson channel (negative weights), and an
    excitatory recurrent Poisson channel when ``fan_in_rec`` is given."""
    from fluctinit.sim import init as sim_init

    n_post = p["n_neurons"]
    dist = "exponential" if p["init"] == "dale-exponential" else "lognormal"
    n_i = generated_inputs(p["init"], p["fan_in"], n_post, n_inh=p["n_inh"])["inh"]
    nu_i = p["nu_inh"] if p["nu_inh"] is not None else p["nu"]
    ts_i = p["tau_syn_inh"] if p["tau_syn_inh"] is not None else theory.DEFAULT_TAU_SYN_INH
    kern_i = theory.kernel_integrals(tau_mem=p["tau_mem"], tau_syn=ts_i, dt=p["dt"], mode=p["mode"])
    n_rec = p["fan_in_rec"]
    extra: dict[str, Any] = {}
    nu_r = None
    if n_rec is not None:
        nu_r = p["nu_rec"] if p["nu_rec"] is not None else p["nu"]
        extra.update(alpha=p["alpha"], nu_exc_rec=nu_r)
    if dist == "lognormal":
        extra["sigma_log"] = p["sigma_log"]
    prm = theory.dale_params(p["fan_in"], n_i, p["nu"], nu_i, n_exc_rec=n_rec, kernel_exc=kern, kernel_inh=kern_i,
                             dist=dist, **target, **extra)
    _check_float32(prm, p)
    filler = sim_init.dale_exponential_ if dist == "exponential" else sim_init.dale_lognormal_
    ws = filler(_empty(n_post, p["fan_in"]), _empty(n_post, n_i), p["nu"], nu_i,
                w_exc_rec=None if n_rec is None else _empty(n_post, n_rec),
                kernel_exc=kern, kernel_inh=kern_i, generator=generator, **target, **extra)
    chans = [Channel("exc", ws[0], p["tau_syn"], "data"), Channel("inh", -ws[1], ts_i, "poisson", nu_i)]
    if n_rec is not None:
        chans.append(Channel("exc_rec", ws[2], p["tau_syn"], "poisson", nu_r))
    return prm, tuple(chans)


def predicted_moments(pop: NeuronPopulation, data_rates: np.ndarray, *, tau_mem: float, dt: float,
                      bernoulli_data: bool, statistics=None) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron theory (paper eqs. 2-3) for the drawn weights: ``(mu_u, sigma_u)``, each ``(n_post,)``.

    ``mu_i = sum_j w_ij nu_j epsilon_bar_c`` and ``sigma_i**2 = sum_j w_ij**2 nu_j epsilon_hat_c``
    summed over channels ``c`` (each with its own discrete kernel integrals; the simulation
    is discrete, so the exact discrete integrals are used whatever ``mode`` set the weights).
    On Bernoulli inputs (generated channels, and the data when ``bernoulli_data``) the
    variance term of input ``j`` is multiplied by ``1 - nu_j dt``.  With ``statistics``
    (:class:`~fluctinit.validation.calibrate.InputStatistics` of the data), the data channels'
    moments are the exact pooled ones, ``w'm`` and ``w'Cw``, instead of eqs. 2-3.
    """
    mu = np.zeros(pop.n_post)
    var = np.zeros(pop.n_post)
    for ch in pop.channels:
        if statistics is not None and ch.source == "data":
            m, s = statistics.moments(ch.weights.double().cpu().numpy())
            mu += m
            var += s ** 2
            continue
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

