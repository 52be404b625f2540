"""``--transparent``: a picture with an alpha channel, seen over a new random background every step.

A generator built with ``BuildContext.transparent`` renders ``[B, 4, H, W]``: colour and alpha (its alpha
is usually an :class:`AlphaMap`, low-resolution logits upsampled). The perceptors never see the alpha
itself: they see the picture composited over a random background (a solid colour, smooth noise or a
gradient), so only an opaque subject looks the same every step. That alone would make everything opaque,
so the alpha loss pulls the mean alpha down whenever it is above the wanted ``coverage``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from .errors import ConfigError
from .noise import gradient_images
from .numerics import stable_mean
from .settings import StrictModel

#: the noise background is uniform noise on a grid this many times coarser than the canvas, blended up
NOISE_CELL = 8


class TransparencySettings(StrictModel):
    """``--transparent``: an RGBA final.png (``pixforge.transparency``)."""

    enabled: bool = False
    #: the mean alpha the alpha loss allows; above it the loss pulls alpha down, so the picture cannot go
    #: all opaque over its random backgrounds
    coverage: float = Field(0.5, gt=0, le=1)
    #: weight of the alpha loss
    weight: float = Field(1.0, ge=0)
    #: what the perceptor may see behind the picture, one drawn at random each step
    backgrounds: list[Literal["solid", "noise", "gradient"]] = Field(
        default_factory=lambda: ["solid", "noise", "gradient"], min_length=1
    )



def check_alpha(settings: TransparencySettings, generator: type, name: str) -> bool:
    """Whether the generator must be built with an alpha channel; a generator that has none is a ConfigError."""
    if settings.enabled and not getattr(generator, "supports_alpha", False):
        raise ConfigError(
            f"--transparent: generator '{name}' has no alpha channel; use one that has (pixel, vqgan, dvae, strokes, shapes), "
            "or render without --transparent"
        )
    return settings.enabled


def random_background(batch: int, height: int, width: int, kinds: Sequence[str]) -> torch.Tensor:
    """``[batch, 3, height, width]`` backgrounds in 0..1, each of a kind picked at random from ``kinds``.

    Drawn from torch's default CPU generator (which the pipeline seeds per render), so a seed gives the
    same backgrounds on every device.
    """
    backgrounds = []
    for _ in range(batch):
        kind = kinds[int(torch.randint(len(kinds), ()))]
        if kind == "solid":
            picture = torch.rand(1, 3, 1, 1).expand(1, 3, height, width)
        elif kind == "noise":
            cells = torch.rand(1, 3, max(1, height // NOISE_CELL), max(1, width // NOISE_CELL))
            picture = F.interpolate(cells, size=(height, width), mode="bilinear", align_corners=False)
        elif kind == "gradient":
            picture = gradient_images(1, height, width)
        else:
            raise ValueError(f"unknown background kind '{kind}'; valid: solid, noise, gradient")
        backgrounds.append(picture)
    return torch.cat(backgrounds)


def composite(colour: torch.Tensor, alpha: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Straight (not premultiplied) colour ``[B, 3, H, W]`` with alpha ``[B, 1, H, W]`` over ``background``."""
    return colour * alpha + background.to(colour) * (1.0 - alpha)


def alpha_loss(alpha: torch.Tensor, coverage: float) -> torch.Tensor:
    """How far the mean alpha of each image is above ``coverage`` (0 at or below it), averaged over the batch."""
    return (stable_mean(alpha.float(), dim=(1, 2, 3)) - coverage).clamp(min=0.0).mean()


class Transparency:
    """What ``--transparent`` adds to a render's step; with it off, every method hands the image through."""

    def __init__(self, settings: TransparencySettings | None = None) -> None:
        self.settings = settings if settings is not None else TransparencySettings()

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def split(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The generator's image → (its colour ``[B, 3, H, W]``, its alpha ``[B, 1, H, W]`` or None)."""
        if image.shape[1] == 4:
            return image[:, :3], image[:, 3:]
        return image, None

    def join(self, colour: torch.Tensor, alpha: torch.Tensor | None) -> torch.Tensor:
        """Colour and alpha back into the ``[B, 4, H, W]`` picture a render keeps (the colour alone without alpha)."""
        return colour if alpha is None else torch.cat([colour, alpha], dim=1)

    def backdrop(self, colour: torch.Tensor, alpha: torch.Tensor | None) -> torch.Tensor:
        """What the perceptors see: the picture over this step's random background (the colour without alpha)."""
        if alpha is None:
            return colour
        batch, _, height, width = colour.shape
        return composite(colour, alpha, random_background(batch, height, width, self.settings.backgrounds))

    def loss(self, alpha: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """The weighted alpha loss as a named term (none without alpha)."""
        if alpha is None:
            return {}
        return {"alpha": self.settings.weight * alpha_loss(alpha, self.settings.coverage)}


class AlphaMap(nn.Module):
    """A generator's alpha channel: ``[1, 1, rows, columns]`` logits, upsampled to the canvas through a sigmoid.

    Low resolution keeps the outline smooth and cheap to optimise; it starts at ``start`` everywhere.
    """

    def __init__(self, rows: int, columns: int, height: int, width: int, device: torch.device | str = "cpu",
                 upsample: str = "bilinear", start: float = 0.5) -> None:
        super().__init__()
        self.height, self.width, self.upsample, self.start = height, width, upsample, start
        self.logits = nn.Parameter(torch.zeros(1, 1, rows, columns, device=device))
        self.reset()

    def reset(self) -> None:
        """Back to ``start`` everywhere (an init image has no alpha to reproduce)."""
        with torch.no_grad():
            self.logits.fill_(float(torch.logit(torch.tensor(self.start))))

    def fit(self, alpha: torch.Tensor) -> None:
        """Start from ``alpha`` (``[1, 1, h, w]`` in 0..1, any size): its mean over each cell, as logits.

        A staged render hands the next stage its last alpha this way, so the outline is kept rather than
        started again from ``start``."""
        rows, columns = self.logits.shape[-2:]
        cells = F.adaptive_avg_pool2d(alpha.float().to(self.logits.device), (rows, columns))
        with torch.no_grad():
            self.logits.copy_(torch.logit(cells.clamp(0.01, 0.99)))

    def forward(self, batch: int = 1) -> torch.Tensor:
        """``[batch, 1, height, width]`` in 0..1."""
        size = (self.height, self.width)
        if self.upsample == "nearest":
            up = F.interpolate(self.logits, size=size, mode="nearest-exact")
        else:
            up = F.interpolate(self.logits, size=size, mode="bilinear", align_corners=False)
        return torch.sigmoid(up).expand(batch, 1, *size)
