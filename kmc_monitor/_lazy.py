"""Names a package lists but imports on first use (PEP 562's module ``__getattr__``).

Several packages re-export names whose modules are heavy (the codecs bring cryptography, the traces
pyarrow, the store sqlite3), so that importing the package for one light name never pays for the
rest. Each keeps its own table of where a name lives and calls :func:`load` from its
``__getattr__``; the lookup, the error and the caching live here, once.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from importlib import import_module

__all__ = ["load"]


def load(package: str, homes: Mapping[str, str], namespace: MutableMapping[str, object], name: str) -> object:
    """``name`` from the module ``homes`` names for it, kept in the package's ``namespace`` so the
    next use is an ordinary attribute; ``AttributeError`` for a name the package does not have."""
    home = homes.get(name)
    if home is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value: object = getattr(import_module(home), name)
    namespace[name] = value
    return value
