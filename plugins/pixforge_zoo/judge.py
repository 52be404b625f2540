"""Judging a render of a world prompt without any model: does it show the named colours where they belong?

Every pixel is labelled with its nearest named world colour. The render passes when the background
colour is the most common label in the border band (a mean would let a few bright pixels drag it to a
third colour), and the shape colour is the most common other label inside the band and covers a visible share of the image. The shape's position is not checked: the world
draws a prompt without a position anywhere on the canvas.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ColourVerdict:
    """What the check saw; ``passed`` is the verdict."""

    passed: bool
    #: the most common label in the border band
    border: str
    #: the most common label inside the border band, the background colour aside
    foreground: str
    #: share of the whole image labelled with the shape colour
    shape_share: float


def colour_labels(image: torch.Tensor) -> tuple[list[str], torch.Tensor]:
    """Names of the world colours and each pixel's nearest one, as an ``[H, W]`` index map of a ``[3, H, W]`` image."""
    from .colour_cells import nearest
    from .world import COLORS

    return list(COLORS), nearest(image.permute(1, 2, 0))


def colour_check(image: torch.Tensor, shape_colour: str, background: str, band: float = 0.125,
                 min_share: float = 0.03) -> ColourVerdict:
    """Check a ``[3, H, W]`` (or ``[1, 3, H, W]``) render in 0..1 against "a SHAPE_COLOUR ... on a BACKGROUND background"."""
    if image.dim() == 4:
        image = image[0]
    image = image.detach().float().cpu()
    _, height, width = image.shape
    edge = max(1, round(band * min(height, width)))
    mask = torch.ones(height, width, dtype=torch.bool)
    mask[edge:-edge, edge:-edge] = False
    names, labels = colour_labels(image)
    border = names[int(torch.bincount(labels[mask], minlength=len(names)).argmax())]
    inner = labels[~mask]
    counts = torch.bincount(inner, minlength=len(names))
    counts[names.index(background)] = -1
    foreground = names[int(counts.argmax())]
    share = float((labels == names.index(shape_colour)).float().mean())
    passed = border == background and foreground == shape_colour and share >= min_share
    return ColourVerdict(passed, border, foreground, share)
