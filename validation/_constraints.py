"""The parameters of :mod:`fluctinit.validation` and their valid ranges, kept as data.

One table for the whole subpackage (sources, populations, measurement, sweeps), so that one
property test can push every parameter out of range (STYLE practice 4).  No torch here.
"""

from __future__ import annotations

from typing import Any

from fluctinit.errors import Integer, Interval, OneOf

__all__ = ["INITIALIZERS", "SPIKE_FILE_DATA", "CONSTRAINTS", "FLOAT32_WEIGHTS", "CHUNK_ELEMENTS"]

#: the initializers a population's weights can be drawn from (see ``draw_population``)
INITIALIZERS = ("feedforward", "recurrent", "dale-exponential", "dale-lognormal")
#: the data sets read from a file in SHD's HDF5 layout (see ``shd_source``): SHD, and FSDD
#: through SHD's cochlear model (not SHD)
SPIKE_FILE_DATA = ("shd", "fsdd")

_POS = Interval(0.0, None, "neither")
_FINITE = Interval()

#: The simulation runs in float32 and sums ``U**2`` in float32 chunks: membrane targets up to
#: 1e12 threshold units (``U**2`` summed over a chunk stays below 3.4e38) and weight scales
#: (std, or mean for Dale's law) in this range keep every value normal and every sum finite.
FLOAT32_WEIGHTS = (1e-15, 1e15)
_TARGET = 1e12

#: ``batch x time x neurons`` values of ``U`` simulated at once (measure_membrane's chunks)
CHUNK_ELEMENTS = 2**23

#: constraints of the public functions' parameters (one table, so tests can push each out of range)
CONSTRAINTS: dict[str, Any] = {
    "tau_mem": _POS,
    "tau_syn": _POS,
    "tau_syn_inh": _POS,
    "dt": _POS,
    "duration": _POS,
    "sigma_u": Interval(0.0, _TARGET, "right"),
    "mu_u": Interval(-_TARGET, _TARGET, "both"),
    "xi": _POS,
    "theta": _FINITE,
    "nu": _POS,
    "nu_rec": _POS,
    "nu_inh": _POS,
    "alpha": Interval(0.0, 1.0, "neither"),
    "sigma_log": _POS,
    "n_neurons": Integer(1),
    "fan_in": Integer(1),
    "fan_in_rec": Integer(1),
    "n_inh": Integer(1),
    "trials": Integer(1),
    "batch_size": Integer(1),
    "max_samples": Integer(1),
    "hist_neurons": Integer(0),
    "hist_bins": Integer(2),
    "hist_width": _POS,
    "burn_tol": Interval(0.0, 1.0, "neither"),
    "mode": OneOf(("discrete", "continuous", "calibrated")),
    "poisson_mode": OneOf(("bernoulli", "count")),
    "init": OneOf(INITIALIZERS),
    "dataset": OneOf(SPIKE_FILE_DATA),
}
