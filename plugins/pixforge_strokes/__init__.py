"""First-party generator ``strokes``: cubic Bézier strokes drawn by a soft rasteriser, saved as SVG too."""

from __future__ import annotations

from pixforge.hookspecs import Register, hookimpl


@hookimpl
def register_generators(register: Register) -> None:
    from .generator import StrokesGenerator

    register("strokes", StrokesGenerator)
