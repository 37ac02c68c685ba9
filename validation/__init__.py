"""fluctinit.validation: membrane statistics, the theory set against simulation (figure 2, S2).

A population of ``n_neurons`` postsynaptic neurons, each with an independent draw of its
incoming weights from an initializer, receives a data set (stationary Poisson/Bernoulli
spikes, Randman, SHD or FSDD through SHD's cochlear model) in free-membrane mode (no threshold, no reset); the measured
per-neuron mean and standard deviation of ``U`` are set against the target and against the
theory's per-neuron prediction for the drawn weights (paper eqs. 2-3).

* data (:mod:`.sources`): :class:`SpikeSource`, :func:`poisson_source`, :func:`tensor_source`,
  :func:`dataset_source`, :func:`shd_source` (SHD, or FSDD with ``dataset="fsdd"``),
  :func:`randman_source`, :func:`measure_rates`, :data:`SHD_HELP`, :data:`SPIKE_FILES` (:class:`SpikeFileData`);
* populations (:mod:`.population`): :class:`Channel`, :class:`NeuronPopulation`,
  :func:`draw_population`, :func:`predicted_moments`, :func:`generated_inputs`, :func:`check_target`, :data:`INITIALIZERS`;
* calibration (:mod:`.calibrate`): :func:`input_statistics`, :func:`layer_input_statistics`, :func:`recurrent_kernels`, :class:`InputStatistics` (the
  data's pooled filtered-input mean and covariance: the exact kernel terms of ``mode="calibrated"``);
* measurement (:mod:`.measure`): :func:`free_membrane`, :func:`burn_in_steps`,
  :func:`init_burn_in_steps`, :func:`measure_membrane`, :class:`MembraneMeasurement`;
* reports (:mod:`.report`): :func:`sweep`, :func:`validate`, :class:`MembraneReport`,
  :func:`write_table_atomic`, :func:`write_histograms_atomic`, :data:`TABLE_COLUMNS`;
* resources (:mod:`.resources`): :func:`sweep_bytes`, :func:`available_memory`,
  :func:`check_resources` (memory and work of a run, checked before it allocates);
* :data:`CONSTRAINTS`: every parameter's valid range, one table (:mod:`._constraints`), with
  :data:`SPIKE_FILE_DATA` (the data sets read from SHD-layout files),
  :data:`FLOAT32_WEIGHTS` (the weight scales the float32 simulation keeps) and
  :data:`CHUNK_ELEMENTS` (membrane values simulated at once).

Kept import-light: importing this package does not import torch; each name is imported from
its module on first use (PEP 562 module ``__getattr__``).
"""

from __future__ import annotations

from fluctinit._lazy import lazy_exports

# public name -> the module (in this package) that defines it
_EXPORTS: dict[str, str] = {
    "CONSTRAINTS": "_constraints",
    "INITIALIZERS": "_constraints",
    "SPIKE_FILE_DATA": "_constraints",
    "FLOAT32_WEIGHTS": "_constraints",
    "CHUNK_ELEMENTS": "_constraints",
    "SpikeSource": "sources",
    "poisson_source": "sources",
    "tensor_source": "sources",
    "dataset_source": "sources",
    "shd_source": "sources",
    "randman_source": "sources",
    "measure_rates": "sources",
    "SHD_HELP": "sources",
    "SPIKE_FILES": "sources",
    "SpikeFileData": "sources",
    "Channel": "population",
    "NeuronPopulation": "population",
    "draw_population": "population",
    "predicted_moments": "population",
    "generated_inputs": "population",
    "check_target": "population",
    "InputStatistics": "calibrate",
    "input_statistics": "calibrate",
    "layer_input_statistics": "calibrate",
    "recurrent_kernels": "calibrate",
    "MembraneMeasurement": "measure",
    "measure_membrane": "measure",
    "free_membrane": "measure",
    "burn_in_steps": "measure",
    "init_burn_in_steps": "measure",
    "MembraneReport": "report",
    "sweep": "report",
    "validate": "report",
    "TABLE_COLUMNS": "report",
    "write_table_atomic": "report",
    "write_histograms_atomic": "report",
    "sweep_bytes": "resources",
    "available_memory": "resources",
    "check_resources": "resources",
    "chunk_samples": "resources",
    "kernel_steps": "resources",
    "MAX_UPDATES": "resources",
    "MAX_KERNEL_STEPS": "resources",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
