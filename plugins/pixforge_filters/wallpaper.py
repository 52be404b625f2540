"""``wallpaper``: a symmetric picture, made by averaging it over a symmetry group (a projection, so gradients flow).

Plain symmetries act on the whole picture: ``mirror_x`` (left half mirrors the right), ``mirror_y``,
``mirror_xy``, ``rot2`` (180° turn) and ``rot4`` (90° turns; a square canvas). Wallpaper groups make the
canvas ``cells × cells`` repeats of one cell that has the group's symmetry, and the picture wraps around
(a seamless tile): ``p1`` (translations only), ``p2`` (180° turns), ``pm`` (mirrors), ``pg`` (glide
reflections), ``pmm`` (mirrors both ways), ``p4`` (90° turns) and ``p4m`` (90° turns and mirrors); the
fourfold ones need square cells.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from pydantic import Field

from pixforge.components import BuildContext, Filter
from pixforge.errors import ConfigError
from pixforge.settings import StrictModel

Op = Callable[[torch.Tensor], torch.Tensor]


def _flip_x(x: torch.Tensor) -> torch.Tensor:
    return x.flip(-1)


def _flip_y(x: torch.Tensor) -> torch.Tensor:
    return x.flip(-2)


def _turn(k: int) -> Op:
    return lambda x: torch.rot90(x, k, dims=(-2, -1))


def _glide(x: torch.Tensor) -> torch.Tensor:
    """Mirror left-right, then shift half a cell down: a glide reflection (on a cell that wraps around)."""
    return torch.roll(x.flip(-1), x.shape[-2] // 2, dims=-2)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


#: each symmetry's group, as the operations whose average is the symmetric picture
GROUPS: dict[str, list[Op]] = {
    "mirror_x": [_identity, _flip_x],
    "mirror_y": [_identity, _flip_y],
    "mirror_xy": [_identity, _flip_x, _flip_y, _turn(2)],
    "rot2": [_identity, _turn(2)],
    "rot4": [_turn(k) for k in range(4)],
    "p1": [_identity],
    "p2": [_identity, _turn(2)],
    "pm": [_identity, _flip_x],
    "pg": [_identity, _glide],
    "pmm": [_identity, _flip_x, _flip_y, _turn(2)],
    "p4": [_turn(k) for k in range(4)],
    "p4m": [_turn(k) for k in range(4)] + [lambda x, k=k: _flip_x(torch.rot90(x, k, dims=(-2, -1))) for k in range(4)],
}
WALLPAPER_GROUPS = ("p1", "p2", "pm", "pg", "pmm", "p4", "p4m")
FOURFOLD = ("rot4", "p4", "p4m")

Symmetry = Literal["mirror_x", "mirror_y", "mirror_xy", "rot2", "rot4", "p1", "p2", "pm", "pg", "pmm", "p4", "p4m"]


class WallpaperSettings(StrictModel):
    #: the symmetry: mirror_x, mirror_y, mirror_xy, rot2, rot4 (the whole picture) or a wallpaper group
    #: p1, p2, pm, pg, pmm, p4, p4m (repeated cells, wrapping around)
    symmetry: Symmetry = "mirror_x"
    #: repeats of the cell along each side; None: 2 for a wallpaper group, 1 (the whole picture) otherwise
    cells: int | None = Field(None, ge=1, le=32)

    def cell_count(self) -> int:
        if self.cells is not None:
            return self.cells
        return 2 if self.symmetry in WALLPAPER_GROUPS else 1


class WallpaperFilter(Filter[WallpaperSettings]):
    """The picture averaged over its cells' translations and the symmetry group's operations."""

    Settings = WallpaperSettings
    description = "mirror, rotational or wallpaper-group symmetry (p1 p2 pm pg pmm p4 p4m), by averaging over the group"
    #: ``render(wallpaper="p4m")`` sets the symmetry
    shorthand = "symmetry"

    @classmethod
    def seamless_for(cls, settings: WallpaperSettings) -> bool:
        """Wallpaper groups repeat and wrap around: the generator is built seamless for them."""
        return settings.symmetry in WALLPAPER_GROUPS

    @classmethod
    def cell_for(cls, settings: WallpaperSettings) -> tuple[int, WallpaperSettings] | None:
        """A wallpaper group of ``n × n`` cells: one cell is the same group on a single cell."""
        n = settings.cell_count()
        if settings.symmetry not in WALLPAPER_GROUPS or n == 1:
            return None
        return n, settings.model_copy(update={"cells": 1})

    def __init__(self, settings: WallpaperSettings, context: BuildContext) -> None:
        super().__init__(settings, context)
        n = settings.cell_count()
        width, height = context.width, context.height
        where = f"filter 'wallpaper' {settings.symmetry} with {n}x{n} cells"
        if width % n or height % n:
            raise ConfigError(f"{where}: the canvas {width}x{height} does not divide into {n}x{n} cells; "
                              f"pick a size that does or another 'cells'")
        if settings.symmetry in FOURFOLD and width != height:
            raise ConfigError(f"{where}: 90° turns need square cells, the canvas {width}x{height} is not square; "
                              f"use a square size or mirror_xy/pmm")
        if settings.symmetry == "pg" and (height // n) % 2:
            raise ConfigError(f"{where}: a glide shifts half a cell, and a cell {height // n} px high has no half; "
                              "use an even cell height")
        self.cells = n
        self.ops = GROUPS[settings.symmetry]

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = image.shape
        n = self.cells
        cell = image.reshape(batch, channels, n, height // n, n, width // n).mean(dim=(2, 4)) if n > 1 else image
        cell = torch.stack([op(cell) for op in self.ops]).mean(0)
        return cell.repeat(1, 1, n, n) if n > 1 else cell
