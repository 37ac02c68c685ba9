"""Results inside the floating-point range: never an OverflowError, an inf or a nan.

Huge or tiny but finite arguments (``sigma_u=1e160``, ``mu_u=-1e200``, ``sigma_log=1e300``,
``nu=1e-320``) can push a formula out of the float range.  Python then raises OverflowError
(``x**2``, ``math.exp``, ``float(10**400)``), returns inf (``x*y``, ``x/y``), or raises
ZeroDivisionError once a product has underflowed to 0; numpy warns and returns inf or nan.

Every public calculator of :mod:`fluctinit.theory` is wrapped by :func:`finite_results`, which
turns each of these into one :class:`~fluctinit.errors.ParameterError` built by
:func:`~fluctinit.errors.conflict`: it names every numeric argument with its value (and
describes the kernel integrals passed), says which quantity left the range and how to fix it.
It also checks every float of the result (a record's ``as_dict()``, arrays, tuples).
Formulas mark their intermediate quantities with :func:`finite`, so that an infinite
denominator cannot turn into a plausible-looking 0, nor an underflow into a derived quantity
that a record then rejects under its own name.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import math
import numbers
from dataclasses import fields, is_dataclass
from typing import Any, Callable, TypeVar

import numpy as np

from fluctinit.errors import ParameterError, conflict

__all__ = ["finite", "square", "exp", "root_of_difference", "finite_results"]

F = TypeVar("F", bound=Callable[..., Any])

_HOW = "bring the arguments to physical scales (SI units: seconds, Hz; membrane values in units of theta)"


#: True inside a wrapped calculator: nested calculators leave the report to the outermost one
_outer_call: contextvars.ContextVar[bool] = contextvars.ContextVar("fluctinit_theory_outer_call", default=False)


class _NonFinite(OverflowError):
    """An intermediate quantity marked by :func:`finite` left the float range (internal)."""


def finite(label: str, value: float, *, positive: bool = False) -> float:
    """Return ``value`` if it is finite (and > 0 when ``positive``); else stop the calculation.

    ``label`` names the quantity in the error, e.g. ``"n nu epsilon_hat"``.  Only for use
    inside a function wrapped by :func:`finite_results`, which reports it.
    """
    if not math.isfinite(value) or (positive and not value > 0):
        raise _NonFinite(f"{label} = {value!r}")
    return value


def square(label: str, x: float) -> float:
    """``x * x``, stopping the calculation (as :func:`finite`) if it overflows."""
    return finite(label, x * x)


def exp(label: str, x: float) -> float:
    """``math.exp(x)``, stopping the calculation (as :func:`finite`) if it overflows."""
    if not x < 709.78:  # log of the largest double
        raise _NonFinite(f"{label} = exp({x!r}) overflows")
    return math.exp(x)


def root_of_difference(a: float, b: float) -> float:
    """``sqrt(a**2 - b**2)`` for ``a >= |b| >= 0`` as ``sqrt(a - |b|) sqrt(a + |b|)``: no square
    over- or underflows where the result is representable (a std from a target and a mean)."""
    m = abs(b)
    return math.sqrt(a - m) * math.sqrt(a + m)


def _first_nonfinite(value: Any, label: str) -> str | None:
    """``"label = value"`` of the first non-finite float in ``value``, or None."""
    if value is None or isinstance(value, (bool, str, numbers.Integral)):
        return None
    if isinstance(value, numbers.Real):
        return None if math.isfinite(value) else f"{label} = {float(value)!r}"
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc" and not np.all(np.isfinite(value)):
            return f"{label} has non-finite entries"
        return None
    if hasattr(value, "as_dict"):
        return _first_nonfinite(value.as_dict(), label)
    if is_dataclass(value):
        return _first_nonfinite({f.name: getattr(value, f.name) for f in fields(value)}, label)
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (tuple, list)):
        items = ((f"{label}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for key, item in items:
        bad = _first_nonfinite(item, str(key))
        if bad is not None:
            return bad
    return None


def _describe(bound: inspect.BoundArguments) -> tuple[dict[str, Any], str]:
    """The numeric arguments (named in the error) and a description of the kernels passed."""
    from .kernels import KernelIntegrals

    numeric: dict[str, Any] = {}
    kernels = []
    arguments = dict(bound.arguments)
    record = arguments.pop("self", None)
    if is_dataclass(record):  # a record's method: its fields are the arguments
        arguments = {**{f.name: getattr(record, f.name) for f in fields(record)}, **arguments}
    for name, value in arguments.items():
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            numeric[name] = value
        elif isinstance(value, KernelIntegrals):
            kernels.append(f"{name} epsilon_bar={value.epsilon_bar:.6g} s, epsilon_hat={value.epsilon_hat:.6g} s")
        elif isinstance(value, (list, tuple)):  # records, e.g. the populations of population_moments
            for i, item in enumerate(value):
                if is_dataclass(item):
                    for f in fields(item):
                        v = getattr(item, f.name)
                        if isinstance(v, numbers.Real) and not isinstance(v, bool):
                            numeric[f"{name}[{i}].{f.name}"] = v
    return numeric, ("; with " + "; ".join(kernels)) if kernels else ""


def _out_of_range(func: Callable, bound: inspect.BoundArguments, what: str) -> ParameterError:
    numeric, kernels = _describe(bound)
    message = f"the result of {func.__name__} leaves the floating-point range ({what}){kernels}; {_HOW}"
    return conflict(message, **numeric)


def _why(err: Exception) -> str:
    if isinstance(err, ZeroDivisionError):
        return "an intermediate value underflows to 0 and is divided by"
    if isinstance(err, OverflowError):
        return "an intermediate value overflows" + (f": {err}" if "too large" in str(err) else "")
    return f"an intermediate value: {err}"


def _math_domain(err: ValueError) -> bool:
    return not isinstance(err, ParameterError) and str(err) == "math domain error"


def finite_results(func: F) -> F:
    """Decorate a calculator so that it returns finite numbers or raises ParameterError.

    Overflow (OverflowError, ZeroDivisionError after an underflow, numpy's floating-point
    errors, :func:`finite`) and a non-finite number in the result become one ParameterError
    naming every numeric argument with its value.  A ParameterError raised by ``func``
    itself passes through unchanged.
    """
    sig = inspect.signature(func)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _outer_call.get():  # called by another calculator: that one reports, naming its arguments
            out = func(*args, **kwargs)
            what = _first_nonfinite(out, "result")
            if what is not None:
                raise _NonFinite(what)
            return out
        token = _outer_call.set(True)
        try:
            return _checked(*args, **kwargs)
        finally:
            _outer_call.reset(token)

    def _checked(*args: Any, **kwargs: Any) -> Any:
        what = None
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            try:
                out = func(*args, **kwargs)
                what = _first_nonfinite(out, "result")
            except _NonFinite as err:
                what = str(err)
            except ParameterError:
                raise
            except (ArithmeticError, ValueError) as err:  # OverflowError, ZeroDivisionError, FloatingPointError
                if isinstance(err, ValueError) and not _math_domain(err):
                    raise
                what = _why(err)
        if what is not None:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            raise _out_of_range(func, bound, what) from None
        return out

    return wrapper  # type: ignore[return-value]
