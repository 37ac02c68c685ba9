"""fluctinit.sim: a PyTorch simulator for current-based LIF networks (paper eqs. 10-19).

Public API:

* the neuron (:mod:`fluctinit.sim.neuron`): parameter records :class:`NeuronParams`,
  :class:`DaleParams`, :class:`ReadoutParams`, and the reference step; the layer kinds differ
  only in their projections (:mod:`fluctinit.sim.projections`).
* layer functions (:mod:`fluctinit.sim.lif`): :func:`lif_dense`, :func:`lif_conv`,
  :func:`dale_dense`, :func:`dale_conv`, :func:`readout`, :func:`lif_current`; backend choice
  :func:`set_backend`, :func:`get_backend`, :func:`use_backend`, :func:`register_backend`,
  :func:`available_backends`, :func:`dispatch` (``"fused"``, the fast core, by default;
  ``"reference"``); :func:`set_flush_denormal` (on by default: denormals are flushed to zero on
  CPU while the simulator runs; the process-wide setting is restored).
* activity (:mod:`fluctinit.sim.activity`): :func:`spike_counts`, :func:`gradient_probe`.
* surrogate (eqs. 28-29): :class:`SuperSpike`, :func:`spike`, :func:`superspike`.
* layers (``torch.nn.Module``, inputs ``(batch, time, ...)``): :class:`LIFDense`,
  :class:`LIFConv1d`, :class:`LIFConv2d`, :class:`DaleDense`, :class:`DaleConv1d`,
  :class:`DaleConv2d`, :class:`Readout`, :class:`LayerOutput`; :class:`Network`,
  :class:`NetworkOutput`.
* initializers (``torch.nn.init`` style, :mod:`fluctinit.sim.init`):
  :func:`fluctuation_normal_`, :func:`fluctuation_recurrent_`, :func:`dale_exponential_`,
  :func:`dale_lognormal_`, :func:`kaiming_normal_`, :func:`init_network_`,
  :func:`fan_in_of`, :func:`layer_kernels`.
* :class:`SensoryEncoder` (:mod:`fluctinit.sim.encoding`): the CIFAR-10 sensory encoding layer.
* inputs: :func:`poisson_spikes` (:mod:`fluctinit.sim.inputs`); :class:`SpikeEvents`
  (:mod:`fluctinit.sim.events`), event input for the fast core.  Data sets live in
  :mod:`fluctinit.datasets`.
"""

from .init import (
    dale_exponential_,
    dale_lognormal_,
    fan_in_of,
    fluctuation_normal_,
    fluctuation_recurrent_,
    init_network_,
    kaiming_normal_,
    layer_kernels,
)
from .encoding import SensoryEncoder
from .events import SpikeEvents
from .inputs import poisson_spikes
from .dale import DaleConv1d, DaleConv2d, DaleDense
from .layers import LayerOutput, LIFConv1d, LIFConv2d, LIFDense, Readout
from .activity import gradient_probe, spike_counts
from .denormal import set_flush_denormal
from .lif import (
    available_backends,
    dale_conv,
    dale_dense,
    dispatch,
    get_backend,
    lif_conv,
    lif_current,
    lif_dense,
    readout,
    register_backend,
    run_layer,
    set_backend,
    use_backend,
)
from .neuron import DaleParams, NeuronParams, ReadoutParams
from .networks import Network, NetworkOutput
from .surrogate import SuperSpike, spike, superspike

__all__ = [
    # dynamics
    "NeuronParams", "DaleParams", "ReadoutParams",
    "lif_dense", "lif_conv", "dale_dense", "dale_conv", "readout", "lif_current",
    "set_backend", "get_backend", "use_backend", "register_backend", "available_backends", "dispatch",
    "run_layer",
    "set_flush_denormal", "spike_counts", "gradient_probe",
    # surrogate
    "SuperSpike", "spike", "superspike",
    # layers and networks
    "LIFDense", "LIFConv1d", "LIFConv2d", "DaleDense", "DaleConv1d", "DaleConv2d", "Readout",
    "LayerOutput", "Network", "NetworkOutput",
    # initializers
    "fluctuation_normal_", "fluctuation_recurrent_", "dale_exponential_", "dale_lognormal_",
    "kaiming_normal_", "init_network_", "fan_in_of", "layer_kernels",
    # CIFAR-10 sensory encoding layer
    "SensoryEncoder",
    # inputs
    "poisson_spikes", "SpikeEvents",
]
