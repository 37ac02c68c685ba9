"""The trained model: an experiment config's network built from sim layers, and its initialization.

:func:`build_model` turns the ``network`` section of an experiment config into a sim
``Network`` (dense, 1-D or 2-D convolutional; plain LIF or Dale's-law layers; the CIFAR-10
sensory encoder in front), wrapped in :class:`SNNModel`, whose forward pass returns the
:class:`ModelOutput` the losses and the recording read.  :func:`initialize_model` then sets
every weight from the theory (sim's ``init_network_``: fluctuation-driven with target
``sigma_u``/``alpha``, or Kaiming) for the presynaptic rate :func:`input_rate` gives (the
config's ``init.nu``, or measured: :func:`measure_encoder_rate`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import torch

from fluctinit.errors import ParameterError
from fluctinit.theory import SILENT_RATE  # the sequential rules' floor, shared with fluctinit.interop

from .experiments import n_steps
from .losses import spike_counts

if TYPE_CHECKING:
    from fluctinit.sim.layers import LayerOutput

__all__ = [
    "ModelOutput",
    "SNNModel",
    "build_model",
    "initialize_model",
    "sequential_rates_",
    "predicted_rates",
    "calibrated_kernels_",
    "layer_statistics",
    "input_rate",
    "measure_encoder_rate",
]


@dataclass
class ModelOutput:
    """What :class:`SNNModel` returns.

    Attributes:
        readout: readout membranes ``(batch, time, n_out)`` (None when only some hidden layers ran).
        layer_spikes: per hidden layer, all its neurons' spikes flattened to
            ``(batch, time, M)`` (Dale layers: E and I populations concatenated) -- what the
            regularizers and rate measurements see.
        outputs: the tensors whose gradients are recorded as "surrogate-gradient magnitude"
            (each hidden layer's output spikes, then the readout membrane).
        encoder_spikes: the CIFAR-10 encoder's spikes, or None.
        layer_counts: per hidden layer, the spike counts ``(batch, M)`` of ``layer_spikes``
            (:func:`fluctinit.training.losses.spike_counts`: the simulator's own count where it
            made one, with the gradient through the spikes).
        layers: the network's per-layer outputs (:class:`fluctinit.sim.layers.LayerOutput`).
    """

    readout: torch.Tensor
    layer_spikes: list[torch.Tensor]
    outputs: list[torch.Tensor]
    encoder_spikes: torch.Tensor | None = None
    layer_counts: list[torch.Tensor] | None = None
    layers: list[LayerOutput] | None = None


class SNNModel(torch.nn.Module):
    """A sim ``Network`` with an optional sensory encoder in front (CIFAR-10).

    ``forward(x)``: ``x`` is ``(batch, time, *input_shape)`` spikes, or ``(batch, C, H, W)``
    images when an encoder is present; returns a :class:`ModelOutput`.
    """

    def __init__(self, network: torch.nn.Module, encoder: torch.nn.Module | None = None):
        super().__init__()
        self.encoder = encoder
        self.network = network

    def forward(self, x: torch.Tensor, *, upto: int | None = None, known: Sequence[LayerOutput] = ()) -> ModelOutput:
        """``upto`` and ``known``: :meth:`fluctinit.sim.Network.forward`'s (the first ``upto``
        hidden layers only, the readout None; outputs ``known`` from an earlier call reused)."""
        enc = None
        if self.encoder is not None:
            enc = self.encoder(x)
            x = enc
        shape = tuple(self.network.input_shape)
        if tuple(x.shape[2:]) != shape and x.dim() >= 3 and math.prod(x.shape[2:]) == math.prod(shape):
            x = x.reshape(*x.shape[:2], *shape)  # e.g. SHD (batch, time, 700) -> (batch, time, 1, 700)
        out = self.network(x, upto=upto, known=known)
        layer_spikes, layer_counts = [], []
        for rec in out.layers:
            s, c = rec.spikes.flatten(2), spike_counts(rec.spikes)
            if rec.spikes_inh is not None:
                s = torch.cat([s, rec.spikes_inh.flatten(2)], dim=2)
                c = torch.cat([c, spike_counts(rec.spikes_inh)], dim=1)
            layer_spikes.append(s)
            layer_counts.append(c)
        outputs = [rec.spikes for rec in out.layers] + [out.output]
        return ModelOutput(out.output, layer_spikes, outputs, enc, layer_counts, out.layers)

    @torch.no_grad()
    def apply_constraints_(self) -> None:
        """Dale's law: clip sign-constrained weights to >= 0 (readout and encoder untouched)."""
        self.network.apply_constraints_()


# ----------------------------------------------------------------------------- building
def build_model(
    config: dict[str, Any],
    *,
    surrogate: str | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> SNNModel:
    """Build the (uninitialized) network of an experiment config from sim layers.

    Args:
        config: a validated experiment config (:func:`~fluctinit.training.load_experiment`).
        surrogate: override ``training.surrogate`` (``"superspike"`` or ``"rescaled"``).
        generator: for the layers' default weights (overwritten by :func:`initialize_model`), then
            the encoder's parameters.
        dtype, device: of all parameters.
    """
    from fluctinit.sim.networks import Network
    from fluctinit.sim.surrogate import SuperSpike

    net, tr, data = config["network"], config["training"], config["data"]
    sur_name = surrogate or tr.get("surrogate", "superspike")
    sur = SuperSpike(beta=tr.get("beta", 20.0), rescaled=sur_name == "rescaled")
    common = dict(dt=data["dt"], theta=net.get("theta", 1.0), surrogate=sur, generator=generator, dtype=dtype,
                  device=device)
    if net["kind"] == "dense":
        encoder, input_shape = None, (net["n_in"],)
        layers = _dense_layers(net, common)
    else:
        # built first (its output channels are the first layer's input channels), drawn last
        encoder = _encoder(config, sur, dtype, device) if net.get("encoder") else None
        in_ch = net.get("in_channels", 1) if encoder is None else encoder.out_channels
        input_shape = (in_ch, *((net["n_in"],) if net["kind"] == "conv1d" else tuple(net["n_in"])))
        layers = _conv_layers(net, in_ch, common)
    network = Network(
        layers,
        net["n_out"],
        input_shape=input_shape,
        tau_out=net["tau_out"],
        tau_syn_out=net.get("tau_syn_out", net["tau_syn"]),
        dt=data["dt"],
        skip=net.get("skip", False),
        pool=bool(net.get("pool_every")),
        generator=generator,
        dtype=dtype,
        device=device,
    )
    if encoder is not None:
        encoder.reset_parameters(generator)  # after the layers: the draw order of earlier versions
    return SNNModel(network, encoder)


def _lif_kwargs(net: dict[str, Any], common: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of a plain LIF layer."""
    return dict(common, tau_mem=net["tau_mem"], tau_syn=net["tau_syn"])


def _dale_kwargs(net: dict[str, Any], common: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of a Dale's-law layer (inhibitory synapses twice as slow by default)."""
    return dict(
        common,
        tau_mem_exc=net["tau_mem"],
        tau_mem_inh=net.get("tau_mem_inh", net["tau_mem"]),
        tau_syn_exc=net["tau_syn"],
        tau_syn_inh=net.get("tau_syn_inh", 2 * net["tau_syn"]),
    )


def _dense_layers(net: dict[str, Any], common: dict[str, Any]) -> list[torch.nn.Module]:
    """The hidden layers of a dense network, in order (each draws its weights from the generator)."""
    from fluctinit.sim import DaleDense, LIFDense

    layers, prev = [], net["n_in"]
    for i, h in enumerate(net["hidden"]):
        if net.get("dale"):
            layers.append(DaleDense(prev, h, net["n_inh"][i], exc_recurrent=net.get("recurrent", True),
                                    **_dale_kwargs(net, common)))
        else:
            layers.append(LIFDense(prev, h, recurrent=net.get("recurrent", False), **_lif_kwargs(net, common)))
        prev = h
    return layers


def _conv_layers(net: dict[str, Any], in_channels: int, common: dict[str, Any]) -> list[torch.nn.Module]:
    """The hidden layers of a 1-D or 2-D convolutional network, in order."""
    from fluctinit.sim import DaleConv1d, DaleConv2d, LIFConv1d, LIFConv2d

    conv = LIFConv1d if net["kind"] == "conv1d" else LIFConv2d
    dconv = DaleConv1d if net["kind"] == "conv1d" else DaleConv2d
    layers, prev = [], in_channels
    for i, (c, k, s) in enumerate(zip(net["hidden"], net["kernel_size"], net["stride"])):
        if net.get("dale"):
            layers.append(
                dconv(prev, c, net["n_inh"][i], kernel_size=k, stride=s, padding=net.get("padding", 0),
                      exc_recurrent=net.get("recurrent", True),
                      exc_rec_kernel_size=net.get("rec_kernel_size", 5),
                      inh_rec_kernel_size=net.get("rec_kernel_size_inh", 3), **_dale_kwargs(net, common))
            )
        else:
            layers.append(
                conv(prev, c, kernel_size=k, stride=s, padding=net.get("padding", 0),
                     recurrent=net.get("recurrent", False), rec_kernel_size=net.get("rec_kernel_size", 5),
                     **_lif_kwargs(net, common))
            )
        prev = c
    return layers


def _encoder(config: dict[str, Any], surrogate, dtype, device) -> torch.nn.Module:
    """The CIFAR-10 sensory encoder of ``network.encoder`` (its parameters drawn by the caller;
    a fixed local generator for the placeholder values, never torch's global one)."""
    from fluctinit.sim.encoding import SensoryEncoder

    net, e = config["network"], config["network"]["encoder"]
    return SensoryEncoder(
        net.get("in_channels", 1), e["fan_out"], n_steps(config), dt=config["data"]["dt"],
        tau_mem=e.get("tau_mem", 0.02), tau_syn=e.get("tau_syn", 0.01), theta=e.get("theta", 1.0),
        surrogate=surrogate, generator=torch.Generator().manual_seed(0), dtype=dtype, device=device,
    )


# ----------------------------------------------------------------------------- initialization
@torch.no_grad()
def measure_encoder_rate(model: SNNModel, split, batch_size: int, n_batches: int = 4) -> float:
    """Mean firing rate (Hz) of the sensory encoder on a few training batches (paper: 14.3 Hz)."""
    dt = model.encoder.dt
    total, count = 0.0, 0
    gen = torch.Generator().manual_seed(0)
    for i, (x, _) in enumerate(split.batches(batch_size, True, gen)):
        if i >= n_batches:
            break
        s = model.encoder(x)
        total += float(s.sum())
        count += s.numel()
    return total / max(count, 1) / dt


def input_rate(config: dict[str, Any], model: SNNModel, data) -> float:
    """The presynaptic rate ``nu`` (Hz) the initialization assumes: ``config["init"]["nu"]``.

    ``"measured"`` means: the encoder's mean rate on training batches
    (:func:`measure_encoder_rate`) when the model has an encoder, else the rate the data
    loader measured (``data.nu`` of :class:`~fluctinit.training.Splits`).

    Raises:
        ParameterError: ``"measured"`` with neither an encoder nor a loader-measured rate, or a
            measured rate that is not > 0 (a silent encoder).
    """
    nu = config["init"]["nu"]
    if nu != "measured":
        return nu
    if model.encoder is not None:
        nu = measure_encoder_rate(model, data.train, config["training"]["batch_size"])
    elif data.nu is not None:
        nu = data.nu
    else:
        raise ParameterError(
            "`init.nu` must be a rate in Hz for this data set (no measurement available); got 'measured'",
            ["init.nu"], ["measured"],
        )
    if not nu > 0:
        raise ParameterError(
            f"`init.nu` measured as {nu!r} Hz (silent encoder); set a rate in Hz", ["init.nu"], [nu]
        )
    return nu


def initialize_model(
    model: SNNModel,
    config: dict[str, Any],
    nu: float,
    generator: torch.Generator,
    data=None,
) -> list[float]:
    """Initialize every layer from the theory via sim's ``init_network_`` (readout included).

    ``config["init"]``: ``method`` ("fluctuation", "kaiming" or "normal" with ``mu_w``,
    ``sigma_w``), ``sigma_u``, ``mu_u`` (hidden layers' membrane mean), ``alpha``;
    ``rates``: ``"common"`` (default) uses the same rate ``nu`` (Hz) for every layer, as the
    paper does; ``"predicted"`` the rates :func:`predicted_rates` predicts from the target with
    reset; ``"sequential"`` the rate each layer's inputs really have at initialization, measured
    layer by layer on a training batch of ``data`` (:func:`sequential_rates_`);
    ``mode``: the kernel integrals, ``"discrete"`` (default), ``"continuous"``, or
    ``"calibrated"`` (:func:`calibrated_kernels_`: each layer's from its actual inputs, layer by
    layer on a training batch; it measures the rates too).

    Returns:
        the presynaptic rate of each hidden layer and of the readout (Hz).
    """
    from fluctinit.sim.init import init_network_

    ini = config["init"]
    measured = [(key, value) for key, value in (("mode", "calibrated"), ("rates", "sequential"))
                if ini.get(key) == value]
    if measured and data is None:
        key, value = measured[0]
        raise ParameterError(f"`init.{key}` {value!r} measures the layers on the training data; got no data",
                             [f"init.{key}"], [value])
    if ini.get("mode") == "calibrated":
        return calibrated_kernels_(model, config, nu, generator, data.train)[0]
    if ini.get("rates") == "sequential":
        return sequential_rates_(model, config, nu, generator, data.train)
    if ini.get("rates") != "predicted":
        init_network_(model.network, float(nu), generator=generator, **_init_options(ini))
        return [float(nu)] * (len(model.network.hidden) + 1)
    rates = predicted_rates(model, config, nu)
    # a recurrent layer's own spikes are predicted at its own rate, the rate its successor gets
    rec_rates = [r if getattr(layer, "rec_weight", None) is not None else None
                 for layer, r in zip(model.network.hidden, rates[1:])]
    init_network_(model.network, rates, generator=generator, rec_rates=rec_rates, **_init_options(ini))
    return rates


def _init_options(ini: dict[str, Any]) -> dict[str, Any]:
    """The arguments of :func:`fluctinit.sim.init.init_network_` that ``config["init"]`` sets
    (all but the rates, the generator and the calibrated kernels)."""
    return dict(sigma_u=ini.get("sigma_u", 1.0), alpha=ini.get("alpha", 0.9), mu_u=ini.get("mu_u") or 0.0,
                method=ini["method"], mu_w=ini.get("mu_w"), sigma_w=ini.get("sigma_w"),
                kernel_mode="discrete" if ini.get("mode") in (None, "calibrated") else ini["mode"])


def predicted_rates(model: SNNModel, config: dict[str, Any], nu: float) -> list[float]:
    """The presynaptic rate of each layer predicted from the theory (``init.rates`` "predicted").

    Layer 1's inputs fire at the data's ``nu``.  Every later layer (and the readout) receives
    the previous hidden layer's spikes. That layer, initialized at its target ``(mu_u,
    sigma_u)``, is predicted to fire at the rate of :func:`fluctinit.theory.lif_stationary` (the
    discrete update's stationary state with threshold and reset to 0) for that target, with its
    own time constants, step and threshold (Dale layers: the excitatory population's).  The
    prediction assumes Poisson-like inputs; the measured :func:`sequential_rates_` is its
    reference.
    """
    ini = config["init"]
    sigma_u, mu_u = ini.get("sigma_u", 1.0), ini.get("mu_u") or 0.0
    rates = [float(nu)]
    for layer in model.network.hidden:
        p = layer.params
        tau_mem = getattr(p, "tau_mem", None) or p.tau_mem_exc
        tau_syn = getattr(p, "tau_syn", None) or p.tau_syn_exc
        rates.append(max(stationary_rate(mu_u, sigma_u, tau_mem, tau_syn, p.dt, p.theta), SILENT_RATE))
    return rates


@functools.lru_cache(maxsize=64)
def stationary_rate(mu_u: float, sigma_u: float, tau_mem: float, tau_syn: float, dt: float, theta: float) -> float:
    """:func:`fluctinit.theory.lif_stationary`'s rate (Hz), cached: a deep net's layers share it."""
    from fluctinit.theory import lif_stationary

    return lif_stationary(mu_u, sigma_u, tau_mem=tau_mem, tau_syn=tau_syn, dt=dt, theta=theta).rate


def sequential_rates_(model: SNNModel, config: dict[str, Any], nu: float, generator: torch.Generator,
                      split, batch_size: int | None = None) -> list[float]:
    """Layer-sequential initialization: each layer for the rate its inputs have (in place).

    Layer 1 is initialized for the data's rate ``nu``; then, for ``l = 1 .. L``, one forward
    pass on the first training batch (``split``, seeded order) measures hidden layer ``l``'s
    population rate at initialization, the rate layer ``l + 1`` (or the readout) is then
    initialized for.  The readout's rate is the mean rate of all its inputs (every hidden
    layer's with skip connections).  Dale layers pass on their excitatory population's rate
    (only it projects forward).  Each pass re-initializes the whole network from the same
    generator state, so the layers already calibrated keep their weights and a layer's weights
    are the common-rate draw rescaled.  A silent layer passes on :data:`SILENT_RATE`.

    Returns:
        the presynaptic rate of each hidden layer and of the readout (Hz).  Each pass runs only
        the layer being initialized, on its predecessors' outputs kept from their own pass: one
        forward simulation of the network on one batch, plus :data:`REC_PASSES` more of each
        recurrent layer.
    """
    return _sequential_(model, config, nu, generator, split, batch_size, calibrate=False)[0]


def calibrated_kernels_(model: SNNModel, config: dict[str, Any], nu: float, generator: torch.Generator,
                        split, batch_size: int | None = None) -> tuple[list[float], list[Any]]:
    """Layer-sequential initialization with each layer's data-calibrated kernel (``init.mode``
    "calibrated"; in place).

    For ``l = 1 .. L`` and the readout: the layer's actual inputs on the first training batch
    give their pooled filtered-input statistics (:func:`fluctinit.validation.layer_input_statistics`;
    convolutions: one receptive field, pooled over positions), with the layer's own time
    constants.  Their effective kernel integrals (:meth:`~fluctinit.validation.InputStatistics.kernel`)
    set the layer's weights, so that its free membrane's mean sigma_i over neurons is the target on
    those inputs.  Then a forward pass gives the next layer's inputs.  Dense, 1-d and 2-d
    convolutional layers, feed-forward or recurrent: a recurrent layer's own spikes are pooled
    with its inputs (:func:`fluctinit.validation.recurrent_kernels`), re-measured
    :data:`REC_PASSES` times.  The readout of a net with skip connections keeps the discrete
    kernel at the mean rate of its inputs.

    Returns:
        ``(rates, kernels)``: each layer's measured input rate (Hz) and the kernel integrals used.
    """
    return _sequential_(model, config, nu, generator, split, batch_size, calibrate=True)


def layer_statistics(layer, inputs: torch.Tensor, dt: float, readout: bool = False, own: torch.Tensor | None = None,
                     block: int | None = None):
    """:func:`fluctinit.validation.layer_input_statistics` of a sim layer's (or the readout's)
    inputs, with its own time constants and, for a convolution, its receptive field; a
    recurrent layer's own spikes ``own`` (its output on the same batch) after them."""
    from fluctinit.sim import LIFConv1d, LIFConv2d
    from fluctinit.validation import layer_input_statistics

    p = layer.params
    tau_mem = p.tau_out if readout else p.tau_mem
    conv = {}
    if not readout and isinstance(layer, (LIFConv1d, LIFConv2d)):
        conv = dict(kernel_size=layer.kernel_size, stride=layer.stride, padding=layer.padding,
                    rec_kernel_size=layer.rec_kernel_size)
    return layer_input_statistics(inputs, dt=dt, tau_mem=tau_mem, tau_syn=p.tau_syn, own=own, block=block, **conv)


def free_sigma(layer, inputs: torch.Tensor, spikes: torch.Tensor, dt: float, block: int | None = None):
    """Each neuron's exact pooled free-membrane ``(mu_i, sigma_i)`` given the layer's actual
    inputs (and, for a recurrent layer, its own ``spikes``): ``w'm`` and ``sqrt(w'Cw)`` of
    :func:`layer_statistics`, with ``w = concat(W, V)``.  Feed-forward and recurrent LIF layers.
    With ``block`` (steps): ``(mu_i, sigma_fast_i, sigma_slow_i)``
    (:meth:`~fluctinit.validation.InputStatistics.split_moments`)."""
    rec = getattr(layer, "rec_weight", None)
    st = layer_statistics(layer, inputs, dt, own=None if rec is None else spikes, block=block)
    w = layer.weight.detach().double().flatten(1)
    if rec is not None:
        w = torch.cat([w, rec.detach().double().flatten(1)], 1)
    w = w.cpu().numpy()
    return st.moments(w) if block is None else st.split_moments(w)


def layer_free_membrane(layer, inputs: torch.Tensor, own: torch.Tensor | None = None) -> torch.Tensor:
    """A LIF layer's free membrane (no threshold, no reset: eqs. 10-11 linear) on its actual
    ``inputs`` and, for a recurrent layer, its own spikes ``own`` through its recurrent weights
    (they enter the current at the same step): ``(batch, time, *out_shape)``."""
    from fluctinit.sim import LIFConv1d, LIFConv2d, NeuronParams, lif_conv, lif_dense

    p = layer.params
    free = NeuronParams(p.tau_mem, p.tau_syn, p.dt, p.theta, "free")
    rec = getattr(layer, "rec_weight", None)
    with torch.no_grad():
        if isinstance(layer, (LIFConv1d, LIFConv2d)):
            u = lif_conv(inputs, layer.weight, None, stride=layer.stride, padding=layer.padding, params=free)[1]
            if rec is not None:
                pad = tuple(k // 2 for k in layer.rec_kernel_size)
                u = u + lif_conv(own, rec, None, stride=1, padding=pad, params=free)[1]
        else:
            u = lif_dense(inputs.reshape(*inputs.shape[:2], -1), layer.weight, params=free)[1]
            if rec is not None:
                u = u + lif_dense(own, rec, params=free)[1]
    return u


#: forward passes that re-measure a recurrent layer's own spikes: its recurrent weights depend on
#: their rate (and, calibrated, their statistics), which depend on the weights
REC_PASSES = 2


def _sequential_(model: SNNModel, config: dict[str, Any], nu: float, generator: torch.Generator, split,
                 batch_size: int | None, calibrate: bool) -> tuple[list[float], list[Any]]:
    from fluctinit.sim.init import init_network_
    from fluctinit.sim.events import SpikeEvents
    from fluctinit.validation import recurrent_kernels

    ini = config["init"]
    dt = config["data"]["dt"]
    net = model.network
    n_hidden = len(net.hidden)
    bs = int(batch_size or config["training"]["batch_size"])
    x, _ = next(iter(split.batches(bs, True, torch.Generator().manual_seed(0))))
    dense = x
    if isinstance(x, SpikeEvents):  # event-form batches: the model takes them as they are
        dense = x.to_dense().transpose(0, 1)  # (time, batch, n) -> (batch, time, n)
    else:
        x = dense = x.to(next(model.parameters()).device)
    state = generator.get_state()
    rates = [float(nu)] * (n_hidden + 1)
    kernels: list[Any] = [None] * (n_hidden + 1)
    recurrent = [getattr(layer, "rec_weight", None) is not None for layer in net.hidden]
    # a recurrent layer's own spikes, until measured, at its predicted rate
    guess = predicted_rates(model, config, nu)[1:] if any(recurrent) else [None] * n_hidden
    rec_rates: list[float | None] = [p if r else None for p, r in zip(guess, recurrent)]
    rec_kernels: list[Any] = [None] * n_hidden
    skip = bool(config["network"].get("skip"))
    alpha = ini.get("alpha", 0.9)
    out = None
    done: list = []  # the finished layers' outputs on the batch: their weights no longer change

    def init_and_run(upto: int):
        """Re-initialize the network and run it through hidden layer ``upto`` (the finished
        layers' outputs reused: each pass re-draws from the same generator state)."""
        generator.set_state(state)
        init_network_(net, rates, generator=generator, kernels=kernels, rec_rates=rec_rates,
                      rec_kernels=rec_kernels, **_init_options(ini))
        if upto == n_hidden:
            return None
        with torch.no_grad():
            return model(x, upto=upto + 1, known=done)

    def layer_inputs(layer: int):
        if layer == 0:
            with torch.no_grad():
                inputs = dense if model.encoder is None else model.encoder(dense)
            return inputs.reshape(*inputs.shape[:2], *tuple(net.input_shape))
        return net.passed_on(layer - 1, out.outputs[layer - 1])

    for layer in range(n_hidden + 1):
        # the layer's inputs do not change while it is re-initialized (earlier layers keep their weights)
        inputs = layer_inputs(layer) if calibrate and not (layer == n_hidden and skip) else None
        if inputs is not None:
            rate = max(float(inputs.float().mean()) / dt, SILENT_RATE)
            target = net.readout if layer == n_hidden else net.hidden[layer]
            kernels[layer] = layer_statistics(target, inputs, dt, layer == n_hidden).kernel(rate)
            rates[layer] = rate
        out = init_and_run(layer)
        if layer == n_hidden:
            break
        for _ in range(REC_PASSES if recurrent[layer] else 0):  # the layer's own spikes, re-measured
            own = out.outputs[layer]
            rec_rates[layer] = max(float(own.float().mean()) / dt, SILENT_RATE)
            if calibrate:
                st = layer_statistics(net.hidden[layer], inputs, dt, own=own)
                kernels[layer], rec_kernels[layer] = recurrent_kernels(st, net.hidden[layer].fan_in, rates[layer],
                                                                       rec_rates[layer], alpha)
            out = init_and_run(layer)
        done.append(out.layers[layer])
        spikes = out.outputs[:-1]  # each hidden layer's forward-projecting spikes, up to this one
        if layer == n_hidden - 1 and skip:
            total = sum(float(s.sum()) for s in spikes)
            count = sum(s.numel() for s in spikes)
            measured = total / max(count, 1) / dt
        else:
            measured = float(net.passed_on(layer, spikes[layer]).float().mean()) / dt
        for k in range(layer + 1, n_hidden + 1):  # until measured, later layers assume this rate
            rates[k] = max(measured, SILENT_RATE)
    return rates, kernels
