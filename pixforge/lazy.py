"""Public names imported on first use (PEP 562), so importing a package stays cheap.

``pixforge --help`` imports every plugin package; one whose ``__init__`` imported its torch modules would
make every command wait for torch. A plugin lists its public names instead::

    __getattr__ = lazy_exports(__name__, {"PixelGenerator": ".generator"})
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(package: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports each of ``names`` (name → module, relative to ``package``) when it
    is first asked for."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        return getattr(import_module(module, package), name)

    return __getattr__
