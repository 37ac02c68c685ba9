"""The fluctuation-driven rule for any framework's neuron: what snntorch, norse, spikingjelly and NIR share.

Every supported neuron, free of threshold and reset, is per neuron the linear update

    c[n] = alpha c[n-1] + x[n]              synaptic current (alpha = 0: no synaptic filter)
    v[n] = beta v[n-1] + gain c[n]          membrane, measured from its rest

(a framework that adds c[n-1] instead of c[n] delays the kernel by one step, which changes
neither integral).  The membrane's response to one unit input at step 0 is
``K[m] = gain sum_{k=0}^{m} beta^(m-k) alpha^k``, so the kernel integrals (paper eqs. 2-3) are

    epsilon_bar = dt sum_m K[m]   = dt gain / ((1 - alpha)(1 - beta))
    epsilon_hat = dt sum_m K[m]^2 = dt gain^2 (1 + alpha beta) / ((1 - alpha beta)(1 - alpha^2)(1 - beta^2))

(seconds; :func:`discrete_kernel`).  fluctinit's own update (paper eqs. 10-11) is the case
``gain = 1 - beta``, where these are :func:`fluctinit.theory.kernel_integrals` at
``tau_mem = -dt/ln(beta)``, ``tau_syn = -dt/ln(alpha)``; snntorch's Synaptic has ``gain = 1``,
so its epsilon_bar is 1/(1 - beta) and its epsilon_hat 1/(1 - beta)^2 times the paper's.

NIR's neurons are continuous: ``tau_syn dI/dt = -I + w_in S``, ``tau_mem dv/dt = v_leak - v + r I``.
An input spike of area ``A`` makes ``I`` jump by ``w_in A / tau_syn``, so per unit weight the
kernel is ``r w_in A / tau_syn`` times the unit-jump kernel of :func:`fluctinit.theory.psp_kernel_continuous`:

    epsilon_bar = area,   epsilon_hat = area^2 / (2 (tau_mem + tau_syn)),   area = r w_in A

(:func:`continuous_kernel`; ``tau_syn = 0`` and ``area = r A`` for NIR's LIF, which has no current).

The membrane target is set in units of the threshold distance ``theta = threshold - rest``
(what fluctinit's ``theta = 1`` is): ``sigma_u = 1`` puts the membrane's standard deviation at
one threshold distance whatever the framework's voltage scale.  Weights come from
:func:`fluctinit.theory.feedforward_params` / :func:`~fluctinit.theory.recurrent_params` with
that kernel and are sampled by :func:`fluctinit.sim.fluctuation_normal_` /
:func:`~fluctinit.sim.fluctuation_recurrent_`, one group of neurons with equal parameters at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

from fluctinit import theory
from fluctinit.errors import Interval, ParameterError, check, conflict
from fluctinit.sim.init import fluctuation_normal_, fluctuation_recurrent_

__all__ = [
    "CONSTRAINTS",
    "Neuron",
    "Projection",
    "LayerReport",
    "discrete_kernel",
    "continuous_kernel",
    "effective_tau",
    "per_row",
    "rates",
    "prepare",
]

CONSTRAINTS = {
    "nu": Interval(0.0, None, "neither"),
    "nu_rec": Interval(0.0, None, "neither"),
    "dt": Interval(0.0, None, "neither"),
    "sigma_u": Interval(0.0, None, "neither"),
    "mu_u": Interval(None, 1.0, "neither"),
    "alpha": Interval(0.0, 1.0, "neither"),
    "spike_area": Interval(0.0, None, "neither"),
    # per neuron: the decays of a leaky, non-oscillating update, a positive gain and distance
    "decay": Interval(0.0, 1.0, "left"),
    "gain": Interval(0.0, None, "neither"),
    "theta": Interval(0.0, None, "neither"),
    "tau": Interval(0.0, None, "left"),
}


def discrete_kernel(alpha, beta, gain, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """epsilon_bar and epsilon_hat (s) of ``c <- alpha c + x``, ``v <- beta v + gain c`` at step ``dt``.

    Arguments broadcast (numpy arrays, one value per neuron or scalars); 0 <= alpha, beta < 1.
    Returns ``(epsilon_bar, epsilon_hat)`` as float64 arrays.
    """
    a = np.asarray(alpha, dtype=np.float64)
    b = np.asarray(beta, dtype=np.float64)
    g = np.asarray(gain, dtype=np.float64)
    eps_bar = dt * g / ((1.0 - a) * (1.0 - b))
    eps_hat = dt * g * g * (1.0 + a * b) / ((1.0 - a * b) * (1.0 - a * a) * (1.0 - b * b))
    return eps_bar, eps_hat


def continuous_kernel(tau_mem, tau_syn, area) -> tuple[np.ndarray, np.ndarray]:
    """epsilon_bar and epsilon_hat (s) of NIR's continuous neuron whose kernel has integral ``area``.

    ``area`` = r w_in A (CubaLIF) or r A (LIF, ``tau_syn = 0``); tau_mem > 0, tau_syn >= 0 (s).
    """
    area = np.asarray(area, dtype=np.float64)
    return area, area * area / (2.0 * (np.asarray(tau_mem, dtype=np.float64) + np.asarray(tau_syn, dtype=np.float64)))


def effective_tau(decay, dt: float) -> np.ndarray:
    """The time constant (s) of a per-step decay factor: ``-dt/ln(decay)``, 0 for ``decay = 0``."""
    d = np.asarray(decay, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(d > 0, -dt / np.log(np.where(d > 0, d, 0.5)), 0.0)


def _values(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def per_row(value: Any, n_rows: int, name: str, layer: str) -> np.ndarray:
    """One value per output row of ``layer`` (``n_rows``: out_features or out_channels).

    ``value``: a scalar, one value per row (any shape whose only dimension above 1 is the
    first, e.g. ``(C, 1, 1)`` for a convolution), or per position ``(C, *spatial)`` when it is
    constant over the positions of each channel.

    Raises:
        ParameterError: naming ``name`` and its shape when the values differ within a row.
    """
    v = _values(value)
    if v.size == 1:
        return np.full(n_rows, float(v.reshape(())))
    squeezed = v.reshape(v.shape[1:]) if v.ndim > 1 and v.shape[0] == 1 and v.shape[1] == n_rows else v
    if squeezed.ndim >= 1 and squeezed.shape[0] == n_rows:
        flat = squeezed.reshape(n_rows, -1)
        if np.all(flat == flat[:, :1]):
            return flat[:, 0].copy()
    raise ParameterError(
        f"`{name}` must be one value or one per output row of {layer!r} ({n_rows}), the same for every "
        f"position of a channel; got shape {tuple(v.shape)!r}", [name], [tuple(v.shape)])


def check_values(name: str, values: np.ndarray, constraint: Interval, why: str = "") -> np.ndarray:
    """Every entry of ``values`` in ``constraint``; the error names ``name`` and the first bad value."""
    bad = [x for x in np.ravel(values) if not constraint.contains(float(x))]
    if bad:
        more = f" ({len(bad)} of {values.size} values out of range)" if values.size > 1 else ""
        raise ParameterError(f"`{name}` must be {constraint.describe()}{why}; got {float(bad[0])!r}{more}",
                             [name], [float(bad[0])])
    return values


@dataclass(frozen=True)
class Neuron:
    """A framework's neuron layer as the rule sees it (per-step decays, gain, threshold distance).

    Arrays hold one value per neuron or one value in all (shapes as the framework stores them;
    :func:`per_row` maps them onto the rows of the weights that feed the layer).

    Attributes:
        name: the module path (or NIR node key).
        kind: ``"<framework>.<class>"``.
        alpha: synaptic decay per step (0: no synaptic filter).
        beta: membrane decay per step.
        gain: how much of the current enters the membrane per step.
        theta: threshold distance, threshold - rest (the unit of ``sigma_u`` and ``mu_u``).
        rest: the membrane's resting value (where it decays to).
        amplitude: the size of one of its output spikes (snntorch's graded_spikes_factor; else 1).
        continuous: NIR: ``alpha``/``beta`` hold tau_syn/tau_mem (s) and ``gain`` the kernel's
            area per unit weight (s); the kernel is :func:`continuous_kernel`.
    """

    name: str
    kind: str
    alpha: Any
    beta: Any
    gain: Any
    theta: Any
    rest: Any = 0.0
    amplitude: float = 1.0
    continuous: bool = False

    def kernel_rows(self, n_rows: int, layer: str, dt: float) -> dict[str, np.ndarray]:
        """Per row: epsilon_bar, epsilon_hat (s, per unit weight and unit input spike), theta, tau_mem, tau_syn (s)."""
        rows = {k: per_row(getattr(self, k), n_rows, f"{self.name}.{label}", layer)
                for k, label in (("alpha", self._label("alpha")), ("beta", self._label("beta")),
                                 ("gain", "gain"), ("theta", "threshold - rest"))}
        why = "" if self.continuous else " (a leaky membrane and current)"
        decay = CONSTRAINTS["tau"] if self.continuous else CONSTRAINTS["decay"]
        check_values(f"{self.name}.{self._label('alpha')}", rows["alpha"], decay, why)
        check_values(f"{self.name}.{self._label('beta')}", rows["beta"],
                     Interval(0.0, None, "neither") if self.continuous else decay, why)
        check_values(f"{self.name}.gain", rows["gain"], CONSTRAINTS["gain"])
        check_values(f"{self.name}.threshold - rest", rows["theta"], CONSTRAINTS["theta"],
                     " (the threshold above the resting potential)")
        if self.continuous:
            eb, eh = continuous_kernel(rows["beta"], rows["alpha"], rows["gain"])
            tau_mem, tau_syn = rows["beta"], rows["alpha"]
        else:
            eb, eh = discrete_kernel(rows["alpha"], rows["beta"], rows["gain"], dt)
            tau_mem, tau_syn = effective_tau(rows["beta"], dt), effective_tau(rows["alpha"], dt)
        return dict(epsilon_bar=eb, epsilon_hat=eh, theta=rows["theta"], tau_mem=tau_mem, tau_syn=tau_syn)

    def _label(self, which: str) -> str:
        if self.continuous:
            return {"alpha": "tau_syn", "beta": "tau_mem"}[which]
        return which


@dataclass
class Projection:
    """Weights that feed a neuron layer.

    Attributes:
        name: the module path of the weights (``fc1``, ``rnn.recurrent_weights``, a NIR node key).
        weight: a torch tensor ``(n_out, n_in, *kernel)`` filled in place.
        bias: its bias (zeroed unless kept), or None.
        fan_in: inputs per row (default ``weight.shape[1] * prod(kernel)``).
        after: called after filling (e.g. norse's autapse mask zeroing the diagonal).
    """

    name: str
    weight: torch.Tensor
    bias: torch.Tensor | None = None
    fan_in: int | None = None
    after: Callable[[], None] | None = None

    def n_in(self) -> int:
        return int(self.fan_in if self.fan_in is not None else self.weight.shape[1] * math.prod(self.weight.shape[2:]))


def _scalar_or_rows(x: np.ndarray) -> float | tuple[float, ...]:
    x = np.asarray(x, dtype=np.float64).ravel()
    return float(x[0]) if np.all(x == x[0]) else tuple(float(v) for v in x)


@dataclass(frozen=True)
class LayerReport:
    """What one initialized layer got (one value, or one per row where the neurons differ).

    Times in seconds, rates in Hz; mu_w, sigma_w (and sigma_v) in the framework's weight units;
    theta = threshold - rest, the unit of the target.
    """

    name: str
    neuron: str
    neuron_type: str
    fan_in: int
    nu: float
    tau_mem: float | tuple
    tau_syn: float | tuple
    theta: float | tuple
    epsilon_bar: float | tuple
    epsilon_hat: float | tuple
    mu_w: float | tuple
    sigma_w: float | tuple
    recurrent: str | None = None
    fan_in_rec: int | None = None
    nu_rec: float | None = None
    sigma_v: float | tuple | None = None
    alpha: float | None = None
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "extra"}
        d.update(self.extra)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def rates(name: str, value: Any, layers: Sequence[str]) -> list[float]:
    """One rate per initialized layer: ``value`` a number (all layers) or one per layer."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return [check(name, value, CONSTRAINTS[name])] * len(layers)
    try:
        values = list(value)
    except TypeError:
        raise ParameterError(f"`{name}` must be a rate in Hz or one per initialized layer; got {value!r}",
                             [name], [value]) from None
    if len(values) != len(layers):
        raise ParameterError(
            f"`{name}` must be one rate or one per initialized layer ({len(layers)}: {', '.join(layers)}); "
            f"got {len(values)} values {values!r}", [name], [value])
    out = []
    for i, v in enumerate(values):
        try:
            out.append(check(name, v, CONSTRAINTS[name]))
        except ParameterError as err:
            raise ParameterError(f"{err} (rate {i + 1} of {len(values)}, for {layers[i]!r})", err.names,
                                 err.values) from None
    return out


def _groups(columns: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Row indices of each distinct combination of the per-row ``columns``."""
    keys = np.stack([np.asarray(c, dtype=np.float64) for c in columns], axis=1)
    _, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).ravel()
    return [np.flatnonzero(inverse == g) for g in range(int(inverse.max()) + 1)]


def _fill_rows(tensors: Sequence[torch.Tensor], rows: np.ndarray, fill: Callable[..., Any]) -> None:
    """``fill(*parts)`` on the rows ``rows`` of each tensor (the tensors themselves when ``rows`` is all)."""
    n = tensors[0].shape[0]
    if len(rows) == n:
        fill(*tensors)
        return
    idx = torch.as_tensor(rows, dtype=torch.long, device=tensors[0].device)
    parts = [t.new_empty((len(rows), *t.shape[1:])) for t in tensors]
    fill(*parts)
    with torch.no_grad():
        for t, p in zip(tensors, parts):
            t[idx] = p


def prepare(
    neuron: Neuron,
    projection: Projection,
    recurrent: Projection | None,
    *,
    nu: float,
    dt: float,
    sigma_u: float,
    mu_u: float,
    alpha: float,
    nu_rec: float | None,
    amplitude: float,
    keep_bias: bool,
    generator: torch.Generator | None,
) -> tuple[LayerReport, Callable[[], None]]:
    """The weights that put ``neuron`` at the target: ``(report, fill)``; ``fill()`` draws them into
    ``projection`` (and ``recurrent``).  Every check and all the math run here, so a network whose
    last layer is refused is left untouched.

    The target is ``mu_u``, ``sigma_u`` in units of the neuron's threshold distance; inputs are
    Poisson at ``nu`` (recurrent ones at ``nu_rec``, default ``nu``) with spikes of size
    ``amplitude`` (the feeding layer's; the recurrent input's is the neuron's own).
    """
    n_rows = int(projection.weight.shape[0])
    if recurrent is not None and int(recurrent.weight.shape[0]) != n_rows:
        raise conflict("the recurrent weights must have one row per neuron of the feed-forward weights",
                       **{projection.name: tuple(projection.weight.shape), recurrent.name: tuple(recurrent.weight.shape)})
    k = neuron.kernel_rows(n_rows, projection.name, dt)
    n_in = projection.n_in()
    n_rec = None if recurrent is None else recurrent.n_in()
    mu_w, sigma_w, sigma_v = np.zeros(n_rows), np.zeros(n_rows), np.zeros(n_rows)
    draws: list[Callable[[], None]] = []
    for rows in _groups([k["epsilon_bar"], k["epsilon_hat"], k["theta"]]):
        d = float(k["theta"][rows[0]])
        kern = theory.KernelIntegrals(float(k["epsilon_bar"][rows[0]]), float(k["epsilon_hat"][rows[0]]))
        target = dict(sigma_u=sigma_u * d, mu_u=mu_u * d, theta=d, kernel=kern)
        if recurrent is None:
            p = theory.feedforward_params(n_in, nu, **target)
            draws.append(lambda rows=rows, target=target: _fill_rows([projection.weight], rows, lambda w: (
                fluctuation_normal_(w, nu, fan_in=n_in, generator=generator, **target))))
        else:
            p = theory.recurrent_params(n_in, n_rec, nu, alpha=alpha, nu_rec=nu_rec, **target)
            draws.append(lambda rows=rows, target=target: _fill_rows(
                [projection.weight, recurrent.weight], rows, lambda w, v: fluctuation_recurrent_(
                    w, v, nu, alpha=alpha, nu_rec=nu_rec, fan_in=n_in, fan_in_rec=n_rec, generator=generator,
                    **target)))
            sigma_v[rows] = p.sigma_v / neuron.amplitude
        mu_w[rows], sigma_w[rows] = p.mu_w / amplitude, p.sigma_w / amplitude

    def fill() -> None:
        for draw in draws:
            draw()
        with torch.no_grad():
            # the rule is for unit input spikes: spikes of size a need weights 1/a as large
            for proj, size in ((projection, amplitude), (recurrent, neuron.amplitude)):
                if proj is None:
                    continue
                if size != 1.0:
                    proj.weight.div_(size)
                if proj.bias is not None and not keep_bias:
                    proj.bias.zero_()
                if proj.after is not None:
                    proj.after()

    report = LayerReport(
        name=projection.name, neuron=neuron.name, neuron_type=neuron.kind, fan_in=n_in, nu=float(nu),
        tau_mem=_scalar_or_rows(k["tau_mem"]), tau_syn=_scalar_or_rows(k["tau_syn"]), theta=_scalar_or_rows(k["theta"]),
        epsilon_bar=_scalar_or_rows(k["epsilon_bar"]), epsilon_hat=_scalar_or_rows(k["epsilon_hat"]),
        mu_w=_scalar_or_rows(mu_w), sigma_w=_scalar_or_rows(sigma_w),
        recurrent=None if recurrent is None else recurrent.name,
        fan_in_rec=n_rec,
        nu_rec=None if recurrent is None else float(nu if nu_rec is None else nu_rec),
        sigma_v=None if recurrent is None else _scalar_or_rows(sigma_v),
        alpha=None if recurrent is None else float(alpha),
    )
    return report, fill
