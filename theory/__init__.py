"""fluctinit.theory: kernel integrals and closed-form initialization parameters.

Pure calculators on floats and numpy arrays; never imports torch.
(The full API is filled in by the theory issue.)
"""

from ._checks import Integer, Interval, OneOf, ParameterError

__all__ = ["ParameterError", "Interval", "Integer", "OneOf"]
