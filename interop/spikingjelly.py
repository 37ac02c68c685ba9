"""Fluctuation-driven initialization of spikingjelly networks, for the update spikingjelly runs.

spikingjelly's neurons (spikingjelly/_ops/lif/reference.py and cpu.py, ``charge``;
activation_based/functional/neuron.py, ``cuba_lif_step``; read in spikingjelly 2.0):

    LIFNode, decay_input=True:   H = V + (X - (V - V_reset)) / tau
    LIFNode, decay_input=False:  H = V - (V - V_reset) / tau + X
    CUBALIFNode:                 c = c_decay c + X;  H = v_decay V + c

(``tau`` in steps, ``V_reset = None`` (soft reset) counts as 0 in the charge; then the spike
and reset).  In :mod:`fluctinit.interop._rule`'s terms LIFNode has ``beta = 1 - 1/tau``, no
synaptic filter, ``gain = 1/tau`` with ``decay_input`` (the paper's normalized form: the input
carries the (1 - beta) already) and ``gain = 1`` without; it rests at ``V_reset`` (0 for None).
CUBALIFNode has ``alpha = c_decay``, ``beta = v_decay``, ``gain = 1`` (as snntorch's Synaptic) and
decays to 0 whatever its ``v_reset``; the threshold distance is ``v_threshold - rest``.

Recurrent containers (``layer.LinearRecurrentContainer``, ``ElementWiseRecurrentContainer``) feed
the recurrence through the layer's input, not onto the neuron's current, and are refused.

Example::

    import torch
    from spikingjelly.activation_based import layer, neuron
    from fluctinit.interop import spikingjelly as fi_sj

    net = torch.nn.Sequential(layer.Linear(700, 128), neuron.LIFNode(tau=10.0, decay_input=False))
    fi_sj.init_(net, nu=15.8, dt=2e-3, generator=torch.Generator().manual_seed(0))
"""

from __future__ import annotations

from torch import nn

from ._rule import Neuron
from ._tree import Target, Unsupported, framework_init

__all__ = ["init_", "describe", "SUPPORTED"]

SUPPORTED = "spikingjelly LIFNode, CUBALIFNode"


def describe(name: str, module: nn.Module) -> Target | Unsupported | None:
    """The rule's view of a spikingjelly module (see :func:`fluctinit.interop.snntorch.describe`)."""
    from spikingjelly.activation_based import base
    from spikingjelly.activation_based.neuron import CUBALIFNode, LIFNode

    kind = type(module)
    if kind is LIFNode:
        tau = float(module.tau)
        rest = 0.0 if module.v_reset is None else float(module.v_reset)
        return Target(Neuron(name=name, kind="spikingjelly.LIFNode", alpha=0.0, beta=1.0 - 1.0 / tau,
                             gain=1.0 / tau if module.decay_input else 1.0,
                             theta=float(module.v_threshold) - rest, rest=rest))
    if kind is CUBALIFNode:
        return Target(Neuron(name=name, kind="spikingjelly.CUBALIFNode", alpha=float(module.c_decay),
                             beta=float(module.v_decay), gain=1.0, theta=float(module.v_threshold), rest=0.0))
    if isinstance(module, base.MemoryModule):
        why = "" if "Recurrent" not in kind.__name__ else " (its recurrence enters through the layer's input)"
        return Unsupported(f"spikingjelly.{kind.__name__}", why)
    return None


init_ = framework_init(describe, SUPPORTED, """Fluctuation-driven weights for every weight layer of a spikingjelly network (in place).

    As :func:`fluctinit.interop.snntorch.init_` for ``neuron.LIFNode`` and ``neuron.CUBALIFNode``
    (each ``nn.Linear`` / ``nn.Conv*``, spikingjelly's ``layer.Linear`` and ``layer.Conv2d``
    included, feeding one; containers such as ``layer.SeqToANNContainer`` are entered), the
    threshold distance ``v_threshold - rest``.  spikingjelly has no recurrent neuron the rule
    maps, so ``alpha`` and ``nu_rec`` have nothing to act on.

    ``init_(module, *, nu, dt, sigma_u=1.0, mu_u=0.0, keep_bias=False, skip=(), generator=None)``.
""", dt_doc=": spikingjelly's tau is in steps; required")
