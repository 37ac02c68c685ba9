"""Fluctuation-driven initialization of norse networks, for the Euler update norse runs.

norse's LIF (norse/torch/functional/lif.py, ``lif_feed_forward_step`` and ``lif_step``; read in
norse 1.1) integrates ``dv/dt = tau_mem_inv (v_leak - v + i)``, ``di/dt = -tau_syn_inv i`` by one
explicit Euler step of its module's ``dt`` after adding the input to the current:

    i = i + x                                 (x: the input current, plus W_rec z for the recurrent cells)
    v = v + dt tau_mem_inv (v_leak - v + i)
    i = i (1 - dt tau_syn_inv)

and LIFBoxCell (functional/lif_box.py) has no current: ``v = v + dt tau_mem_inv (x + v_leak - v)``.
In :mod:`fluctinit.interop._rule`'s terms ``beta = 1 - dt tau_mem_inv``, ``alpha = 1 - dt tau_syn_inv``
(0 for the box cell), ``gain = dt tau_mem_inv``; the membrane rests at ``v_leak`` and the
threshold distance is ``v_th - v_leak``.  That is the paper's normalized update with Euler
decays in place of ``exp(-dt/tau)``: the paper's kernel at the nominal time constants
``1/tau_mem_inv``, ``1/tau_syn_inv`` is off by O(dt/tau) only.

norse's step ``dt`` (a module attribute) and its time constants share one unit; the rule needs
the step in seconds for the rates.  ``dt=None`` takes each module's own ``dt`` as seconds
(norse's defaults are: ``dt = 0.001``, ``tau_mem_inv = 100``); give ``dt`` when the network's
unit is not the second (``dt = 1`` in milliseconds is 0.001 s).

LIFRecurrentCell and LIFRecurrent hold their own ``input_weights`` and ``recurrent_weights``;
without autapses (norse's default) the diagonal stays zero and the recurrent fan-in is n - 1.

Example::

    import torch
    from norse.torch import LIFCell, SequentialState
    from fluctinit.interop import norse as fi_norse

    net = SequentialState(torch.nn.Linear(700, 128), LIFCell())
    fi_norse.init_(net, nu=15.8, generator=torch.Generator().manual_seed(0))
"""

from __future__ import annotations

import torch
from torch import nn

from fluctinit.errors import ParameterError

from ._rule import Neuron, Projection
from ._tree import Target, Unsupported, framework_init

__all__ = ["init_", "describe", "SUPPORTED"]

SUPPORTED = "norse LIFCell, LIF, LIFRecurrentCell, LIFRecurrent, LIFBoxCell"


def _t(x) -> torch.Tensor:
    return torch.as_tensor(x).detach().double()


def _neuron(name: str, module: nn.Module, synaptic: bool) -> Neuron:
    p, dt = module.p, float(module.dt)
    g = _t(p.tau_mem_inv) * dt
    return Neuron(name=name, kind=f"norse.{type(module).__name__}",
                  alpha=1.0 - _t(p.tau_syn_inv) * dt if synaptic else 0.0, beta=1.0 - g, gain=g,
                  theta=_t(p.v_th) - _t(p.v_leak), rest=_t(p.v_leak))


def _zero_diagonal(w: torch.Tensor):
    def after() -> None:
        with torch.no_grad():
            w.fill_diagonal_(0.0)
    return after


def describe(name: str, module: nn.Module) -> Target | Unsupported | None:
    """The rule's view of a norse module (see :func:`fluctinit.interop.snntorch.describe`)."""
    from norse.torch import LIF, LIFBoxCell, LIFCell, LIFRecurrent, LIFRecurrentCell

    kind = type(module)
    if kind in (LIFCell, LIF, LIFBoxCell):
        return Target(_neuron(name, module, synaptic=kind is not LIFBoxCell), dt=float(module.dt))
    if kind in (LIFRecurrentCell, LIFRecurrent):
        w, v = module.input_weights, module.recurrent_weights
        n = int(v.shape[0])
        autapses = bool(module.autapses)
        rec = Projection(f"{name}.recurrent_weights", v, fan_in=n if autapses else n - 1,
                         after=None if autapses else _zero_diagonal(v))
        if rec.n_in() < 1:
            raise ParameterError(f"`{name}` must have at least 2 neurons for recurrence without autapses; got {n}",
                                 [name], [n])
        return Target(_neuron(name, module, synaptic=True), own=Projection(f"{name}.input_weights", w), recurrent=rec,
                      dt=float(module.dt))
    if type(module).__module__.startswith("norse.") and not any(True for _ in module.children()):
        return Unsupported(f"norse.{kind.__name__}")
    return None


init_ = framework_init(describe, SUPPORTED, """Fluctuation-driven weights for every weight layer of a norse network (in place).

    As :func:`fluctinit.interop.snntorch.init_`, for the norse neurons listed in :data:`SUPPORTED`
    (each ``nn.Linear`` / ``nn.Conv*`` feeding a cell, and the recurrent cells' own
    ``input_weights`` and ``recurrent_weights``), with norse's Euler update (module docstring):
    per neuron (``LIFParameters`` may hold one value per neuron) ``tau_mem_inv``,
    ``tau_syn_inv``, ``v_th - v_leak`` (the threshold distance, measured from ``v_leak``) and
    the module's ``dt``.

    ``init_(module, *, nu, dt=None, sigma_u=1.0, mu_u=0.0, alpha=0.9, nu_rec=None,
    keep_bias=False, skip=(), generator=None)``.
""", dt_doc=", for the rates and the reported time constants; None (default): each module's own ``dt``, "
            "read as seconds", own_dt=True)
