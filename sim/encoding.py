"""Sensory encoding layer for static images (the paper's CIFAR-10 set-up, section 4.1).

Each input channel is repeated ``fan_out`` times (3 -> 15 channels for CIFAR-10 with
``fan_out = 5``).  Encoding channel ``k`` (copy of input channel ``k // fan_out``) has one gain
``g_k`` and one bias ``b_k``, tied across height and width (weights of shape
``(C * fan_out, 1, 1)``).  Every encoder is a LIF neuron (paper eqs. 10-11) driven by the
weighted pixel value as a constant input at every step:

.. math::

    c_{k,y,x} &= g_k \\, x_{k // f, y, x} + b_k \\\\
    I[n+1]    &= \\lambda_{syn} I[n] + c \\\\
    U[n+1]    &= (\\lambda_{mem} U[n] + (1 - \\lambda_{mem}) I[n]) (1 - S[n]) ,
    \\qquad S[n] = \\Theta(U[n] - \\theta)

so the synaptic current relaxes to ``c / (1 - lambda_syn)`` and the encoder fires regularly
when that exceeds ``theta``.  The spike nonlinearity uses the same surrogate as the hidden
layers (SuperSpike, eq. 28, or its rescaled form, eq. 29), so gains and biases are trained end
to end.

Initialization (section 4.1; the encoder is *not* subject to the fluctuation-driven rule):
``g ~ N(0, (dt / (tau_syn sqrt(n_in)))^2)`` with ``n_in = 1`` (each encoder sees one pixel
value; with this choice the steady-state current ``g x / (1 - lambda_syn) ~ g x tau_syn/dt`` has
unit scale for ``|x| = 1``) and ``b ~ N(0, 1/n_enc)`` with ``n_enc = C * fan_out`` (the number of
encoding channels, i.e. of distinct biases).  The paper states the two standard deviations but
not what ``n_{l-1}`` and ``n_enc`` count; these readings are our choice.  A check of the
choice: on uniform random pixels in [-1, 1] and T = 50 steps (100 ms), five seeds of this
initialization give mean encoder rates of 3-21 Hz (about 10 Hz on average), the same order as
the 14.3 Hz the paper measured on CIFAR-10 at initialization.
"""

from __future__ import annotations

import math

import torch

from fluctinit.errors import Integer, Interval, ParameterError, check_all

from .surrogate import SuperSpike

__all__ = ["SensoryEncoder", "CONSTRAINTS"]

CONSTRAINTS = {
    "in_channels": Integer(1),
    "fan_out": Integer(1),
    "n_steps": Integer(1),
    "dt": Interval(0.0, None, "neither"),
    "tau_mem": Interval(0.0, None, "neither"),
    "tau_syn": Interval(0.0, None, "neither"),
    "theta": Interval(0.0, None, "neither"),
}


class SensoryEncoder(torch.nn.Module):
    """LIF encoders turning static images into spike trains (paper section 4.1).

    Args:
        in_channels: image channels ``C`` (3 for CIFAR-10).
        fan_out: encoders per channel (5 in the paper).
        n_steps: number of time steps ``T_data / dt`` (50 for 100 ms at 2 ms).
        dt, tau_mem, tau_syn: time step and time constants in seconds.
        theta: firing threshold.
        surrogate: the spike non-linearity (:class:`~fluctinit.sim.surrogate.SuperSpike`, eq. 28 or
            its rescaled form, eq. 29).
        generator: for the initial gain and bias (``None``: torch's default generator).
        dtype, device: of the parameters.

    Shapes: input ``(batch, C, H, W)`` (pixel values, the paper normalizes to [-1, 1]);
    output spikes ``(batch, n_steps, C * fan_out, H, W)``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        fan_out: int = 5,
        n_steps: int = 50,
        *,
        dt: float = 2e-3,
        tau_mem: float = 20e-3,
        tau_syn: float = 10e-3,
        theta: float = 1.0,
        surrogate: SuperSpike = SuperSpike(),
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ):
        super().__init__()
        v = check_all(
            CONSTRAINTS,
            in_channels=in_channels,
            fan_out=fan_out,
            n_steps=n_steps,
            dt=dt,
            tau_mem=tau_mem,
            tau_syn=tau_syn,
            theta=theta,
        )
        if not isinstance(surrogate, SuperSpike):
            raise ParameterError(f"`surrogate` must be a SuperSpike; got {surrogate!r}", ["surrogate"], [surrogate])
        self.in_channels, self.fan_out, self.n_steps = v["in_channels"], v["fan_out"], v["n_steps"]
        self.dt, self.tau_mem, self.tau_syn, self.theta = v["dt"], v["tau_mem"], v["tau_syn"], v["theta"]
        self.surrogate = surrogate
        n_enc = self.in_channels * self.fan_out
        self.gain = torch.nn.Parameter(torch.empty(n_enc, 1, 1, dtype=dtype, device=device))
        self.bias = torch.nn.Parameter(torch.empty(n_enc, 1, 1, dtype=dtype, device=device))
        self.reset_parameters(generator)

    @property
    def out_channels(self) -> int:
        return self.in_channels * self.fan_out

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw gain ~ N(0, (dt/(tau_syn*sqrt(1)))^2) and bias ~ N(0, 1/n_enc) (section 4.1)."""
        with torch.no_grad():
            self.gain.normal_(0.0, self.dt / self.tau_syn, generator=generator)
            self.bias.normal_(0.0, 1.0 / math.sqrt(self.out_channels), generator=generator)

    def currents(self, images: torch.Tensor) -> torch.Tensor:
        """Constant input ``c = g x + b`` of every encoder, shape ``(batch, C*fan_out, H, W)``."""
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != self.in_channels:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ParameterError(
                f"`images` must be a tensor of shape (batch, {self.in_channels}, H, W); got {shape!r}",
                ["images"],
                [shape],
            )
        x = images.to(self.gain.dtype).repeat_interleave(self.fan_out, dim=1)
        return self.gain * x + self.bias

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Encode images into spikes ``(batch, n_steps, C*fan_out, H, W)``: LIF neurons
        (eqs. 10-11) driven by the constant current ``c`` (an expanded view over time)."""
        from .lif import dispatch
        from .neuron import NeuronParams

        c = self.currents(images)
        drive = c.unsqueeze(1).expand(c.shape[0], self.n_steps, *c.shape[1:])
        params = NeuronParams(tau_mem=self.tau_mem, tau_syn=self.tau_syn, dt=self.dt, theta=self.theta)
        s, _ = dispatch("lif_current")(drive, params=params, surrogate=self.surrogate)
        return s
