"""Training losses: the max-over-time cross-entropy and the activity regularizers.

Paper: Rossbroich, Gygax & Zenke (2022), section 4.2, eqs. 20-25.

* :func:`max_over_time_cross_entropy` -- eqs. 20-21 with the score
  ``a_c = max_n U_c^(out)[n]`` of each readout unit.
* :func:`upper_bound_loss` -- soft upper bound on each hidden layer's *population* spike count
  (eqs. 22-23).
* :func:`homeostatic_loss` -- per-neuron lower bound on the spike count, the paper's
  "homeostatic plasticity" (eqs. 24-25).

Sign convention (a misprint in the paper).  The paper writes
``L_UB = -lambda_upper * sum_l g_upper`` (eq. 23) and ``L_HP = -lambda_lower * sum_l g_lower``
(eq. 25).  Both g's are non-negative penalties (squared rectified excesses), and the terms are
*added to a loss that is minimized*; with the minus sign gradient descent would *maximize* the
violation (drive the population rate up without bound, and silence neurons further).  The
regularizers here therefore carry the ``+`` sign:

    L_UB = +lambda_upper * sum_l mean_k g_upper^(l),k
    L_HP = +lambda_lower * sum_l mean_k g_lower^(l),k

and tests/test_losses_reg.py checks that a few gradient steps on ``L_UB`` lower the population
rate and on ``L_HP`` raise the spike count of silent neurons.  The paper leaves the reduction
over the samples k of a mini-batch implicit; we average over k, like eq. 20 does for the
supervised term.

Spike tensors have shape ``(batch, time, *neuron_dims)``: ``(batch, time, neurons)`` for fully
connected layers, ``(batch, time, channels, positions)`` for 1-D convolutional layers and
``(batch, time, channels, height, width)`` for 2-D ones.  ``M^(l)`` is the product of the
neuron dimensions (features x positions), as the paper's section 4.2 prescribes for CSNNs.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from fluctinit.errors import Interval, ParameterError, check

__all__ = [
    "CONSTRAINTS",
    "max_over_time_cross_entropy",
    "spike_counts",
    "upper_bound_loss",
    "homeostatic_loss",
    "v_upper_for_rate",
]

#: Constraint table (data, so tests can push every parameter out of range).
CONSTRAINTS = {
    "lambda_upper": Interval(0.0, None, "left"),
    "lambda_lower": Interval(0.0, None, "left"),
    "v_upper": Interval(0.0, None, "left"),
    "v_lower": Interval(0.0, None, "left"),
    "rate": Interval(0.0, None, "left"),
    "duration": Interval(0.0, None, "neither"),
}


def _check_tensor(name: str, x, min_dim: int) -> None:
    if not isinstance(x, torch.Tensor):
        raise ParameterError(
            f"`{name}` must be a torch.Tensor; got {type(x).__name__}", [name], [x]
        )
    if x.dim() < min_dim:
        raise ParameterError(
            f"`{name}` must be a tensor with at least {min_dim} dimensions; got shape "
            f"{tuple(x.shape)!r}",
            [name],
            [tuple(x.shape)],
        )


def max_over_time_cross_entropy(
    readout: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy on the maximum over time of each readout membrane (paper eqs. 20-21).

    .. math::

        a_c^k = \\max_n U_c^{(out),k}[n], \\qquad
        p_c^k = \\frac{e^{a_c^k}}{\\sum_i e^{a_i^k}}, \\qquad
        \\mathcal L_{sup} = -\\frac1K \\sum_k \\sum_c y_c^k \\log p_c^k .

    Args:
        readout: readout membrane potentials ``U^(out)``, shape ``(batch, time, classes)``
            (threshold units, dimensionless).
        labels: integer class labels, shape ``(batch,)``, values in ``[0, classes)``.

    Returns:
        ``(loss, scores)``: the scalar mean loss and the scores ``a`` of shape
        ``(batch, classes)`` (``scores.argmax(1)`` is the prediction).

    Raises:
        ParameterError: wrong shapes or labels out of range.
    """
    _check_tensor("readout", readout, 3)
    if readout.dim() != 3:
        raise ParameterError(
            f"`readout` must be a tensor of shape (batch, time, classes); got shape "
            f"{tuple(readout.shape)!r}",
            ["readout"],
            [tuple(readout.shape)],
        )
    _check_tensor("labels", labels, 1)
    if labels.shape != readout.shape[:1]:
        raise ParameterError(
            f"`labels` must have shape (batch,) = {tuple(readout.shape[:1])!r}; got shape "
            f"{tuple(labels.shape)!r}",
            ["labels"],
            [tuple(labels.shape)],
        )
    n_classes = readout.shape[2]
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
        bad = int(labels.min()) if int(labels.min()) < 0 else int(labels.max())
        raise ParameterError(
            f"`labels` must be integers with 0 <= label < {n_classes}; got {bad!r}",
            ["labels"],
            [bad],
        )
    scores = readout.max(dim=1).values
    return F.cross_entropy(scores, labels.long()), scores


def spike_counts(spikes: torch.Tensor) -> torch.Tensor:
    """Per-neuron spike counts ``zeta_i = sum_n S_i[n]``, shape ``(batch, M)``
    (:func:`fluctinit.sim.spike_counts`, flattened: it reuses the fast core's count).

    Args:
        spikes: ``(batch, time, *neuron_dims)``.

    Returns:
        ``(batch, M)`` with ``M = prod(neuron_dims)`` (features x positions for conv layers).
    """
    from fluctinit.sim import spike_counts as counts_of

    _check_tensor("spikes", spikes, 3)
    return counts_of(spikes).flatten(1)


def v_upper_for_rate(duration: float, rate: float = 10.0) -> float:
    """Spike-count bound for a population rate: ``v = rate * duration``.

    The paper sets ``v_upper = T_data / 100`` with ``T_data`` in milliseconds, i.e. an upper
    bound of 10 Hz on the mean population rate (section 4.2, below eq. 22).

    Args:
        duration: trial duration ``T_data`` in seconds.
        rate: rate bound in Hz (default 10 Hz, the paper's choice).

    Returns:
        The bound on the mean spike count per neuron and trial (dimensionless).
    """
    duration = check("duration", duration, CONSTRAINTS["duration"])
    rate = check("rate", rate, CONSTRAINTS["rate"])
    return rate * duration


def _penalty(counts: Sequence[torch.Tensor], bound: float, lam: float, upper: bool) -> torch.Tensor:
    """``lam sum_l mean_k g^(l),k`` over per-layer counts ``(batch, M)``: the squared excess of the
    population mean over ``bound`` (``upper``) or the mean over neurons of each count's squared
    shortfall below ``bound``."""
    total = None
    for z in counts:
        _check_tensor("counts", z, 2)
        g = torch.relu(z.mean(dim=1) - bound).square().mean() if upper else torch.relu(bound - z).square().mean(dim=1).mean()
        total = g if total is None else total + g
    return torch.zeros(()) if total is None else lam * total


def upper_bound_loss(counts: Sequence[torch.Tensor], v_upper: float, lambda_upper: float) -> torch.Tensor:
    """Soft upper bound on each layer's population spike count (paper eqs. 22-23, sign fixed).

    .. math::

        g_{upper}^{(l),k} = \\Big(\\Big[\\frac1{M^{(l)}} \\sum_i \\zeta_i^{(l),k}
                             - v_{upper}\\Big]_+\\Big)^2, \\qquad
        \\mathcal L_{UB} = +\\lambda_{upper} \\sum_l \\frac1K \\sum_k g_{upper}^{(l),k}.

    Args:
        counts: per hidden layer, the spike counts ``zeta`` ``(batch, M)`` (:func:`spike_counts`).
        v_upper: bound on the mean spike count per neuron and trial (e.g. :func:`v_upper_for_rate`).
        lambda_upper: regularizer strength (>= 0).

    Returns:
        Scalar loss (0 when no layer exceeds the bound).
    """
    v_upper = check("v_upper", v_upper, CONSTRAINTS["v_upper"])
    lambda_upper = check("lambda_upper", lambda_upper, CONSTRAINTS["lambda_upper"])
    return _penalty(counts, v_upper, lambda_upper, upper=True)


def homeostatic_loss(counts: Sequence[torch.Tensor], v_lower: float, lambda_lower: float) -> torch.Tensor:
    """Per-neuron lower bound on the spike count, "homeostatic plasticity" (eqs. 24-25, sign fixed).

    .. math::

        g_{lower}^{(l),k} = \\frac1{M^{(l)}} \\sum_i
                             \\big(\\big[-(\\zeta_i^{(l),k} - v_{lower})\\big]_+\\big)^2, \\qquad
        \\mathcal L_{HP} = +\\lambda_{lower} \\sum_l \\frac1K \\sum_k g_{lower}^{(l),k}.

    With ``v_lower = 1`` (the paper's value) every neuron that stays silent on a sample is
    penalized.

    Args:
        counts: per hidden layer, the spike counts ``zeta`` ``(batch, M)`` (:func:`spike_counts`).
        v_lower: lower bound on each neuron's spike count per trial (>= 0).
        lambda_lower: regularizer strength (>= 0).

    Returns:
        Scalar loss.
    """
    v_lower = check("v_lower", v_lower, CONSTRAINTS["v_lower"])
    lambda_lower = check("lambda_lower", lambda_lower, CONSTRAINTS["lambda_lower"])
    return _penalty(counts, v_lower, lambda_lower, upper=False)
