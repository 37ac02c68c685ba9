"""Lazy public names of a package (PEP 562): its ``__init__`` lists them, their modules load on first use.

validation, training and interop keep their imports light this way (importing them imports no
torch and no optional framework).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str | tuple[str, str | None]],
                 namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``.

    ``exports`` maps each public name to the module (in the package) that defines it, or to
    ``(module, attribute)``; attribute None is the module itself.  A name once looked up is
    stored in ``namespace`` (the package's ``globals()``), so later look-ups skip ``__getattr__``.
    """

    def __getattr__(name: str) -> Any:
        try:
            entry = exports[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        module, attr = (entry, name) if isinstance(entry, str) else entry
        loaded = importlib.import_module(f"{package}.{module}")
        value = loaded if attr is None else getattr(loaded, attr)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
