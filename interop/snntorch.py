"""Fluctuation-driven initialization of snntorch networks, for the update snntorch runs.

snntorch's neurons (snntorch/_neurons/synaptic.py, leaky.py, rsynaptic.py, rleaky.py; read in
snntorch 1.0) step, with ``alpha`` and ``beta`` clamped to [0, 1] in the forward pass:

    Synaptic:   syn = alpha syn + x;               mem = beta mem + syn - reset
    Leaky:                                          mem = beta mem + x - reset
    RSynaptic:  syn = alpha syn + x + V(spk);      mem = beta mem + syn - reset
    RLeaky:                                         mem = beta mem + x + V(spk) - reset

(``V`` the ``recurrent`` module: an ``nn.Linear`` or ``nn.Conv2d`` for ``all_to_all=True``, else
one weight per neuron).  The membrane rests at 0 and adds the current without a (1 - beta)
factor: in :mod:`fluctinit.interop._rule`'s terms ``gain = 1``, ``alpha = 0`` for the Leaky
kinds, threshold distance = ``threshold``.  Against the paper's kernel at
``tau_mem = -dt/ln(beta)``, ``tau_syn = -dt/ln(alpha)`` epsilon_bar is 1/(1 - beta) and
epsilon_hat 1/(1 - beta)^2 as large, so the paper's weights unchanged give a membrane
standard deviation 1/(1 - beta) times the target (10.5x at dt = 2 ms, tau_mem = 20 ms).
Output spikes are ``graded_spikes_factor`` in size; the next layer's weights are divided by it.

Example::

    import snntorch as snn, torch
    from fluctinit.interop import snntorch as fi_snn

    net = torch.nn.Sequential(torch.nn.Linear(700, 128), snn.Synaptic(alpha=0.8187, beta=0.9048, init_hidden=True),
                              torch.nn.Linear(128, 20), snn.Leaky(beta=0.9048, init_hidden=True))
    report = fi_snn.init_(net, nu=15.8, dt=2e-3, generator=torch.Generator().manual_seed(0))
    report[0].sigma_w     # 0.0201 (the paper's rule, unchanged, would give 0.2108)
"""

from __future__ import annotations

import torch
from torch import nn

from fluctinit.errors import ParameterError

from ._rule import Neuron, Projection
from ._tree import Target, Unsupported, framework_init

__all__ = ["init_", "describe", "SUPPORTED"]

SUPPORTED = "snntorch Synaptic, Leaky, RSynaptic, RLeaky"


def _clamped(x) -> torch.Tensor:
    return torch.as_tensor(x).detach().clamp(0, 1)


def _amplitude(name: str, module: nn.Module) -> float:
    f = torch.as_tensor(getattr(module, "graded_spikes_factor", 1.0)).detach()
    if f.numel() != 1:
        raise ParameterError(f"`{name}.graded_spikes_factor` must be one value for the whole layer; got shape "
                             f"{tuple(f.shape)!r}", [f"{name}.graded_spikes_factor"], [tuple(f.shape)])
    return float(f)


def _recurrent(name: str, module: nn.Module) -> Projection:
    rec = module.recurrent
    if isinstance(rec, (nn.Linear, nn.Conv2d)):
        return Projection(f"{name}.recurrent", rec.weight, rec.bias)
    v = rec.V  # RecurrentOneToOne: one weight per neuron
    if not isinstance(v, torch.Tensor) or v.dim() != 1:
        shape = tuple(v.shape) if isinstance(v, torch.Tensor) else v
        raise ParameterError(f"`{name}.V` must be a tensor of one recurrent weight per neuron (all_to_all=False); "
                             f"got {shape!r}", [f"{name}.V"], [shape])
    return Projection(f"{name}.V", v.view(-1, 1))


def describe(name: str, module: nn.Module) -> Target | Unsupported | None:
    """The rule's view of an snntorch module: a :class:`Target` for a supported neuron,
    :class:`Unsupported` for another snntorch neuron, None for anything else."""
    import snntorch as snn

    kind = type(module)
    if kind in (snn.Synaptic, snn.RSynaptic, snn.Leaky, snn.RLeaky):
        synaptic = kind in (snn.Synaptic, snn.RSynaptic)
        neuron = Neuron(
            name=name, kind=f"snntorch.{kind.__name__}",
            alpha=_clamped(module.alpha) if synaptic else 0.0, beta=_clamped(module.beta), gain=1.0,
            theta=torch.as_tensor(module.threshold).detach(), rest=0.0, amplitude=_amplitude(name, module))
        recurrent = _recurrent(name, module) if kind in (snn.RSynaptic, snn.RLeaky) else None
        return Target(neuron, recurrent=recurrent)
    if isinstance(module, snn.SpikingNeuron) or type(module).__module__.startswith("snntorch._neurons"):
        return Unsupported(f"snntorch.{kind.__name__}")
    return None


init_ = framework_init(describe, SUPPORTED, """Fluctuation-driven weights for every weight layer of an snntorch network (in place).

    Each ``nn.Linear`` / ``nn.Conv1d`` / ``nn.Conv2d`` / ``nn.Conv3d`` feeding a ``Synaptic``,
    ``Leaky``, ``RSynaptic`` or ``RLeaky`` (in registration order, see
    :mod:`fluctinit.interop._tree`) gets ``W ~ N(mu_w, sigma_w^2)`` such that the free membrane
    has mean ``mu_u`` and standard deviation ``sigma_u`` (paper eqs. 4-9; 34-39 with the
    recurrent weights) for Poisson inputs at ``nu``, computed with the kernel of snntorch's own
    update (module docstring) from each neuron's ``alpha``, ``beta`` and ``threshold`` (scalar or
    one per neuron, learnable or not; the threshold distance is ``threshold``).  Groups of
    neurons with equal parameters share one distribution.

    ``init_(module, *, nu, dt, sigma_u=1.0, mu_u=0.0, alpha=0.9, nu_rec=None, keep_bias=False,
    skip=(), generator=None)``.
""", dt_doc=": snntorch's decays are per step; required")
