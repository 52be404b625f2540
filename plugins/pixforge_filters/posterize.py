"""``posterize``: every pixel becomes the nearest of a few colours that the picture itself chooses each step.

A palette without naming one: each step the picture's own ``colors`` k-means centres (computed without a
gradient) are its palette and every pixel is drawn in its nearest centre, so the perceptors see flat colour
regions. The gradient goes back straight through: unchanged to every pixel (``identity``, which lets a flat
start split into regions) or through a soft assignment to the centres, as ``palette`` does (``soft``).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from pixforge.components import BuildContext, Filter
from pixforge.numerics import stable_mean
from pixforge.settings import StrictModel

from .palette import nearest_colours


class PosterizeSettings(StrictModel):
    #: how many flat colours each picture keeps (its own k-means centres, found again every step)
    colors: int = Field(4, ge=2, le=32)
    #: the backward pass: ``identity`` hands each pixel its gradient unchanged; ``soft`` is the gradient of a
    #: softmax-weighted mix of the centres (zero where the centres coincide, as on a flat start)
    gradient: Literal["identity", "soft"] = "identity"
    #: how sharply the ``soft`` gradient's assignment picks the nearest centre (as ``palette``'s sharpness)
    sharpness: float = Field(10.0, gt=0, le=1e4)
    #: Lloyd iterations of each step's k-means
    iterations: int = Field(6, ge=1, le=50)


def picture_centres(image: torch.Tensor, k: int, iterations: int) -> torch.Tensor:
    """``k`` colour centres ``[k, 3]`` of one ``[3, H, W]`` picture: started at evenly spaced brightness
    quantiles (no random draw: a step's centres depend on its picture alone), then Lloyd steps. Distances are
    elementwise and the means summed in float64, so the centres are the same bits on any thread count."""
    points = image.detach().flatten(1).T
    order = points.sum(dim=1).argsort(stable=True)
    picks = ((torch.arange(k, dtype=torch.float64) + 0.5) / k * len(points)).long()
    centres = points[order[picks]].clone()
    for _ in range(iterations):
        label = (points[:, None, :] - centres[None]).pow(2).sum(-1).argmin(dim=1)
        member = F.one_hot(label, k).double()
        counts = member.sum(dim=0)[:, None]
        sums = (member[:, :, None] * points.double()[:, None, :]).sum(dim=0)
        centres = torch.where(counts > 0, sums / counts.clamp(min=1), centres.double()).to(points.dtype)
    return centres


class PosterizeFilter(Filter[PosterizeSettings]):
    """Each picture of the batch in its own ``colors`` flat colours; the loss term is the generator's picture's
    mean squared distance to those colours, which pulls the picture itself toward flat regions."""

    Settings = PosterizeSettings
    description = "every pixel becomes the nearest of the picture's own few k-means colours (straight-through)"
    #: ``render(posterize=3)`` and ``--set posterize=3`` set the number of colours
    shorthand = "colors"

    def __init__(self, settings: PosterizeSettings, context: BuildContext) -> None:
        super().__init__(settings, context)

    def _centres(self, image: torch.Tensor) -> list[torch.Tensor]:
        return [picture_centres(picture, self.settings.colors, self.settings.iterations) for picture in image]

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        drawn = []
        for picture, centres in zip(image.split(1), self._centres(image)):
            distances, hard = nearest_colours(picture, centres)
            if self.settings.gradient == "identity":
                drawn.append(hard + (picture - picture.detach()))
            else:
                weights = torch.softmax(-self.settings.sharpness * distances, dim=-1)
                soft = (weights @ centres).permute(0, 3, 1, 2)
                drawn.append(hard + (soft - soft.detach()))
        return torch.cat(drawn)

    def loss(self, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        nearest = [nearest_colours(picture, centres)[0].min(-1).values.flatten()
                   for picture, centres in zip(before.split(1), self._centres(before))]
        return stable_mean(torch.cat(nearest))
