"""The ``shapes`` generator: one soft primitive shape on a flat background, every part differentiable.

Tiny CLIPs steer raw pixels into adversarial texture, and the tiny VQGAN's prior alone still gives blobs.
Optimising the few numbers that describe a world image instead — two colours, a centre, a size, a rotation
and a soft choice among the world's shapes — can only ever produce a clean picture.
"""

from __future__ import annotations

import torch
from pydantic import Field

from pixforge.components import BuildContext, Generator
from pixforge.settings import StrictModel

from .world import SHAPES, shape_distance


class ShapesSettings(StrictModel):
    """How soft the edges are, and how far the shape may stray from the centre at the start."""

    #: edge softness in pixels: wider edges give smoother gradients to the position and size
    edge: float = Field(1.5, gt=0)
    #: spread of the random start around the canvas centre (fraction of the side)
    spread: float = Field(0.15, ge=0, le=0.5)


class ShapesGenerator(Generator):
    """A world-style picture from ~16 numbers: background and shape colours, centre, radius, angle, shape mix."""

    Settings = ShapesSettings
    description = "one soft primitive shape (circle, square, star, ...) on a flat background"
    #: an init image only sets the background to its mean colour
    reproduces_images = False
    #: --transparent: the shape alone, its soft coverage as the alpha (no background)
    supports_alpha = True

    def __init__(self, settings: ShapesSettings, context: BuildContext) -> None:
        super().__init__(settings, context)
        self._transparent = context.transparent
        self.background = torch.nn.Parameter(torch.zeros(3))
        self.colour = torch.nn.Parameter(torch.zeros(3))
        self.centre = torch.nn.Parameter(torch.zeros(2))
        self.size = torch.nn.Parameter(torch.zeros(()))
        self.angle = torch.nn.Parameter(torch.zeros(()))
        self.mix = torch.nn.Parameter(torch.zeros(len(SHAPES)))
        side = min(self.width, self.height)
        ys = (torch.arange(self.height, dtype=torch.float32) + 0.5 - self.height / 2) / side
        xs = (torch.arange(self.width, dtype=torch.float32) + 0.5 - self.width / 2) / side
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        self.register_buffer("gx", gx, persistent=False)
        self.register_buffer("gy", gy, persistent=False)

    def init(self, image: torch.Tensor | None) -> None:
        with torch.no_grad():
            self.background.normal_(0, 1)
            self.colour.normal_(0, 1)
            self.centre.uniform_(-self.settings.spread, self.settings.spread)
            self.size.fill_(0.0)
            self.angle.uniform_(-0.3, 0.3)
            self.mix.normal_(0, 0.1)
            if image is not None:
                self.background.copy_(torch.logit(image.mean(dim=(0, 2, 3)).clamp(0.02, 0.98)))

    def radius(self) -> torch.Tensor:
        """The shape's radius as a fraction of the shorter side, kept between 0.1 and 0.32 (world sizes)."""
        return 0.1 + 0.22 * torch.sigmoid(self.size)

    def forward(self) -> torch.Tensor:
        radius = self.radius()
        dx, dy = self.gx - self.centre[0], self.gy - self.centre[1]
        cos, sin = torch.cos(self.angle), torch.sin(self.angle)
        x, y = (cos * dx + sin * dy) / radius, (-sin * dx + cos * dy) / radius
        weights = torch.softmax(self.mix, dim=0)
        pixels = radius * min(self.width, self.height) / self.settings.edge
        alpha = sum(w * torch.sigmoid(-shape_distance(name, x, y) * pixels) for w, name in zip(weights, SHAPES))
        colour = torch.sigmoid(self.colour)[:, None, None]
        if self._transparent:
            return torch.cat([colour.expand(3, *alpha.shape), alpha[None]]).unsqueeze(0)
        background = torch.sigmoid(self.background)[:, None, None]
        return (background * (1 - alpha) + colour * alpha).unsqueeze(0)

    def after_step(self) -> None:
        self.centre.clamp_(-0.5, 0.5)
