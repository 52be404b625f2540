"""``palette``: every pixel becomes its nearest palette colour, with a soft assignment's gradient (straight through)."""

from __future__ import annotations

import torch
from pydantic import Field, field_validator

from pixforge.components import BuildContext, Filter
from pixforge.numerics import stable_mean
from pixforge.settings import StrictModel

from .palettes import check_spec, parse_palette

#: eight colours that make a palette when none is given
DEFAULT_COLORS = "black,white,red,lime,blue,yellow,cyan,magenta"


class PaletteSettings(StrictModel):
    #: the palette: colour names, hex, ramps (black->red\\8) and images (photo.png:6), comma-separated or a list
    colors: str | list[str] = DEFAULT_COLORS
    #: how sharply the gradient's soft assignment picks the nearest colour (softmax of -sharpness times the
    #: squared RGB distance): low passes gradients everywhere, high only near the border between two colours
    sharpness: float = Field(10.0, gt=0, le=1e4)
    #: seed of the k-means that takes colours from an image item
    seed: int = 0

    @field_validator("colors")
    @classmethod
    def _check(cls, value: str | list[str]) -> str | list[str]:
        check_spec(value)  # a ConfigError naming the bad item, before any model loads
        return value


def nearest_colours(image: torch.Tensor, palette: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, 3, H, W]`` and ``[K, 3]`` → the squared distances ``[B, H, W, K]`` and the nearest colours ``[B, 3, H, W]``."""
    pixels = image.permute(0, 2, 3, 1)
    distances = (pixels.unsqueeze(-2) - palette).pow(2).sum(-1)
    return distances, palette[distances.argmin(-1)].permute(0, 3, 1, 2)


class PaletteFilter(Filter[PaletteSettings]):
    """Nearest palette colour forward; backward, the gradient of a softmax-weighted mix of the colours. Its
    loss term (``palette`` in the losses) is the generator's picture's mean squared distance to the palette."""

    Settings = PaletteSettings
    description = "every pixel becomes its nearest palette colour (straight-through, soft-assignment gradient)"
    #: ``render(palette="red,blue")`` and ``--palette`` set the colours
    shorthand = "colors"

    def __init__(self, settings: PaletteSettings, context: BuildContext) -> None:
        super().__init__(settings, context)
        self.register_buffer("colours", parse_palette(settings.colors, settings.seed).to(context.device))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        palette = self.colours.to(image.dtype)
        distances, hard = nearest_colours(image, palette)
        weights = torch.softmax(-self.settings.sharpness * distances, dim=-1)
        soft = (weights @ palette).permute(0, 3, 1, 2)
        return hard + (soft - soft.detach())

    def loss(self, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        distances, _ = nearest_colours(before, self.colours.to(before.dtype))
        return stable_mean(distances.min(-1).values)
