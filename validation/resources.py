"""What a membrane-statistics run needs before it allocates anything: memory and work.

A run of :func:`~fluctinit.validation.sweep` holds, at its peak, the populations' weights
``(n_post, n_pre)`` (float32, and float64 copies while the theory predicts per neuron), one
mini-batch of input ``(batch, time, inputs)``, the membrane of one chunk
``(chunk, time, n_post)`` with the simulator's buffers and the generated Poisson inputs of
that chunk, and the PSP kernel arrays of the burn-in.  :func:`sweep_bytes` estimates each from
the sizes alone (factors measured with the peak resident set size of ``fluctinit validate``
runs: about 5 float32 values per input value -- draw, comparison, binned copy -- and 8 per
membrane value), :func:`available_memory` is what the machine can still give, and
:func:`check_resources` refuses a run that does not fit, or whose membrane updates
(samples x steps x neurons) would take weeks, naming the parameters that set the size.

No torch here: the command line checks its flags with these before anything heavy is imported.
"""

from __future__ import annotations

import math

from fluctinit._resources import available_memory
from fluctinit.errors import conflict

from ._constraints import CHUNK_ELEMENTS

__all__ = ["sweep_bytes", "available_memory", "check_resources", "chunk_samples", "kernel_steps",
           "MAX_UPDATES", "MAX_KERNEL_STEPS"]

#: membrane updates (samples x steps x neurons) above which a run is refused: about a week at
#: the 1e8-1e9 updates per second the fast core reaches on one CPU core
MAX_UPDATES = 10**14

#: longest PSP kernel the burn-in scans (60 time constants; its Python recursion takes ~5 s)
MAX_KERNEL_STEPS = 10**7

# bytes per value, measured (see the module docstring)
_INPUT_BYTES = 4 * 5
_MEMBRANE_BYTES = 4 * 8
_GENERATED_BYTES = 4 * 3
_WEIGHT_BYTES = 4 * 2 + 8 * 3  # float32 draw and stacked copy; float64 copy, its selection and square
_KERNEL_BYTES = 8 * 4


def chunk_samples(n_steps: int, n_post: int, max_elements: int = CHUNK_ELEMENTS) -> int:
    """Samples simulated at once so that ``samples x n_steps x n_post <= max_elements`` (at least 1)."""
    return max(1, max_elements // max(1, n_steps * n_post))


def kernel_steps(tau_max: float, dt: float) -> float:
    """Length of the PSP kernel the burn-in scans: 60 of the longest time constant, plus 4 steps
    (a float: ``inf`` where ``tau_max/dt`` overflows)."""
    steps = 60.0 * tau_max / dt
    return math.ceil(steps) + 4 if math.isfinite(steps) else math.inf


def sweep_bytes(*, n_neurons: int, n_inputs: int, n_steps: int, batch_size: int, n_targets: int = 1,
                n_generated: int = 0, n_kernel: int = 0, max_elements: int = CHUNK_ELEMENTS) -> dict[str, int]:
    """Estimated peak bytes of each large allocation of a sweep (see the module docstring).

    Args:
        n_neurons: neurons per target; ``n_targets`` targets are stacked into one population.
        n_inputs: the data's inputs; ``n_generated``: generated Poisson inputs (recurrent,
            inhibitory) per neuron.
        n_steps: steps per sample (burn-in included); ``batch_size``: samples per mini-batch
            (at most the number of samples); ``n_kernel``: length of the burn-in's PSP kernel.

    Returns:
        ``{"weights", "input batch", "membrane", "generated inputs", "kernel"}`` -> bytes (ints).
    """
    n_post = n_neurons * n_targets
    chunk = min(batch_size, chunk_samples(n_steps, n_post, max_elements))
    return {
        "weights": n_post * (n_inputs + n_generated) * _WEIGHT_BYTES,
        "input batch": batch_size * n_steps * n_inputs * _INPUT_BYTES,
        "membrane": chunk * n_steps * n_post * _MEMBRANE_BYTES,
        "generated inputs": chunk * n_steps * n_generated * _GENERATED_BYTES,
        "kernel": int(n_kernel) * _KERNEL_BYTES,
    }


def _size(n: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n / 1e3:.3g} kB"


def check_resources(need: dict[str, int], *, updates: int = 0, available: int | None = None, **involved) -> None:
    """Refuse a run whose estimated memory ``need`` (:func:`sweep_bytes`) exceeds what is
    available, or whose ``updates`` exceed :data:`MAX_UPDATES`, before anything is allocated.

    Args:
        need: bytes per allocation; their sum is compared with ``available``
            (default :func:`available_memory`; no memory check where that is unknown).
        updates: membrane updates of the run (samples x steps x neurons).
        involved: the parameters that set the sizes, with their values (named in the error).

    Raises:
        ParameterError: naming every parameter in ``involved`` and the amounts.
    """
    total = sum(need.values())
    free = available_memory() if available is None else available
    if free is not None and total > free:
        parts = ", ".join(f"{k} {_size(v)}" for k, v in sorted(need.items(), key=lambda kv: -kv[1]) if v > 0)
        raise conflict(f"the run needs about {_size(total)} of memory ({parts}) but {_size(free)} are available; "
                       "lower these", **involved)
    if updates > MAX_UPDATES:
        raise conflict(f"the run would simulate {updates:.3g} membrane updates (samples x steps x neurons), more than "
                       f"{MAX_UPDATES:.0e} (about a week); lower these", **involved)
