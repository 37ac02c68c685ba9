"""Input checking with one error grammar.

Every public function checks its arguments before any math runs and raises
:class:`ParameterError` (a :class:`ValueError`) whose message reads

    `{name}` must be {constraint}; got {value!r}

Constraints are kept as data (:class:`Interval`, :class:`Integer`,
:class:`OneOf`) next to the functions that use them (each public function
has a ``CONSTRAINTS`` mapping), so one property test can push every parameter
out of range.  Conflicts between several arguments raise
:class:`ParameterError` naming all of them and saying how to fix it.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np

__all__ = [
    "ParameterError",
    "Interval",
    "Integer",
    "OneOf",
    "check",
    "check_all",
    "conflict",
    "reject_inapplicable",
]


class ParameterError(ValueError):
    """A parameter (or a combination of parameters) is out of its valid range.

    Attributes:
        names: the offending parameter names, in the order they are named.
        values: their values.
    """

    def __init__(self, message: str, names: Iterable[str] = (), values: Iterable[Any] = ()):
        super().__init__(message)
        self.names = tuple(names)
        self.values = tuple(values)


@dataclass(frozen=True)
class Interval:
    """A real number in an interval; ``None`` bounds are open-ended.

    ``closed`` is one of ``"both"``, ``"left"``, ``"right"``, ``"neither"``.
    """

    low: float | None = None
    high: float | None = None
    closed: str = "neither"

    def contains(self, x: float) -> bool:
        if not math.isfinite(x):
            return False
        if self.low is not None:
            if self.closed in ("both", "left"):
                if x < self.low:
                    return False
            elif x <= self.low:
                return False
        if self.high is not None:
            if self.closed in ("both", "right"):
                if x > self.high:
                    return False
            elif x >= self.high:
                return False
        return True

    def describe(self) -> str:
        lo_incl = self.closed in ("both", "left")
        hi_incl = self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            return (
                f"a finite number with {self.low:g} {'<=' if lo_incl else '<'} x "
                f"{'<=' if hi_incl else '<'} {self.high:g}"
            )
        if self.low is not None:
            return f"a finite number {'>=' if lo_incl else '>'} {self.low:g}"
        if self.high is not None:
            return f"a finite number {'<=' if hi_incl else '<'} {self.high:g}"
        return "a finite number"

    def sample_invalid(self) -> list[float]:
        """Values just outside the interval (used by the property tests)."""
        out: list[float] = [float("nan"), float("inf")]
        if self.low is not None:
            out.append(self.low if self.closed in ("neither", "right") else self.low - 1e-3 - abs(self.low))
        if self.high is not None:
            out.append(self.high if self.closed in ("neither", "left") else self.high + 1e-3 + abs(self.high))
        return out


@dataclass(frozen=True)
class Integer:
    """An integer >= ``low`` (and <= ``high`` if given)."""

    low: int | None = None
    high: int | None = None

    def contains(self, x: Any) -> bool:
        if isinstance(x, bool) or not isinstance(x, (numbers.Integral, np.integer)):
            return False
        if self.low is not None and x < self.low:
            return False
        if self.high is not None and x > self.high:
            return False
        return True

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return f"an integer with {self.low} <= n <= {self.high}"
        if self.low is not None:
            return f"an integer >= {self.low}"
        if self.high is not None:
            return f"an integer <= {self.high}"
        return "an integer"

    def sample_invalid(self) -> list[Any]:
        out: list[Any] = [1.5]
        if self.low is not None:
            out.append(self.low - 1)
        if self.high is not None:
            out.append(self.high + 1)
        return out


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of options (strings)."""

    options: tuple

    def contains(self, x: Any) -> bool:
        return x in self.options

    def describe(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)

    def sample_invalid(self) -> list[Any]:
        return ["<not-an-option>"]


Constraint = Interval | Integer | OneOf


def _as_real(name: str, value: Any, constraint: Interval) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise ParameterError(
            f"`{name}` must be {constraint.describe()}; got {value!r}", [name], [value]
        )
    return float(value)


def check(name: str, value: Any, constraint: Constraint) -> Any:
    """Return ``value`` (a float for :class:`Interval`) if it satisfies ``constraint``.

    Raises:
        ParameterError: "`name` must be <constraint>; got <value>".
    """
    if isinstance(constraint, Interval):
        x = _as_real(name, value, constraint)
        if not constraint.contains(x):
            raise ParameterError(
                f"`{name}` must be {constraint.describe()}; got {value!r}", [name], [value]
            )
        return x
    if not constraint.contains(value):
        raise ParameterError(
            f"`{name}` must be {constraint.describe()}; got {value!r}", [name], [value]
        )
    if isinstance(constraint, Integer):
        return int(value)
    return value


def check_all(constraints: Mapping[str, Constraint], **values: Any) -> dict[str, Any]:
    """Check several parameters against a constraint table; skips ``None`` values.

    Returns the converted values (floats for intervals, ints for integers).
    """
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            out[name] = None
            continue
        out[name] = check(name, value, constraints[name])
    return out


def conflict(message: str, **values: Any) -> ParameterError:
    """Build the error for a combination of parameters that has no solution.

    The message lists every parameter involved with its value, then the
    explanation, e.g. ``conflict("implies sigma_w**2 < 0; lower mu_u", mu_u=0.9, xi=0.5)``.
    """
    listed = ", ".join(f"`{k}`={v!r}" for k, v in values.items())
    return ParameterError(f"{listed}: {message}", list(values), list(values.values()))


def reject_inapplicable(given: Mapping[str, Any], what: str, names: Iterable[str]) -> None:
    """The one rule for options that do not fit the rest of a call: a name in ``names`` given in
    ``given`` (not None, not False) is rejected with "`name` does not apply to <what>"."""
    for name in names:
        value = given.get(name)
        if value is not None and value is not False:
            raise ParameterError(f"`{name}` does not apply to {what}; got {value!r}", [name], [value])
