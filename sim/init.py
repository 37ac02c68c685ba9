"""Weight initializers in the style of ``torch.nn.init`` (paper section 4.3, tables 8-9).

Every ``*_`` function takes the tensor(s) first, fills them in place under
``torch.no_grad()`` and returns them; randomness comes only from the optional
``generator`` (a ``torch.Generator`` on the tensor's device).  Distribution
parameters are computed by :mod:`fluctinit.theory` (pure calculators); these
functions only sample.

Fan-in follows torch: ``tensor.shape[1] * prod(tensor.shape[2:])``, i.e.
``n_in`` for a ``(n_out, n_in)`` matrix and ``in_channels * prod(kernel)``
for a convolution kernel ``(out_channels, in_channels, *kernel)``.

``kernel`` arguments are :class:`fluctinit.theory.KernelIntegrals`
(``epsilon_bar``, ``epsilon_hat`` in s); None means the paper's default
(tau_mem 20 ms, tau_syn 10 ms, dt 2 ms, discrete).  :func:`init_network_`
computes them from each layer's own time constants (discrete mode by default).
"""

from __future__ import annotations

import math
from typing import Sequence, Any

import torch
from torch import nn

from fluctinit import theory
from fluctinit.errors import Integer, Interval, OneOf, ParameterError, check

from .dale import _DaleBase
from .layers import Readout
from .networks import Network

__all__ = [
    "fan_in_of",
    "layer_kernels",
    "fluctuation_normal_",
    "fluctuation_recurrent_",
    "dale_exponential_",
    "dale_lognormal_",
    "kaiming_normal_",
    "init_network_",
    "INIT_NETWORK_CONSTRAINTS",
]

INIT_NETWORK_CONSTRAINTS = {
    "nu": Interval(0.0, None),
    "sigma_u": Interval(0.0, None),
    "alpha": Interval(0.0, 1.0),
    "method": OneOf(("fluctuation", "kaiming", "normal")),
    "mu_u": Interval(None, None, "both"),
    "mu_w": Interval(None, None, "both"),
    "sigma_w": Interval(0.0, None, "left"),
    "dist": OneOf(("exponential", "lognormal")),
    "kernel_mode": OneOf(("discrete", "continuous")),
}


def _check_tensor(name: str, t: Any) -> torch.Tensor:
    if not isinstance(t, torch.Tensor) or not t.is_floating_point():
        raise ParameterError(f"`{name}` must be a floating-point torch.Tensor; got {type(t).__name__}", [name], [t])
    if t.dim() < 2:
        raise ParameterError(
            f"`{name}` must have at least 2 dimensions (n_out, n_in, *kernel); got shape {tuple(t.shape)!r}",
            [name], [tuple(t.shape)],
        )
    return t


def _check_generator(generator: Any) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ParameterError(
            f"`generator` must be a torch.Generator or None; got {type(generator).__name__}", ["generator"], [generator]
        )


def fan_in_of(tensor: torch.Tensor) -> int:
    """Inputs per postsynaptic unit: ``tensor.shape[1] * prod(tensor.shape[2:])``.

    For a ``(n_out, n_in)`` matrix this is ``n_in``; for a convolution kernel
    ``(C_out, C_in, k...)`` it is ``C_in * prod(k)`` (paper: "n = fan_in").
    """
    _check_tensor("tensor", tensor)
    return int(tensor.shape[1] * math.prod(tensor.shape[2:]))


def _fan_in(name: str, tensor: torch.Tensor, fan_in: int | None) -> int:
    _check_tensor(name, tensor)
    if fan_in is None:
        return fan_in_of(tensor)
    return check("fan_in", fan_in, Integer(1))


def fluctuation_normal_(
    tensor: torch.Tensor,
    nu: float,
    *,
    sigma_u: float | None = None,
    mu_u: float = 0.0,
    xi: float | None = None,
    theta: float = 1.0,
    kernel: Any = None,
    fan_in: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Fluctuation-driven normal weights ``W ~ N(mu_w, sigma_w^2)`` (eqs. 4-9, table 8).

    From ``mu_U = n mu_w nu eps_bar`` and ``sigma_U^2 = n (sigma_w^2 + mu_w^2) nu eps_hat``:
    centered (``mu_u = 0``): ``sigma_w^2 = sigma_u^2 / (n nu eps_hat)``;
    non-centered: ``mu_w = mu_u / (n nu eps_bar)``,
    ``sigma_w^2 = ((theta - mu_u)/xi)^2 / (n nu eps_hat) - mu_w^2``.
    Parameters from :func:`fluctinit.theory.feedforward_params`.

    Args:
        tensor: weights ``(n_out, n_in)`` or a kernel ``(C_out, C_in, *k)``; filled in place.
        nu: presynaptic firing rate (Hz), > 0.
        sigma_u: target membrane std (threshold units); give it or ``xi``; neither: ``sigma_u = 1``.
        mu_u: target membrane mean (threshold units), < theta.
        xi: target ``(theta - mu_u)/sigma_u`` (eq. 8), alternative to ``sigma_u``.
        theta: threshold.  kernel: :class:`~fluctinit.theory.KernelIntegrals` or None (paper default).
        fan_in: override the fan-in computed from ``tensor`` (e.g. a readout fed by several inputs).
        generator: torch.Generator for reproducible fills.

    Returns:
        ``tensor``.

    Raises:
        ParameterError: bad tensor, rates, targets (before any sampling).
    """
    _check_generator(generator)
    n = _fan_in("tensor", tensor, fan_in)
    p = theory.feedforward_params(n, nu, sigma_u=sigma_u, mu_u=mu_u, xi=xi, theta=theta, kernel=kernel)
    with torch.no_grad():
        return tensor.normal_(float(p.mu_w), float(p.sigma_w), generator=generator)


def fluctuation_recurrent_(
    weight: torch.Tensor,
    rec_weight: torch.Tensor,
    nu: float,
    *,
    alpha: float = 0.9,
    sigma_u: float | None = None,
    mu_u: float = 0.0,
    xi: float | None = None,
    theta: float = 1.0,
    nu_rec: float | None = None,
    kernel: Any = None,
    kernel_rec: Any = None,
    fan_in: int | None = None,
    fan_in_rec: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fluctuation-driven feed-forward and recurrent weights ``(W, V)`` (eqs. 34-39, table 8).

    A fraction ``alpha`` of ``sigma_U^2`` comes from the ``n_F`` feed-forward
    inputs and ``1 - alpha`` from the ``n_R`` recurrent ones; both share the
    mean ``mu_wv = mu_u / ((n_F + n_R) nu eps_bar)`` (eq. 37).  Parameters from
    :func:`fluctinit.theory.recurrent_params`.

    Args:
        weight: feed-forward ``(n, n_in)`` or kernel ``(C, C_in, *k)`` (``n_F`` = its fan-in).
        rec_weight: recurrent ``(n, n)`` or kernel ``(C, C, *k_r)`` (``n_R`` = its fan-in).
        nu: feed-forward rate (Hz).  nu_rec: recurrent rate (Hz), default ``nu``.
        alpha: feed-forward share of the variance, 0 < alpha < 1 (paper 0.9).
        sigma_u, mu_u, xi, theta, kernel, generator: as :func:`fluctuation_normal_`.
        kernel_rec: the recurrent inputs' kernel integrals, default ``kernel``'s.
        fan_in, fan_in_rec: overrides of the computed fan-ins.

    Returns:
        ``(weight, rec_weight)``, filled in place.
    """
    _check_generator(generator)
    n_f = _fan_in("weight", weight, fan_in)
    n_r = _fan_in("rec_weight", rec_weight, fan_in_rec)
    p = theory.recurrent_params(
        n_f, n_r, nu, alpha=alpha, sigma_u=sigma_u, mu_u=mu_u, xi=xi, theta=theta, nu_rec=nu_rec, kernel=kernel,
        kernel_rec=kernel_rec,
    )
    with torch.no_grad():
        weight.normal_(float(p.mu_w), float(p.sigma_w), generator=generator)
        rec_weight.normal_(float(p.mu_w), float(p.sigma_v), generator=generator)
    return weight, rec_weight


def _dale_params(w_exc, w_inh, w_exc_rec, nu_exc, nu_inh, sigma_u, mu_u, xi, theta, alpha, nu_exc_rec,
                 kernel_exc, kernel_inh, dist, sigma_log, generator):
    _check_generator(generator)
    n_exc = _fan_in("w_exc", w_exc, None)
    n_inh = _fan_in("w_inh", w_inh, None)
    n_exc_rec = None if w_exc_rec is None else _fan_in("w_exc_rec", w_exc_rec, None)
    return theory.dale_params(
        n_exc, n_inh, nu_exc, nu_inh, sigma_u=sigma_u, mu_u=mu_u, xi=xi, theta=theta, n_exc_rec=n_exc_rec, alpha=alpha,
        nu_exc_rec=nu_exc_rec, kernel_exc=kernel_exc, kernel_inh=kernel_inh, dist=dist, sigma_log=sigma_log,
    )


def dale_exponential_(
    w_exc: torch.Tensor,
    w_inh: torch.Tensor,
    nu_exc: float,
    nu_inh: float | None = None,
    *,
    w_exc_rec: torch.Tensor | None = None,
    sigma_u: float | None = None,
    mu_u: float = 0.0,
    xi: float | None = None,
    theta: float = 1.0,
    alpha: float | None = None,
    nu_exc_rec: float | None = None,
    kernel_exc: Any = None,
    kernel_inh: Any = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, ...]:
    """Exponential weights for the inputs of one population of a Dale layer (eqs. 40-55, table 9).

    ``w ~ Exp(rate)`` (mean ``1/rate``).  Without excitatory recurrence
    (eqs. 44-47): ``rate_inh = Delta_EI rate_exc``,
    ``Delta_EI = n_I nu_I eps_bar_I / (n_E nu_E eps_bar_E)``,
    ``rate_exc = sqrt(2 (Delta_EI^2 n_E nu_E eps_hat_E + n_I nu_I eps_hat_I)) / (sigma_u Delta_EI)``.
    With ``w_exc_rec`` (eqs. 48-55) a share ``alpha`` of the excitatory
    variance is feed-forward.  Rates from :func:`fluctinit.theory.dale_params`
    (``dist="exponential"``).

    For the excitatory population of a :class:`~fluctinit.sim.layers.DaleDense`
    pass ``(w_fe, w_ie, w_exc_rec=w_re)``; for the inhibitory one ``(w_fi, w_ii, w_exc_rec=w_ri)``.

    Args:
        w_exc: feed-forward excitatory weights ``(n_post, n_E)`` or kernel (fan-in ``n_E``).
        w_inh: inhibitory weights ``(n_post, n_I)`` or kernel (fan-in ``n_I``).
        nu_exc, nu_inh: presynaptic E and I rates (Hz); ``nu_inh`` default ``nu_exc``.
        w_exc_rec: recurrent excitatory weights (fan-in ``n_R``), or None.
        sigma_u: target membrane std (or give ``xi``; neither: ``sigma_u = 1``).
        mu_u: target mean; must be 0 (balanced E/I; the theory rejects anything else).
        theta: threshold.
        alpha: feed-forward share of the excitatory variance, 0 < alpha < 1; only with
            ``w_exc_rec`` (None: 0.9).
        nu_exc_rec: rate of the recurrent excitatory inputs (Hz), default ``nu_exc``.
        kernel_exc, kernel_inh: kernel integrals of excitatory / inhibitory synapses onto this population.
        generator: torch.Generator.

    Returns:
        ``(w_exc, w_inh)`` or ``(w_exc, w_inh, w_exc_rec)``, filled in place (all >= 0).
    """
    p = _dale_params(w_exc, w_inh, w_exc_rec, nu_exc, nu_inh, sigma_u, mu_u, xi, theta, alpha, nu_exc_rec,
                     kernel_exc, kernel_inh, "exponential", 1.0, generator)
    with torch.no_grad():
        w_exc.exponential_(float(p.rate_exc), generator=generator)
        w_inh.exponential_(float(p.rate_inh), generator=generator)
        if w_exc_rec is None:
            return w_exc, w_inh
        w_exc_rec.exponential_(float(p.rate_exc_rec), generator=generator)
    return w_exc, w_inh, w_exc_rec


def dale_lognormal_(
    w_exc: torch.Tensor,
    w_inh: torch.Tensor,
    nu_exc: float,
    nu_inh: float | None = None,
    *,
    w_exc_rec: torch.Tensor | None = None,
    sigma_u: float | None = None,
    mu_u: float = 0.0,
    xi: float | None = None,
    theta: float = 1.0,
    sigma_log: float = 1.0,
    alpha: float | None = None,
    nu_exc_rec: float | None = None,
    kernel_exc: Any = None,
    kernel_inh: Any = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, ...]:
    """Log-normal weights for one population of a Dale layer (supplementary S3).

    ``w = exp(mu_log + sigma_log z)``, ``z ~ N(0, 1)``: mean ``exp(mu_log + sigma_log^2/2)``,
    second moment ``exp(2 mu_log + 2 sigma_log^2)``; the ``mu_log`` of each
    population come from :func:`fluctinit.theory.dale_params` (``dist="lognormal"``)
    so that eqs. 40-41 (48-49 with ``w_exc_rec``) give mean ``mu_u`` and std ``sigma_u``.
    Arguments as :func:`dale_exponential_`, plus ``sigma_log`` > 0.

    Returns:
        ``(w_exc, w_inh)`` or ``(w_exc, w_inh, w_exc_rec)``, filled in place (all > 0).
    """
    p = _dale_params(w_exc, w_inh, w_exc_rec, nu_exc, nu_inh, sigma_u, mu_u, xi, theta, alpha, nu_exc_rec,
                     kernel_exc, kernel_inh, "lognormal", sigma_log, generator)
    s = float(p.sigma_log)
    with torch.no_grad():
        w_exc.log_normal_(float(p.mu_log_exc), s, generator=generator)
        w_inh.log_normal_(float(p.mu_log_inh), s, generator=generator)
        if w_exc_rec is None:
            return w_exc, w_inh
        w_exc_rec.log_normal_(float(p.mu_log_exc_rec), s, generator=generator)
    return w_exc, w_inh, w_exc_rec


def kaiming_normal_(
    tensor: torch.Tensor,
    *,
    fan_in: int | None = None,
    gain: float = math.sqrt(2.0),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Kaiming (He) normal weights, eq. 56: ``W ~ N(0, gain^2 / fan_in)`` (``gain = sqrt(2)``: ``2/n``).

    ``sigma_w`` from :func:`fluctinit.theory.kaiming_params`.

    Args:
        tensor: weights or kernel, filled in place.  fan_in: override of the computed fan-in.
        gain: > 0, default ``sqrt(2)``.  generator: torch.Generator.

    Returns:
        ``tensor``.
    """
    _check_generator(generator)
    n = _fan_in("tensor", tensor, fan_in)
    p = theory.kaiming_params(n, gain=gain)
    with torch.no_grad():
        return tensor.normal_(0.0, float(p.sigma_w), generator=generator)


# --------------------------------------------------------------------------- whole networks


def layer_kernels(layer: nn.Module, mode: str = "discrete") -> dict[str, Any]:
    """Kernel integrals of a layer from its own time constants (:func:`fluctinit.theory.kernel_integrals`).

    Returns:
        ``{"kernel": K}`` for LIF layers and readouts (readout: ``tau_mem = tau_out``);
        for Dale layers ``{"exc_exc", "exc_inh", "inh_exc", "inh_inh"}`` meaning
        (postsynaptic population, synapse type): e.g. ``"inh_exc"`` is excitatory
        synapses onto inhibitory neurons (``tau_mem_inh``, ``tau_syn_exc``).
    """
    check("kernel_mode", mode, INIT_NETWORK_CONSTRAINTS["kernel_mode"])
    p = layer.params
    ki = theory.kernel_integrals
    if isinstance(layer, Readout):
        return {"kernel": ki(tau_mem=p.tau_out, tau_syn=p.tau_syn, dt=p.dt, mode=mode)}
    if isinstance(layer, _DaleBase):
        return {
            "exc_exc": ki(tau_mem=p.tau_mem_exc, tau_syn=p.tau_syn_exc, dt=p.dt, mode=mode),
            "exc_inh": ki(tau_mem=p.tau_mem_exc, tau_syn=p.tau_syn_inh, dt=p.dt, mode=mode),
            "inh_exc": ki(tau_mem=p.tau_mem_inh, tau_syn=p.tau_syn_exc, dt=p.dt, mode=mode),
            "inh_inh": ki(tau_mem=p.tau_mem_inh, tau_syn=p.tau_syn_inh, dt=p.dt, mode=mode),
        }
    return {"kernel": ki(tau_mem=p.tau_mem, tau_syn=p.tau_syn, dt=p.dt, mode=mode)}


def init_network_(
    network: Network,
    nu: float | Sequence[float],
    sigma_u: float = 1.0,
    alpha: float = 0.9,
    method: str = "fluctuation",
    *,
    mu_u: float = 0.0,
    mu_w: float | None = None,
    sigma_w: float | None = None,
    generator: torch.Generator | None = None,
    dist: str = "exponential",
    kernel_mode: str = "discrete",
    kernels: Sequence[Any] | None = None,
    rec_rates: Sequence[float | None] | None = None,
    rec_kernels: Sequence[Any] | None = None,
) -> Network:
    """Initialize every layer of a :class:`~fluctinit.sim.networks.Network` in place.

    ``method="fluctuation"`` (section 4.3): every layer gets the data set rate
    ``nu`` as its presynaptic rate (as in the paper) and the target ``sigma_u``
    (centered, ``mu_u = 0``, unless ``mu_u`` is given: then every hidden layer is
    non-centered with mean ``mu_u`` and std ``sigma_u``; the readout, which has no threshold,
    stays centered); kernel integrals come from each layer's own time
    constants (:func:`layer_kernels`).  Feed-forward layers: :func:`fluctuation_normal_`;
    recurrent ones: :func:`fluctuation_recurrent_` with ``alpha``; Dale layers:
    :func:`dale_exponential_` (or :func:`dale_lognormal_` with ``dist="lognormal"``)
    for each population; the readout: :func:`fluctuation_normal_` with the total
    fan-in of all its inputs (skip connections included).
    ``method="kaiming"``: :func:`kaiming_normal_` everywhere (eq. 56); not defined
    for Dale layers (their weights must be non-negative).
    ``method="normal"``: every hidden layer's weights (feed-forward and recurrent) drawn from
    ``N(mu_w, sigma_w**2)`` as given, whatever the theory says (the parameter search of figure
    3c, e-f); the readout as with ``"fluctuation"`` (target ``sigma_u``).  Not defined for Dale
    layers either.

    Args:
        network: the network (modified in place).
        nu: data set firing rate (Hz), > 0: every layer's presynaptic rate (the paper); or one
            rate per layer, ``len(network.hidden) + 1`` of them: ``nu[l]`` the rate of hidden
            layer ``l``'s inputs (``nu[0]`` the data's; inhibitory inputs are taken at the same
            rate, and recurrent ones unless ``rec_rates`` gives theirs), ``nu[-1]`` the readout's (e.g. measured by
            :func:`fluctinit.training.sequential_rates_`).
        sigma_u: target membrane std (threshold units), > 0.
        mu_u: target membrane mean of the hidden layers (threshold units), below each layer's
            threshold; method "fluctuation" only.
        alpha: feed-forward share of the variance in recurrent layers, 0 < alpha < 1.
        method: ``"fluctuation"``, ``"kaiming"`` or ``"normal"``.
        mu_w, sigma_w: mean and std (>= 0) of the hidden weights; both required with
            ``method="normal"`` and refused with the other methods.
        generator: torch.Generator (on the weights' device).
        dist: Dale weight distribution, ``"exponential"`` (paper default) or ``"lognormal"``.
        kernel_mode: ``"discrete"`` (default) or ``"continuous"`` kernel integrals.
        kernels: one ``KernelIntegrals`` or None per hidden layer and the readout, replacing
            ``kernel_mode``'s for the feed-forward weights of that layer (e.g. the data-calibrated
            ones of :func:`fluctinit.training.calibrated_kernels_`); not for Dale layers.
        rec_rates: one rate (Hz) or None per hidden layer: the rate of a recurrent layer's own
            spikes, its recurrent inputs' (None, the default: the layer's ``nu``, the paper's
            assumption).  Entries of feed-forward layers must be None.
        rec_kernels: one ``KernelIntegrals`` or None per hidden layer: a recurrent layer's
            recurrent inputs' kernel integrals (None: its feed-forward kernel's).

    Returns:
        ``network``.
    """
    if not isinstance(network, Network):
        raise ParameterError(f"`network` must be a fluctinit.sim.Network; got {type(network).__name__}",
                             ["network"], [network])
    c = INIT_NETWORK_CONSTRAINTS
    n_layers = len(network.hidden) + 1
    if isinstance(nu, (list, tuple)):
        if len(nu) != n_layers:
            raise ParameterError(f"`nu` must be one rate or one per layer ({n_layers}: {n_layers - 1} hidden and the "
                                 f"readout); got {len(nu)} rates", ["nu"], [list(nu)])
        rates = [check(f"nu[{i}]", v, c["nu"]) for i, v in enumerate(nu)]
    else:
        rates = [check("nu", nu, c["nu"])] * n_layers
    kernels = [None] * n_layers if kernels is None else list(kernels)
    if len(kernels) != n_layers:
        raise ParameterError(f"`kernels` must hold one entry per layer ({n_layers}); got {len(kernels)}",
                             ["kernels"], [len(kernels)])
    for layer, k in zip(network.hidden, kernels):
        if k is not None and isinstance(layer, _DaleBase):
            raise ParameterError(f"`kernels` applies to feed-forward and recurrent layers; layer {type(layer).__name__} "
                                 "obeys Dale's law (its kernel is shared by its excitatory and inhibitory inputs)",
                                 ["kernels"], [type(layer).__name__])
    rec = {}
    for name, given in (("rec_rates", rec_rates), ("rec_kernels", rec_kernels)):
        values = [None] * (n_layers - 1) if given is None else list(given)
        if len(values) != n_layers - 1:
            raise ParameterError(f"`{name}` must hold one entry per hidden layer ({n_layers - 1}); got {len(values)}",
                                 [name], [len(values)])
        for i, (layer, v) in enumerate(zip(network.hidden, values)):
            if v is not None and (isinstance(layer, _DaleBase) or layer.rec_weight is None):
                raise ParameterError(f"`{name}[{i}]` applies to recurrent layers; layer {i} "
                                     f"({type(layer).__name__}) is feed-forward or obeys Dale's law; got {v!r}",
                                     [f"{name}[{i}]"], [v])
            if v is not None and name == "rec_rates":
                values[i] = check(f"rec_rates[{i}]", v, c["nu"])
        rec[name] = values
    sigma_u = check("sigma_u", sigma_u, c["sigma_u"])
    alpha = check("alpha", alpha, c["alpha"])
    check("method", method, c["method"])
    check("dist", dist, c["dist"])
    check("kernel_mode", kernel_mode, c["kernel_mode"])
    _check_generator(generator)
    has_dale = any(isinstance(layer, _DaleBase) for layer in network.hidden)
    if method != "fluctuation" and has_dale:
        raise ParameterError(
            f"`method` must be 'fluctuation' for networks with Dale's-law layers ({method} weights are signed); "
            f"got {method!r}", ["method"], [method],
        )
    mu_u = check("mu_u", mu_u, c["mu_u"])
    if mu_u != 0.0 and method != "fluctuation":
        raise ParameterError(f"`mu_u` must be 0 unless method is 'fluctuation' (method {method!r}); got {mu_u!r}",
                             ["mu_u"], [mu_u])
    if method == "normal":
        for name, v in (("mu_w", mu_w), ("sigma_w", sigma_w)):
            if v is None:
                raise ParameterError(f"`{name}` must be given with method 'normal'; got None", [name], [None])
            check(name, v, c[name])
    else:
        for name, v in (("mu_w", mu_w), ("sigma_w", sigma_w)):
            if v is not None:
                raise ParameterError(f"`{name}` must be None unless method is 'normal' (method {method!r}); "
                                     f"got {v!r}", [name], [v])
    g = generator
    for layer, nu, k_given, nu_rec, k_rec in zip(network.hidden, rates, kernels, rec["rec_rates"],
                                                 rec["rec_kernels"]):
        if method == "kaiming":
            kaiming_normal_(layer.weight, generator=g)
            if layer.rec_weight is not None:
                kaiming_normal_(layer.rec_weight, generator=g)
            continue
        if method == "normal":
            with torch.no_grad():
                layer.weight.normal_(float(mu_w), float(sigma_w), generator=g)
                if layer.rec_weight is not None:
                    layer.rec_weight.normal_(float(mu_w), float(sigma_w), generator=g)
            continue
        kern = layer_kernels(layer, kernel_mode) if k_given is None else {"kernel": k_given}
        if isinstance(layer, _DaleBase):
            fill = dale_exponential_ if dist == "exponential" else dale_lognormal_
            for post, w_exc, w_inh, w_rec in (
                ("exc", layer.w_fe, layer.w_ie, layer.w_re),
                ("inh", layer.w_fi, layer.w_ii, layer.w_ri),
            ):
                fill(w_exc, w_inh, nu, nu, w_exc_rec=w_rec, sigma_u=sigma_u, mu_u=mu_u, theta=layer.params.theta,
                     alpha=None if w_rec is None else alpha,
                     kernel_exc=kern[f"{post}_exc"], kernel_inh=kern[f"{post}_inh"], generator=g)
        elif layer.rec_weight is not None:
            fluctuation_recurrent_(layer.weight, layer.rec_weight, nu, alpha=alpha, sigma_u=sigma_u, mu_u=mu_u,
                                   theta=layer.params.theta, nu_rec=nu_rec, kernel=kern["kernel"],
                                   kernel_rec=k_rec, generator=g)
        else:
            fluctuation_normal_(layer.weight, nu, sigma_u=sigma_u, mu_u=mu_u, theta=layer.params.theta,
                                kernel=kern["kernel"], generator=g)
    ro = network.readout
    for w in ro.weights:
        if method == "kaiming":
            kaiming_normal_(w, fan_in=ro.fan_in, generator=g)
        else:
            k_ro = kernels[-1] if kernels[-1] is not None else layer_kernels(ro, kernel_mode)["kernel"]
            fluctuation_normal_(w, rates[-1], sigma_u=sigma_u, kernel=k_ro,
                                fan_in=ro.fan_in, generator=g)
    return network
