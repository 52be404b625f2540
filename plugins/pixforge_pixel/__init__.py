"""First-party generator ``pixel``: a low-resolution colour grid, upsampled to the canvas."""

from __future__ import annotations

from pixforge.hookspecs import Register, hookimpl
from pixforge.lazy import lazy_exports

__all__ = ["PixelGenerator", "PixelSettings"]
__getattr__ = lazy_exports(__name__, {"PixelGenerator": ".generator", "PixelSettings": ".generator"})


@hookimpl
def register_generators(register: Register) -> None:
    from .generator import PixelGenerator

    register("pixel", PixelGenerator)
