"""Layer-sequential initialization of another framework's network: each layer for the rate its
inputs really have (beyond the paper, which gives every layer the data's rate).

The same rule as fluctinit's own ``init.rates = "sequential"``
(:func:`fluctinit.training.sequential_rates_`), on a network fluctinit does not run: the first
weight layer is initialized for the data's rate ``nu``; then, layer by layer, one call of the
user's ``run(module)`` (one batch through the network, from a fresh state) measures the spikes of
the neuron that layer feeds, and the next layer is initialized for their rate.  A recurrent
neuron's own spikes are re-measured after its recurrent weights are set for their rate
(``rec_passes`` times), since those weights change it.  Each initialization starts from the same
generator state, so the layers already calibrated keep their weights.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Iterable

import torch
from torch import nn

from fluctinit.errors import Integer, OneOf, ParameterError, check
from fluctinit.theory import SILENT_RATE

from ._rule import CONSTRAINTS
from ._tree import initialized_targets

__all__ = ["sequential_init_", "FRAMEWORKS"]

#: the frameworks whose networks fluctinit can run through the user's ``run``
FRAMEWORKS = ("snntorch", "norse", "spikingjelly")


def _spikes(output: Any) -> torch.Tensor:
    """The spike tensor of a neuron module's output: snntorch's ``spk`` or ``(spk, mem, ...)``,
    norse's ``(z, state)``, spikingjelly's spike tensor."""
    while isinstance(output, (tuple, list)):
        output = output[0]
    return output


def _measure(module: nn.Module, run: Callable[[nn.Module], Any], target, dt: float) -> float:
    """The mean rate (Hz) of ``target``'s neurons over one ``run``: spikes counted in units of
    their amplitude, over every call of the neuron (one per step, or one for a whole sequence)."""
    totals = [0.0, 0]

    def hook(_mod, _inp, out):
        s = _spikes(out)
        if isinstance(s, torch.Tensor):
            totals[0] += float(s.detach().abs().sum())
            totals[1] += s.numel()

    handle = target.module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            run(module)
    finally:
        handle.remove()
    if totals[1] == 0:
        raise ParameterError(f"`run` must run the network: neuron {target.neuron.name!r} produced no spikes tensor "
                             "during it", ["run"], [run])
    return totals[0] / totals[1] / float(target.neuron.amplitude) / dt


def sequential_init_(
    framework: str,
    module: nn.Module,
    run: Callable[[nn.Module], Any],
    *,
    nu: float,
    dt: float | None = None,
    sigma_u: float = 1.0,
    mu_u: float = 0.0,
    alpha: float = 0.9,
    keep_bias: bool = False,
    skip: Iterable[str] = (),
    generator: torch.Generator | None = None,
    rec_passes: int = 2,
) -> tuple[list, list[float]]:
    """Initialize ``module`` layer by layer for the rates its layers' inputs really have (in place).

    Args:
        framework: ``"snntorch"``, ``"norse"`` or ``"spikingjelly"``: whose ``init_`` fills the
            weights (:mod:`fluctinit.interop.snntorch`, ...).
        module: the network, as that ``init_`` takes it (a chain of weight layers and neurons).
        run: ``run(module)`` runs one batch of the user's data through the network from a fresh
            state (reset snntorch's hidden states, spikingjelly's ``functional.reset_net``); it is
            called once per layer, and ``rec_passes`` more times per recurrent neuron.
        nu: the data's rate (Hz): the first layer's inputs.
        dt: the network's step (s); norse: default each neuron's own.
        sigma_u, mu_u, alpha, keep_bias, skip, generator: as the framework's ``init_``.
        rec_passes: re-measurements of a recurrent neuron's own rate (>= 0).

    Returns:
        ``(reports, rates)``: the final ``init_`` reports, and each initialized layer's input
        rate (Hz), ``rates[0] = nu``.
    """
    check("framework", framework, OneOf(FRAMEWORKS))
    check("nu", nu, CONSTRAINTS["nu"])
    check("rec_passes", rec_passes, Integer(0))
    if not callable(run):
        raise ParameterError(f"`run` must be a callable run(module); got {type(run).__name__}", ["run"], [run])
    fw = importlib.import_module(f"fluctinit.interop.{framework}")
    targets = initialized_targets(module, fw.describe, fw.SUPPORTED, skip)
    if not targets:
        raise ParameterError(f"`module` must hold a weight layer feeding a {framework} neuron; got none",
                             ["module"], [type(module).__name__])
    state = None if generator is None else generator.get_state()
    n = len(targets)
    rates = [float(nu)] * n
    rec = [float(nu)] * n
    reports: list = []

    def init():
        if generator is not None:
            generator.set_state(state)
        return fw.init_(module, nu=rates, nu_rec=rec, dt=dt, sigma_u=sigma_u, mu_u=mu_u, alpha=alpha,
                        keep_bias=keep_bias, skip=skip, generator=generator)

    for k, target in enumerate(targets):
        step = target.dt if dt is None else dt
        reports = init()
        if target.recurrent is not None:
            for _ in range(rec_passes):
                rec[k] = max(_measure(module, run, target, step), SILENT_RATE)
                reports = init()
        if k + 1 < n:
            measured = max(_measure(module, run, target, step), SILENT_RATE)
            for j in range(k + 1, n):  # until measured, later layers assume this rate
                rates[j] = rec[j] = measured
    return reports, rates
