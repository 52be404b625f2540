"""First-party generator ``pixel``: a low-resolution colour grid, upsampled to the canvas."""

from __future__ import annotations

from pixforge.hookspecs import Register, hookimpl

from .generator import PixelGenerator, PixelSettings

__all__ = ["PixelGenerator", "PixelSettings"]


@hookimpl
def register_generators(register: Register) -> None:
    register("pixel", PixelGenerator)
