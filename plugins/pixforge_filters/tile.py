"""``tile``: a random wrap-around roll of what the perceptors see, every step, so the picture tiles seamlessly."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from pixforge.components import Filter
from pixforge.numerics import stable_mean
from pixforge.settings import StrictModel
from pixforge_losses.smoothness import total_variation


#: the smallest neighbouring-pixel difference a relative loss divides by (a quarter of one level of 255)
RELATIVE_FLOOR = 0.25 / 255


class TileSettings(StrictModel):
    #: largest shift, as a share of each side (1: anywhere); the wrap edge then lands inside the view
    shift: float = Field(1.0, gt=0, le=1)
    #: absolute: the loss is the mean difference across the wrap edges; relative: that difference over the
    #: picture's own mean neighbouring-pixel difference (no gradient through it), so a flat picture, whose
    #: every step is small, is held to its own scale as a busy one is
    scale: Literal["absolute", "relative"] = "absolute"


def seam_difference(image: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference across the wrap edges (last column to first, last row to first)."""
    across_x = stable_mean((image[..., :, 0] - image[..., :, -1]).abs())
    across_y = stable_mean((image[..., 0, :] - image[..., -1, :]).abs())
    return (across_x + across_y) / 2


class TileFilter(Filter[TileSettings]):
    """Rolls the view by a random offset (torch's seeded generator) each step, so the perceptors judge the
    wrap edges as if they were inside the picture; the kept picture is not rolled. Its loss term (``tile``) is
    the difference across the wrap edges. The generator is built seamless (circular padding where it has
    convolutions)."""

    Settings = TileSettings
    description = "a random wrap-around roll of the perceptors' view every step: the picture tiles seamlessly"
    view_only = True
    seamless = True

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2:]
        share = self.settings.shift
        dy, dx = (int(torch.randint(max(1, round(side * share)), ()).item()) for side in (height, width))
        return torch.roll(image, shifts=(dy, dx), dims=(-2, -1))

    def loss(self, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        seam = seam_difference(before)
        if self.settings.scale == "absolute":
            return seam
        inside = total_variation(before.detach()) / 2  # the mean neighbouring-pixel difference, across and down
        return seam / inside.clamp(min=RELATIVE_FLOOR)
