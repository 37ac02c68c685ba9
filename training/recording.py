"""What training records: firing rates, surrogate-gradient and weight-update magnitudes.

These are the quantities of the paper's figures 3(g-i) and 4(c-f):

* per-layer population firing rate (Hz): ``nu^(l) = sum_{k,n,i} S_i^(l),k[n] / (K * M^(l) * T * dt)``
  (figures 3g, 4d);
* per-layer surrogate-gradient magnitude: the mean absolute gradient of the loss with respect to
  a layer's output -- the hidden layers' spike trains ``dL/dS^(l)`` and the readout membrane
  ``dL/dU^(out)`` -- computed through the surrogate (figures 3h, 4e);
* per-layer weight-update magnitude: mean ``|Delta w|`` over the layer's weights after one
  optimizer step (figures 3i, 4f);
* epochs needed to reach 90 % training accuracy (figure 4c).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Iterable, Sequence

import torch

from fluctinit.errors import Integer, Interval, ParameterError, check

__all__ = [
    "firing_rates",
    "firing_rates_from_counts",
    "GradientRecorder",
    "parameter_groups",
    "snapshot",
    "weight_update_magnitudes",
    "epochs_to_accuracy",
]


def firing_rates(spikes: Sequence[torch.Tensor], dt: float) -> list[float]:
    """Population firing rate of each layer in Hz.

    Args:
        spikes: per layer ``(batch, time, *neuron_dims)`` spike tensors (0/1).
        dt: time step in seconds.

    Returns:
        ``[nu^(1), ..., nu^(L)]`` with ``nu = mean(S) / dt`` (Hz).
    """
    dt = check("dt", dt, Interval(0.0, None, "neither"))
    return [float(s.detach().float().mean()) / dt for s in spikes]


def firing_rates_from_counts(counts: Sequence[torch.Tensor], n_steps: int, dt: float) -> list[float]:
    """:func:`firing_rates` from per-layer spike counts ``(batch, M)`` over ``n_steps`` steps:
    ``nu = mean(zeta) / (n_steps dt)`` (Hz); the same number without another pass over ``S``."""
    dt = check("dt", dt, Interval(0.0, None, "neither"))
    n_steps = check("n_steps", n_steps, Integer(1, None))
    return [float(z.detach().double().mean()) / (n_steps * dt) for z in counts]


class GradientRecorder:
    """Keeps the gradients of the loss w.r.t. layer outputs for one backward pass.

    Usage::

        rec = GradientRecorder(hidden_spikes + [readout])   # before backward
        loss.backward()
        rec.magnitudes()   # [mean |dL/dS^(1)|, ..., mean |dL/dU^(out)|]

    Where the simulator keeps a gradient probe for a tensor (:func:`fluctinit.sim.gradient_probe`:
    the fast core's compiled scan sums ``|dL/dS|`` in its backward pass), the magnitude is read
    from it; other tensors get a hook.  Tensors that do not require grad (e.g. a frozen layer)
    give ``0.0``.
    """

    def __init__(self, tensors: Iterable[torch.Tensor]):
        from fluctinit.sim import gradient_probe

        tensors = list(tensors)
        grads: list[torch.Tensor | None] = [None] * len(tensors)
        self._grads = grads
        self._probes = [gradient_probe(t) for t in tensors]
        self._numels = [t.numel() for t in tensors]
        for i, (t, probe) in enumerate(zip(tensors, self._probes)):
            if t.requires_grad and probe is None:
                t.register_hook(_store(grads, i))
        # No reference from here (or from the hooks) back to the tensors: a tensor -> hook ->
        # tensor cycle runs through C++ and is never collected, leaking one graph per batch.

    def magnitudes(self) -> list[float]:
        """Mean absolute gradient per recorded tensor (0.0 where none flowed)."""
        out = []
        for g, probe, n in zip(self._grads, self._probes, self._numels):
            if probe is not None:
                out.append(float(probe) / max(1, n))
            else:
                # one pass (the 1-norm), no |g| temporary of the tensor's size
                out.append(0.0 if g is None else float(torch.linalg.vector_norm(g, 1)) / max(1, n))
        return out


def _store(grads: list, i: int):
    def hook(grad: torch.Tensor):
        grads[i] = grad.detach()
        return None

    return hook


def parameter_groups(module: torch.nn.Module) -> "OrderedDict[str, list[str]]":
    """Group a module's trainable parameters by layer: the name without its last component.

    E.g. ``hidden.0.w`` and ``hidden.0.v`` form the group ``hidden.0``.
    """
    groups: "OrderedDict[str, list[str]]" = OrderedDict()
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        layer = name.rsplit(".", 1)[0] if "." in name else name
        groups.setdefault(layer, []).append(name)
    return groups


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Detached copies of all trainable parameters (to measure an update)."""
    return {n: p.detach().clone() for n, p in module.named_parameters() if p.requires_grad}


def weight_update_magnitudes(
    before: dict[str, torch.Tensor], module: torch.nn.Module
) -> "OrderedDict[str, float]":
    """Mean ``|w_after - w_before|`` per layer group (see :func:`parameter_groups`).

    Args:
        before: :func:`snapshot` taken before the optimizer step.
        module: the module after the step.
    """
    params = dict(module.named_parameters())
    out: "OrderedDict[str, float]" = OrderedDict()
    for layer, names in parameter_groups(module).items():
        total, count = 0.0, 0
        for n in names:
            if n not in before:
                raise ParameterError(
                    f"`before` must hold every trainable parameter; got none for {n!r}",
                    ["before"],
                    [n],
                )
            d = (params[n].detach() - before[n]).abs()
            total += float(d.sum())
            count += d.numel()
        out[layer] = total / max(count, 1)
    return out


def epochs_to_accuracy(accuracies: Sequence[float], threshold: float = 0.9) -> int | None:
    """First epoch (1-based) whose training accuracy reaches ``threshold`` (figure 4c).

    Returns ``None`` if it is never reached.
    """
    threshold = check("threshold", threshold, Interval(0.0, 1.0, "both"))
    for i, a in enumerate(accuracies):
        if a >= threshold:
            return i + 1
    return None
