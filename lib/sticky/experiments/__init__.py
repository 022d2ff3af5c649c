"""One package per chapter: its parameters (``PARAMETERS``, ``resolve``) and its protocol as functions.

A chapter's package imports each of its modules when a name from it is first used (PEP 562), so checking a
chapter's parameters imports its ``parameters`` module alone, not torch: bad input is refused in about a
second, before any heavy import.
"""

from __future__ import annotations

import importlib
import sys
from typing import Callable


def lazy_exports(package: str, exports: dict[str, tuple[str, ...]], modules: tuple[str, ...] = ()
                 ) -> tuple[Callable, Callable, list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` for ``package``, which offers each name in ``exports[module]``
    from its ``module``, and each of ``modules`` whole (``biases.real``), imported on first use. An exported
    name must not be one of the package's module names (importing that module by any path would shadow it)."""
    for module, names in exports.items():
        if not (isinstance(names, tuple) and all(isinstance(n, str) for n in names)):
            raise TypeError(f"{package}: exports[{module!r}] is {names!r}; allowed: a tuple of names, e.g. ('f',)")
    owner = {name: module for module, names in exports.items() for name in names}
    if set(owner) & set(exports):
        raise ValueError(f"{package}: {sorted(set(owner) & set(exports))} are module names too; allowed: other names")

    def __getattr__(name: str):
        if name in modules:
            return importlib.import_module(f"{package}.{name}")
        if name not in owner:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{owner[name]}"), name)
        setattr(sys.modules[package], name, value)  # later look-ups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted([*owner, *modules])

    return __getattr__, __dir__, sorted([*owner, *modules])
