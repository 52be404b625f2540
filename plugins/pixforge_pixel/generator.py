"""The ``pixel`` generator: a grid of colour cells, optimised directly, upsampled to the canvas.

Cells are stored as logits and rendered through a sigmoid, so the optimiser works in an unbounded
space while every rendered value stays inside 0..1 without clamping (clamping would kill gradients).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import model_validator
from torch import nn

from pixforge.components import BuildContext, Generator
from pixforge.errors import ConfigError
from pixforge.outputs import load_image, pil_to_tensor
from pixforge.numerics import bilinear_resize
from pixforge.seamless import wrap_upsample
from pixforge.settings import StrictModel
from pixforge.transparency import AlphaMap

Colour = tuple[float, float, float]

#: how far from 0 and 1 a reproduced value is kept, so its logit stays finite and still trainable
EDGE = 0.01


class PixelSettings(StrictModel):
    """The grid, how it is upsampled, and what it starts from."""

    #: cells as (columns, rows)
    grid: tuple[int, int] = (32, 32)
    #: nearest keeps hard cell edges (pixel art); bilinear blends neighbouring cells
    upsample: Literal["nearest", "bilinear"] = "nearest"
    #: random: uniform random colours; solid: ``color``; gradient: ``color`` at the top to ``color_end`` at
    #: the bottom; image: the file ``image``, downsampled to the grid
    init: Literal["random", "solid", "gradient", "image"] = "random"
    color: Colour = (0.5, 0.5, 0.5)
    color_end: Colour = (0.0, 0.0, 0.0)
    image: str | None = None

    @model_validator(mode="after")
    def _check(self) -> PixelSettings:
        if min(self.grid) < 1 or max(self.grid) > 4096:
            raise ValueError(f"grid {self.grid} must have 1 to 4096 cells a side")
        for name in ("color", "color_end"):
            if not all(0.0 <= c <= 1.0 for c in getattr(self, name)):
                raise ValueError(f"{name} {getattr(self, name)} must have channels between 0 and 1")
        if self.init == "image" and not self.image:
            raise ValueError("init 'image' needs 'image': the path of a picture to start from")
        if self.image and self.init != "image":
            raise ValueError(f"'image' is only used with init 'image' (init is '{self.init}')")
        return self


def to_logits(values: torch.Tensor) -> torch.Tensor:
    """0..1 values → logits, keeping values ``EDGE`` away from 0 and 1."""
    return torch.logit(values.clamp(EDGE, 1.0 - EDGE))


class PixelGenerator(Generator[PixelSettings]):
    """A ``[1, 3, rows, columns]`` grid of logits; ``forward`` renders ``sigmoid(grid)`` at canvas size."""

    Settings = PixelSettings
    description = "a low-resolution colour grid, upsampled to the canvas (pixel art, fast)"
    bytes_per_pixel = 64  # the upsampled canvas and its gradient, a few float32 copies
    supports_alpha = True

    def __init__(self, settings: PixelSettings, context: BuildContext) -> None:
        super().__init__(settings, context)
        columns, rows = settings.grid
        #: a tile (``--tile``): bilinear upsampling wraps around the grid's edges
        self.seamless = context.seamless
        self.logits = nn.Parameter(torch.zeros(1, 3, rows, columns, device=context.device))
        #: --transparent: an alpha cell per colour cell, upsampled the same way
        self.alpha = (
            AlphaMap(rows, columns, self.height, self.width, context.device, settings.upsample)
            if context.transparent else None
        )
        self.init(None)

    @property
    def grid_size(self) -> tuple[int, int]:
        """``(rows, columns)``, the grid as a tensor shape."""
        return self.logits.shape[-2], self.logits.shape[-1]

    def init(self, image: torch.Tensor | None) -> None:
        """Reproduce ``image`` (downsampled to the grid), or start from the settings' ``init``."""
        values = self._from_image(image) if image is not None else self._from_settings()
        with torch.no_grad():
            self.logits.copy_(to_logits(values.to(self.logits)))
        if self.alpha is not None:
            self.alpha.reset()

    def _from_settings(self) -> torch.Tensor:
        s: PixelSettings = self.settings  # type: ignore[assignment]
        rows, columns = self.grid_size
        if s.init == "random":
            return torch.rand(1, 3, rows, columns).to(self.logits.device)
        start = torch.tensor(s.color).view(1, 3, 1, 1)
        if s.init == "solid":
            return start.expand(1, 3, rows, columns)
        if s.init == "gradient":
            end = torch.tensor(s.color_end).view(1, 3, 1, 1)
            t = torch.linspace(0.0, 1.0, rows).view(1, 1, rows, 1)
            return (start + (end - start) * t).expand(1, 3, rows, columns)
        return self._from_image(self._load(s.image or ""))

    @staticmethod
    def _load(path: str) -> torch.Tensor:
        """The settings' init image; a missing or unreadable file is a ConfigError naming it."""
        return pil_to_tensor(load_image(path, "generator 'pixel' init image"))

    def _from_image(self, image: torch.Tensor) -> torch.Tensor:
        """Area-average ``image`` ([1, 3, H, W] or [3, H, W], 0..1) down to the grid."""
        if image.dim() == 3:
            image = image.unsqueeze(0)
        image = image[:1].float()
        if image.shape[1] == 1:
            image = image.expand(1, 3, *image.shape[-2:])
        if image.shape[1] != 3:
            raise ConfigError(f"generator 'pixel': an init image needs 3 colour channels, got {image.shape[1]}")
        return F.interpolate(image, size=self.grid_size, mode="area").clamp(0.0, 1.0)

    def forward(self) -> torch.Tensor:
        cells = torch.sigmoid(self.logits)
        mode = self.settings.upsample
        size = (self.height, self.width)
        if mode == "nearest":
            image = F.interpolate(cells, size=size, mode="nearest-exact")
        elif self.seamless:
            image = wrap_upsample(cells, size)
        else:
            image = bilinear_resize(cells, size)  # F.interpolate's bilinear, thread-stable (pixforge.numerics)
        return image if self.alpha is None else torch.cat([image, self.alpha()], dim=1)

    def latent(self) -> torch.Tensor:
        """The grid logits: what latent-space losses compare."""
        return self.logits
