"""fluctinit.theory: kernel integrals and closed-form initialization parameters.

Pure calculators on floats and numpy arrays (never imports torch).  Units are SI: time
constants and kernel integrals in seconds, rates in Hz, membrane quantities in the units
of the threshold theta (default 1).

Kernel integrals (eqs. 2-3, supplementary S1):
    :func:`kernel_integrals`, :func:`epsilon_bar`, :func:`epsilon_hat`,
    :func:`numeric_kernel_integrals`, :func:`psp_kernel`, :func:`psp_kernel_continuous`
Forward map, weights -> membrane moments (eqs. 2-5, 35-36, 40-43, 48-49):
    :func:`membrane_moments`, :func:`membrane_moments_from_weights`,
    :func:`population_moments`, :class:`Population`, :func:`bernoulli_variance_factor`
Inverse maps, membrane target -> weight parameters (:func:`resolve_target` checks a target alone):
    :func:`feedforward_params` (eqs. 6-9), :func:`recurrent_params` (eqs. 34-39),
    :func:`dale_params` (eqs. 42-55, exponential; log-normal derived here),
    :func:`kaiming_params` (eq. 56)
With threshold and reset (beyond the paper; :mod:`fluctinit.theory.rates`):
    :func:`lif_rate` (Siegert with the colored-noise correction), :func:`lif_stationary` (the discrete
    update's stationary state with reset, on a grid), :func:`adiabatic_rate` (fast fluctuations
    about a slowly drifting mean), :func:`lif_membrane_moments`,
    :func:`lif_reset_mean`; without reset: :func:`upcrossing_rate`, :func:`rice_rate`,
    :func:`lag_correlation`
Errors: :class:`fluctinit.errors.ParameterError` (a ValueError) with one grammar,
    "`name` must be <constraint>; got <value>".  Finite arguments whose result (or an
    intermediate quantity) leaves the float range raise it too, naming every numeric argument
    with its value: never an OverflowError, an inf or a nan (``theory._finite``).
The sympy derivations the numeric path is tested against live in
:mod:`fluctinit.theory.symbolic` (imported on demand; sympy is slow to import).
"""

from .dale import (
    DEFAULT_TAU_SYN_EXC,
    DEFAULT_TAU_SYN_INH,
    DaleExponentialParams,
    DaleLognormalParams,
    dale_params,
)
from .feedforward import FeedforwardParams, KaimingParams, feedforward_params, kaiming_params, resolve_target
from .kernels import (
    DEFAULT_DT,
    DEFAULT_TAU_MEM,
    DEFAULT_TAU_SYN,
    KernelIntegrals,
    epsilon_bar,
    epsilon_hat,
    kernel_integrals,
    numeric_kernel_integrals,
    psp_kernel,
    psp_kernel_continuous,
)
from .moments import (
    Population,
    bernoulli_variance_factor,
    membrane_moments,
    membrane_moments_from_weights,
    population_moments,
)
from .rates import (ALPHA_COLORED, SILENT_RATE, LIFStationary, adiabatic_rate, lag_correlation, lif_membrane_moments,
                    lif_rate, lif_rates, lif_reset_mean, lif_stationary, local_rate, rice_rate, stationary_rates,
                    upcrossing_rate)
from .recurrent import RecurrentParams, recurrent_params

__all__ = [
    "ALPHA_COLORED",
    "lif_rate",
    "lif_stationary",
    "LIFStationary",
    "adiabatic_rate",
    "lif_rates",
    "stationary_rates",
    "SILENT_RATE",
    "local_rate",
    "lif_membrane_moments",
    "lif_reset_mean",
    "lag_correlation",
    "upcrossing_rate",
    "rice_rate",
    "KernelIntegrals",
    "kernel_integrals",
    "epsilon_bar",
    "epsilon_hat",
    "numeric_kernel_integrals",
    "psp_kernel",
    "psp_kernel_continuous",
    "DEFAULT_TAU_MEM",
    "DEFAULT_TAU_SYN",
    "DEFAULT_DT",
    "DEFAULT_TAU_SYN_EXC",
    "DEFAULT_TAU_SYN_INH",
    "Population",
    "population_moments",
    "membrane_moments",
    "membrane_moments_from_weights",
    "bernoulli_variance_factor",
    "FeedforwardParams",
    "feedforward_params",
    "KaimingParams",
    "kaiming_params",
    "resolve_target",
    "RecurrentParams",
    "recurrent_params",
    "DaleExponentialParams",
    "DaleLognormalParams",
    "dale_params",
]
