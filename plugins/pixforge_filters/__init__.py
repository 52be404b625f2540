"""First-party filters, registered through the ``pixforge`` entry points as any third-party plugin's are:
``palette`` (nearest palette colour), ``tile`` (a seamless tile) and ``wallpaper`` (symmetries)."""

from __future__ import annotations

from pixforge.hookspecs import Register, hookimpl

from .palette import PaletteFilter
from .tile import TileFilter
from .wallpaper import WallpaperFilter

__all__ = ["PaletteFilter", "TileFilter", "WallpaperFilter"]


@hookimpl
def register_filters(register: Register) -> None:
    register("palette", PaletteFilter)
    register("tile", TileFilter)
    register("wallpaper", WallpaperFilter)
