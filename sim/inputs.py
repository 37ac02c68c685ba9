"""Input spike trains: homogeneous Poisson processes, the input the paper's theory assumes.

:func:`poisson_spikes` draws them on the simulation grid (section 2, eqs. 2-5).  Data sets
(Randman, SHD, ...) live in :mod:`fluctinit.datasets`.  The Bernoulli discretization lowers
the membrane variance by :func:`fluctinit.theory.bernoulli_variance_factor`.

Conventions: SI units (seconds, Hz); dense spike tensors have shape ``(batch, time, units)``;
randomness is explicit (a ``torch.Generator``).
"""

from __future__ import annotations

import numpy as np
import torch

from fluctinit.errors import Integer, Interval, OneOf, ParameterError, check, check_all, conflict

__all__ = ["POISSON_CONSTRAINTS", "poisson_spikes"]

# ----------------------------------------------------------------------------
# Poisson spike trains
# ----------------------------------------------------------------------------

POISSON_CONSTRAINTS = {
    "batch": Integer(low=0),
    "n_steps": Integer(low=0),
    "n_units": Integer(low=0),
    "nu": Interval(0.0, None, closed="left"),
    "dt": Interval(0.0, None, closed="neither"),
    "mode": OneOf(("bernoulli", "count")),
}


def _rates_tensor(nu, n_units: int) -> tuple[torch.Tensor | float, float]:
    """Check ``nu`` (a scalar or one rate per unit); return it and its maximum."""
    if isinstance(nu, (int, float, np.integer, np.floating)) and not isinstance(nu, bool):
        nu_f = check("nu", nu, POISSON_CONSTRAINTS["nu"])
        return nu_f, nu_f
    try:
        arr = np.asarray(
            nu.detach().cpu().numpy() if isinstance(nu, torch.Tensor) else nu, dtype=np.float64
        )
    except (TypeError, ValueError):
        raise ParameterError(
            f"`nu` must be a rate in Hz (a number >= 0 or one per unit); got {nu!r}", ["nu"], [nu]
        ) from None
    if arr.ndim != 1 or arr.shape[0] != n_units:
        raise ParameterError(
            f"`nu` must be a number or have shape (n_units,) = ({n_units},); got shape {arr.shape}",
            ["nu"],
            [nu],
        )
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ParameterError(
            f"`nu` must hold finite rates >= 0 Hz; got {nu!r}", ["nu"], [nu]
        )
    return torch.from_numpy(arr), float(arr.max()) if arr.size else 0.0


def poisson_spikes(
    batch: int,
    n_steps: int,
    n_units: int,
    nu,
    dt: float = 2e-3,
    *,
    mode: str = "bernoulli",
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Homogeneous Poisson spike trains on a grid of step ``dt``.

    Two discretizations of a Poisson process of rate ``nu``:

    * ``mode="bernoulli"``: ``S[b, n, i] ~ Bernoulli(p)`` with ``p = nu*dt``
      (at most one spike per step; needs ``nu*dt <= 1``).  Mean per step
      ``p``, variance ``p*(1 - p)``: the temporal variance the theory's
      eqs. 2-5 predict is lowered by :func:`bernoulli_variance_factor`
      ``= 1 - nu*dt`` (e.g. 0.99 at 5 Hz and dt = 2 ms).
    * ``mode="count"``: ``S[b, n, i] ~ Poisson(nu*dt)``, the exact spike count
      of a Poisson process in each bin (mean and variance ``nu*dt``).

    Either way the mean rate is ``nu`` (Hz): ``E[S]/dt = nu``.

    Args:
        batch, n_steps, n_units: output shape ``(batch, n_steps, n_units)``.
        nu: rate in Hz, a number ``>= 0`` or a sequence/tensor of shape
            ``(n_units,)`` (one rate per input unit).
        dt: time step in seconds (default 2 ms, the paper's).
        mode: ``"bernoulli"`` or ``"count"``.
        generator: torch random generator (``None``: torch's default one).
        dtype, device: of the returned tensor.

    Returns:
        Tensor of shape ``(batch, n_steps, n_units)`` holding spike counts
        (0/1 for ``"bernoulli"``).

    Raises:
        ParameterError: any argument out of range, or ``nu*dt > 1`` with
        ``mode="bernoulli"``.
    """
    v = check_all(
        {k: POISSON_CONSTRAINTS[k] for k in ("batch", "n_steps", "n_units", "dt", "mode")},
        batch=batch,
        n_steps=n_steps,
        n_units=n_units,
        dt=dt,
        mode=mode,
    )
    rates, nu_max = _rates_tensor(nu, v["n_units"])
    if v["mode"] == "bernoulli" and nu_max * v["dt"] > 1.0:
        raise conflict(
            "the Bernoulli spike probability nu*dt exceeds 1; lower nu or dt, or use mode='count'",
            nu=nu_max,
            dt=v["dt"],
        )
    shape = (v["batch"], v["n_steps"], v["n_units"])
    gen_device = generator.device if generator is not None else torch.device("cpu")
    if isinstance(rates, torch.Tensor):
        p = (rates * v["dt"]).to(device=gen_device, dtype=torch.float64).expand(shape).contiguous()
    else:
        p = torch.full(shape, rates * v["dt"], dtype=torch.float64, device=gen_device)
    if v["mode"] == "bernoulli":
        out = torch.bernoulli(p.clamp(0.0, 1.0), generator=generator)
    else:
        out = torch.poisson(p, generator=generator)
    return out.to(dtype=dtype, device=device if device is not None else gen_device)
