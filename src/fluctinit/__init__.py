"""fluctinit: fluctuation-driven initialization for spiking neural networks.

Subpackages:

* :mod:`fluctinit.theory`     -- kernel integrals and closed-form weight parameters (numpy/sympy, no torch)
* :mod:`fluctinit.sim`        -- PyTorch LIF simulator, initializers (``*_`` fillers), inputs and data loaders
* :mod:`fluctinit.validation` -- membrane-statistics experiments, training, the ``fluctinit`` command line
* :mod:`fluctinit.figures`    -- one script per paper figure
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("fluctinit")
except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
    __version__ = "0+unknown"

__all__ = ["__version__"]
