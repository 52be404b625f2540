"""First-party filters, registered through the ``pixforge`` entry points as any third-party plugin's are:
``palette`` (nearest palette colour), ``posterize`` (the picture's own few colours), ``tile`` (a seamless
tile) and ``wallpaper`` (symmetries)."""

from __future__ import annotations

from pixforge.hookspecs import Register, hookimpl
from pixforge.lazy import lazy_exports

_MODULES = {
    "PaletteFilter": ".palette", "PosterizeFilter": ".posterize", "TileFilter": ".tile", "WallpaperFilter": ".wallpaper",
}
__all__ = sorted(_MODULES)
__getattr__ = lazy_exports(__name__, _MODULES)


@hookimpl
def register_filters(register: Register) -> None:
    from .palette import PaletteFilter
    from .posterize import PosterizeFilter
    from .tile import TileFilter
    from .wallpaper import WallpaperFilter

    register("palette", PaletteFilter)
    register("posterize", PosterizeFilter)
    register("tile", TileFilter)
    register("wallpaper", WallpaperFilter)
