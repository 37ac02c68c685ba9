"""Dale's-law layers as ``torch.nn.Module`` s (paper eqs. 12-19): excitatory and inhibitory
populations with non-negative weights.

As every layer of :mod:`fluctinit.sim.layers`, each module holds its weights and parameters and
calls one layer function of :mod:`fluctinit.sim.lif` (``dale_dense``, ``dale_conv``) through the
backend dispatch.  What a Dale layer passes on is its excitatory population; the inhibitory one
is returned as ``LayerOutput.spikes_inh`` / ``membrane_inh``.  Default weights are the folded
Kaiming ``|N(0, 2/fan_in)|``; :mod:`fluctinit.sim.init` has the paper's initializations.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from fluctinit.errors import check

from .layers import _SIZE, LayerOutput, _kaiming, _Layer, _odd, _options
from .neuron import DaleParams

__all__ = ["DaleDense", "DaleConv1d", "DaleConv2d"]


class _DaleBase(_Layer):
    """Shared code of the Dale's-law layers: parameters, constraints, fan-ins."""

    def _setup_dale(self, times: tuple, options: dict, sizes: tuple, kernels: tuple, exc_recurrent: bool) -> None:
        """Parameters, options and weights of a Dale layer.

        ``times``: ``(tau_mem_exc, tau_mem_inh, tau_syn_exc, tau_syn_inh, dt)``; ``sizes``:
        ``(e, i, n)`` excitatory, inhibitory and input units (or channels); ``kernels``:
        ``(k_ff, k_exc, k_inh)`` kernel sizes, empty for dense layers.  The six weights:
        feed-forward ``w_fe (e, n, *k_ff)``, ``w_fi (i, n, *k_ff)``; inhibitory
        ``w_ie (e, i, *k_inh)``, ``w_ii (i, i, *k_inh)``; excitatory recurrent
        ``w_re (e, e, *k_exc)``, ``w_ri (i, e, *k_exc)`` (None without ``exc_recurrent``).
        """
        opt = _options(options)
        tau_mem_exc, tau_mem_inh, tau_syn_exc, tau_syn_inh, dt = times
        params = DaleParams(tau_mem_exc=tau_mem_exc, tau_mem_inh=tau_mem_inh, tau_syn_exc=tau_syn_exc,
                            tau_syn_inh=tau_syn_inh, dt=dt, theta=opt["theta"], mode=opt["mode"])
        self._setup(params, opt["surrogate"], opt["backend"])
        (e, i, n), (k_ff, k_exc, k_inh) = sizes, kernels
        empty = lambda *shape: nn.Parameter(torch.empty(*shape, dtype=opt["dtype"], device=opt["device"]))  # noqa: E731
        self.w_fe, self.w_fi = empty(e, n, *k_ff), empty(i, n, *k_ff)
        self.w_ie, self.w_ii = empty(e, i, *k_inh), empty(i, i, *k_inh)
        self.w_re = empty(e, e, *k_exc) if exc_recurrent else None
        self.w_ri = empty(i, e, *k_exc) if exc_recurrent else None
        self.reset_parameters(opt["generator"])

    @property
    def exc_recurrent(self) -> bool:
        """Whether the layer has E -> E and E -> I weights."""
        return self.w_re is not None

    def dale_weights(self) -> dict[str, torch.Tensor]:
        """The sign-constrained weights by name (``w_fe, w_fi, w_ie, w_ii[, w_re, w_ri]``)."""
        names = ["w_fe", "w_fi", "w_ie", "w_ii"] + (["w_re", "w_ri"] if self.exc_recurrent else [])
        return {n: getattr(self, n) for n in names}

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Folded Kaiming weights ``|N(0, 2/fan_in)|`` (non-negative), a neutral default."""
        for w in self.dale_weights().values():
            _kaiming(w, generator, folded=True)

    @torch.no_grad()
    def apply_constraints_(self) -> None:
        """Clamp every Dale weight to >= 0 in place (call after each optimizer step).

        The forward pass also uses ``clamp(min=0)`` of the weights, so Dale's
        law holds in the dynamics even between projections.
        """
        for w in self.dale_weights().values():
            w.clamp_(min=0.0)

    def _clamped(self) -> list[torch.Tensor | None]:
        out = [getattr(self, n).clamp(min=0.0) for n in ("w_fe", "w_fi", "w_ie", "w_ii")]
        if self.exc_recurrent:
            out += [self.w_re.clamp(min=0.0), self.w_ri.clamp(min=0.0)]
        else:
            out += [None, None]
        return out


class DaleDense(_DaleBase):
    """Fully connected Dale's-law layer (eqs. 12-19): E and I populations.

    Both populations receive the excitatory spikes of the previous layer
    (``w_fe (n_exc, n_in)``, ``w_fi (n_inh, n_in)``) and inhibition
    (``w_ie (n_exc, n_inh)``, ``w_ii (n_inh, n_inh)``); with ``exc_recurrent``
    also recurrent excitation (``w_re (n_exc, n_exc)``, ``w_ri (n_inh, n_exc)``).
    All these weights are non-negative (see :meth:`apply_constraints_`).

    Args:
        n_in, n_exc, n_inh: sizes (paper: 128 exc / 32 inh).
        exc_recurrent: include E -> E and E -> I (default True: the paper's Dale nets are fully recurrent).
        tau_mem_exc, tau_mem_inh, tau_syn_exc, tau_syn_inh, dt: time constants (s), table 3.
        theta, mode, surrogate, backend, generator, dtype, device: as :class:`LIFDense`.

    Shapes: input ``(batch, time, n_in)``; output :class:`LayerOutput` with
    ``spikes``/``membrane`` ``(batch, time, n_exc)`` (E, passed on) and
    ``spikes_inh``/``membrane_inh`` ``(batch, time, n_inh)``.
    """

    def __init__(
        self,
        n_in: int,
        n_exc: int,
        n_inh: int,
        *,
        exc_recurrent: bool = True,
        tau_mem_exc: float = 20e-3,
        tau_mem_inh: float = 20e-3,
        tau_syn_exc: float = 10e-3,
        tau_syn_inh: float = 20e-3,
        dt: float = 2e-3,
        **options,
    ) -> None:
        super().__init__()
        self.n_in = check("n_in", n_in, _SIZE)
        self.n_exc = check("n_exc", n_exc, _SIZE)
        self.n_inh = check("n_inh", n_inh, _SIZE)
        self._setup_dale((tau_mem_exc, tau_mem_inh, tau_syn_exc, tau_syn_inh, dt), options,
                         (self.n_exc, self.n_inh, self.n_in), ((), (), ()), exc_recurrent)

    @property
    def n_out(self) -> int:
        """Size of the population passed on (the excitatory one)."""
        return self.n_exc

    @property
    def fan_in(self) -> int:
        """Feed-forward excitatory inputs per neuron (``N_F``)."""
        return self.n_in

    @property
    def fan_in_inh(self) -> int:
        """Inhibitory inputs per neuron (``N_I``)."""
        return self.n_inh

    @property
    def fan_in_rec(self) -> int | None:
        """Recurrent excitatory inputs per neuron (``N_R``), None without excitatory recurrence."""
        return self.n_exc if self.exc_recurrent else None

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """``(n_exc,)`` -- the shape of what is passed on."""
        return self._dense_output_shape(input_shape)

    def forward(self, x: torch.Tensor) -> LayerOutput:
        s_e, u_e, s_i, u_i = self._op("dale_dense")(x, *self._clamped(), params=self.params, surrogate=self.surrogate)
        return LayerOutput(s_e, u_e, s_i, u_i)

    def extra_repr(self) -> str:
        return f"n_in={self.n_in}, n_exc={self.n_exc}, n_inh={self.n_inh}, exc_recurrent={self.exc_recurrent}"


class _DaleConv(_DaleBase):
    _nd: int = 1

    def __init__(
        self,
        in_channels: int,
        exc_channels: int,
        inh_channels: int,
        kernel_size,
        stride,
        padding,
        *,
        exc_recurrent: bool = True,
        exc_rec_kernel_size=5,
        inh_rec_kernel_size=3,
        tau_mem_exc: float = 20e-3,
        tau_mem_inh: float = 20e-3,
        tau_syn_exc: float = 10e-3,
        tau_syn_inh: float = 20e-3,
        dt: float = 2e-3,
        **options,
    ) -> None:
        super().__init__()
        nd = self._nd
        self._setup_conv(in_channels, kernel_size, stride, padding)
        self.exc_channels = check("exc_channels", exc_channels, _SIZE)
        self.inh_channels = check("inh_channels", inh_channels, _SIZE)
        self.exc_rec_kernel_size = _odd("exc_rec_kernel_size", exc_rec_kernel_size, nd)
        self.inh_rec_kernel_size = _odd("inh_rec_kernel_size", inh_rec_kernel_size, nd)
        self._setup_dale((tau_mem_exc, tau_mem_inh, tau_syn_exc, tau_syn_inh, dt), options,
                         (self.exc_channels, self.inh_channels, self.in_channels),
                         (self.kernel_size, self.exc_rec_kernel_size, self.inh_rec_kernel_size), exc_recurrent)

    @property
    def out_channels(self) -> int:
        """Channels passed on (the excitatory population)."""
        return self.exc_channels

    @property
    def fan_in(self) -> int:
        """Feed-forward inputs per neuron: ``in_channels * prod(kernel_size)``."""
        return self._conv_fan_in()

    @property
    def fan_in_inh(self) -> int:
        """Inhibitory inputs per neuron: ``inh_channels * prod(inh_rec_kernel_size)``."""
        return self.inh_channels * math.prod(self.inh_rec_kernel_size)

    @property
    def fan_in_rec(self) -> int | None:
        """Recurrent excitatory inputs per neuron: ``exc_channels * prod(exc_rec_kernel_size)``."""
        return self.exc_channels * math.prod(self.exc_rec_kernel_size) if self.exc_recurrent else None

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """``(exc_channels, *spatial_out)`` -- what is passed on -- for ``(in_channels, *spatial)``."""
        return self._conv_output_shape(input_shape)

    def forward(self, x: torch.Tensor) -> LayerOutput:
        s_e, u_e, s_i, u_i = self._op("dale_conv")(
            x, *self._clamped(), stride=self.stride, padding=self.padding,
            params=self.params, surrogate=self.surrogate,
        )
        return LayerOutput(s_e, u_e, s_i, u_i)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, exc={self.exc_channels}, inh={self.inh_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, exc_recurrent={self.exc_recurrent}"
        )


class DaleConv1d(_DaleConv):
    """1-D convolutional Dale's-law layer (eqs. 12-19 with convolutions).

    Feed-forward kernels as table 5 (default 5 / stride 2 / padding 2) from the
    previous excitatory channels to both populations; recurrent E -> E and
    E -> I kernels 5, I -> I and I -> E kernels 3, stride 1, 'same' padding.
    Input ``(batch, time, in_channels, L)``; outputs ``(batch, time, exc_channels, L_out)``
    (E) and ``(batch, time, inh_channels, L_out)`` (I).  Other arguments as :class:`DaleDense`.
    """

    _nd = 1

    def __init__(self, in_channels: int, exc_channels: int, inh_channels: int,
                 kernel_size=5, stride=2, padding=2, **kwargs) -> None:
        super().__init__(in_channels, exc_channels, inh_channels, kernel_size, stride, padding, **kwargs)


class DaleConv2d(_DaleConv):
    """2-D convolutional Dale's-law layer; feed-forward defaults of table 6 (3x3, stride 1, padding 2),
    recurrent kernels 5x5 (E -> E, E -> I) and 3x3 (I -> I, I -> E)."""

    _nd = 2

    def __init__(self, in_channels: int, exc_channels: int, inh_channels: int,
                 kernel_size=3, stride=1, padding=2, **kwargs) -> None:
        super().__init__(in_channels, exc_channels, inh_channels, kernel_size, stride, padding, **kwargs)
