"""fluctinit.interop: the fluctuation-driven rule for snntorch, norse, spikingjelly and NIR networks.

Each framework's neurons run their own discrete update (NIR's are continuous), and the rule
must use that update's kernel, not the paper's (docs/interop.md has each mapping and the
membrane statistics measured in each framework's own simulator):

* :mod:`fluctinit.interop.snntorch` -- ``init_(module, *, nu, dt, ...)``: Synaptic, Leaky, RSynaptic, RLeaky;
* :mod:`fluctinit.interop.norse` -- ``init_(module, *, nu, dt=None, ...)``: LIFCell, LIF, LIFRecurrentCell,
  LIFRecurrent, LIFBoxCell;
* :mod:`fluctinit.interop.spikingjelly` -- ``init_(module, *, nu, dt, ...)``: LIFNode, CUBALIFNode;
* :mod:`fluctinit.interop.nir` -- ``init_(graph, *, nu, dt, spike_area=None, ...)``: a new NIRGraph whose
  Affine, Linear and Conv weights feeding CubaLIF or LIF nodes follow the rule (``fluctinit init-nir``).

:func:`sequential_init_` (``framework``, ``module``, ``run``, ``nu=...``) initializes an snntorch, norse or
spikingjelly network layer by layer for the rates its layers' inputs really have, measured by
running the user's batch through it (beyond the paper; fluctinit's own ``init.rates =
"sequential"``).

The shared pieces: :class:`LayerReport` (what each layer got), :func:`discrete_kernel` (the
kernel integrals of ``c <- alpha c + x``, ``v <- beta v + gain c``), :func:`continuous_kernel`
(NIR's), :func:`effective_tau`.  The frameworks are optional (``pip install fluctinit[interop]``
plus ``--no-deps`` installs, see README.md) and imported only by their own module; importing
this package imports none of them.
"""

from __future__ import annotations

from fluctinit._lazy import lazy_exports

#: public name -> the module (in this package) that defines it, or (module, None): the module itself
_EXPORTS: dict[str, str | tuple[str, None]] = {
    "LayerReport": "_rule",
    "discrete_kernel": "_rule",
    "continuous_kernel": "_rule",
    "effective_tau": "_rule",
    "sequential_init_": "_sequential",
    "snntorch": ("snntorch", None),
    "norse": ("norse", None),
    "spikingjelly": ("spikingjelly", None),
    "nir": ("nir", None),
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
