"""The ``shapes`` generator: one soft primitive shape on a flat background, every part differentiable.

Tiny CLIPs steer raw pixels into adversarial texture, and the tiny VQGAN's prior alone still gives blobs.
Optimising the few numbers that describe a world image instead — two colours, a centre, a size, a rotation
and a soft choice among the world's shapes — can only ever produce a clean picture.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from pydantic import Field

from pixforge.components import BuildContext, Generator
from pixforge.errors import ConfigError
from pixforge.settings import StrictModel

from .world import SHAPES, shape_distance


class ShapesSettings(StrictModel):
    """How soft the edges are, how far the shape may stray from the centre at the start, and how many
    pictures are drawn side by side."""

    #: edge softness in pixels: wider edges give smoother gradients to the position and size
    edge: float = Field(1.5, gt=0)
    #: spread of the random start around the canvas centre (fraction of the side)
    spread: float = Field(0.15, ge=0, le=0.5)
    #: pictures optimised together (independent samples in one batch; ``--candidates N`` sets it): with
    #: more than one, sample k starts leaning to the k-th shape (modulo six), so six samples try every shape
    batch: int = Field(1, ge=1, le=64)
    #: how far a sample of a batch starts leaning to its shape (a lead of the soft choice's logit)
    lean: float = Field(2.0, ge=0, le=10)
    #: draw only the leading shape (straight-through: the picture shows the shape with the largest weight,
    #: the gradient is the soft mix's), so a ring keeps its hole and a star its points; off, the picture is
    #: the soft mix of all six outlines
    hard: bool = True
    #: random starts tried for each sample before the first step, the best by the render's CLIP kept
    #: (``Generator.propose``): colours across the whole RGB cube, any place, size and angle; the sample's
    #: shape stays the one it leans to (any shape for a single picture). 0 starts from ``init`` alone
    proposals: int = Field(0, ge=0, le=4096)


class ShapesGenerator(Generator):
    """A world-style picture from ~16 numbers: background and shape colours, centre, radius, angle, shape mix."""

    Settings = ShapesSettings
    description = "one soft primitive shape (circle, square, star, ...) on a flat background"
    #: an init image only sets the background to its mean colour
    reproduces_images = False
    #: --transparent: the shape alone, its soft coverage as the alpha (no background)
    supports_alpha = True
    #: ``--candidates N`` (and a layout's candidates) draws N samples in one batch
    samples_setting = "batch"

    def __init__(self, settings: ShapesSettings, context: BuildContext) -> None:
        super().__init__(settings, context)
        self._transparent = context.transparent
        if context.transparent and settings.batch != 1:
            raise ConfigError(f"generator 'shapes': --transparent draws one picture, got batch {settings.batch}; "
                              "set generator.settings.batch=1")
        n = settings.batch
        self.background = torch.nn.Parameter(torch.zeros(n, 3))
        self.colour = torch.nn.Parameter(torch.zeros(n, 3))
        self.centre = torch.nn.Parameter(torch.zeros(n, 2))
        self.size = torch.nn.Parameter(torch.zeros(n))
        self.angle = torch.nn.Parameter(torch.zeros(n))
        self.mix = torch.nn.Parameter(torch.zeros(n, len(SHAPES)))
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
            if self.settings.batch > 1:  # each sample leans to its own shape, so together they try them all
                index = torch.arange(self.settings.batch, device=self.mix.device) % len(SHAPES)
                self.mix[torch.arange(self.settings.batch), index] += self.settings.lean
            if image is not None:
                self.background.copy_(torch.logit(image.mean(dim=(2, 3)).clamp(0.02, 0.98)).expand_as(self.background))

    def radius(self) -> torch.Tensor:
        """Each shape's radius as a fraction of the shorter side, kept between 0.1 and 0.32 (world sizes): ``[B]``."""
        return self._radius(self.size)

    @staticmethod
    def _radius(size: torch.Tensor) -> torch.Tensor:
        return 0.1 + 0.22 * torch.sigmoid(size)

    def forward(self) -> torch.Tensor:
        return self._draw(self.background, self.colour, self.centre, self.size, self.angle, self.mix)

    def _draw(
        self, background: torch.Tensor, colour: torch.Tensor, centre: torch.Tensor, size: torch.Tensor,
        angle: torch.Tensor, mix: torch.Tensor,
    ) -> torch.Tensor:
        radius = self._radius(size)[:, None, None]
        dx = self.gx[None] - centre[:, 0, None, None]
        dy = self.gy[None] - centre[:, 1, None, None]
        cos, sin = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
        x, y = (cos * dx + sin * dy) / radius, (-sin * dx + cos * dy) / radius
        weights = torch.softmax(mix, dim=1)
        if self.settings.hard:
            chosen = F.one_hot(weights.argmax(dim=1), len(SHAPES)).to(weights.dtype)
            weights = chosen + weights - weights.detach()
        pixels = radius * min(self.width, self.height) / self.settings.edge
        if self.settings.hard and not torch.is_grad_enabled():
            alpha = self._chosen_coverage(weights, x, y, pixels)
        else:
            alpha = sum(weights[:, k, None, None] * torch.sigmoid(-shape_distance(name, x, y) * pixels)
                        for k, name in enumerate(SHAPES))
        paint = torch.sigmoid(colour)[:, :, None, None]
        if self._transparent:
            return torch.cat([paint.expand(-1, 3, *alpha.shape[1:]), alpha[:, None]], dim=1)
        ground = torch.sigmoid(background)[:, :, None, None]
        return ground * (1 - alpha[:, None]) + paint * alpha[:, None]

    @staticmethod
    def _chosen_coverage(
        weights: torch.Tensor, x: torch.Tensor, y: torch.Tensor, pixels: torch.Tensor
    ) -> torch.Tensor:
        """The hard draw's coverage without a gradient: each sample's own shape only. The other shapes'
        terms are exact zeros there, so this is the same picture to the bit at a sixth of the work (the
        start search draws a few hundred pictures before the first step)."""
        alpha = torch.zeros_like(x)
        chosen = weights.argmax(dim=1)
        for k, name in enumerate(SHAPES):
            rows = (chosen == k).nonzero().flatten()
            if len(rows):
                distance = shape_distance(name, x[rows], y[rows])
                alpha[rows] = weights[rows, k, None, None] * torch.sigmoid(-distance * pixels[rows])
        return alpha

    def propose(self, score: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Try ``proposals`` random starts for each sample, scored by ``score``, and keep each sample's best
        (skipped for a transparent picture: the score needs a ground)."""
        tries = self.settings.proposals
        if tries == 0 or self._transparent:
            return
        batch, device = self.settings.batch, self.mix.device
        with torch.no_grad():
            for k in range(batch):
                mix = self.mix[k].expand(tries, -1).clone()
                if batch == 1:  # a single picture may be any shape
                    mix[torch.arange(tries), torch.randint(0, len(SHAPES), (tries,))] += self.settings.lean
                starts = (
                    torch.randn(tries, 3, device=device) * 2,
                    torch.randn(tries, 3, device=device) * 2,
                    torch.empty(tries, 2, device=device).uniform_(-0.5, 0.5),
                    torch.randn(tries, device=device) * 1.5,
                    torch.empty(tries, device=device).uniform_(-math.pi, math.pi),
                    mix,
                )
                starts[2].copy_(self._inside(starts[2], self._radius(starts[3])))
                chunk = max(1, min(64, 2**22 // (self.width * self.height)))  # about 16 MB a picture batch
                scores = torch.cat([score(self._draw(*(t[i : i + chunk] for t in starts)))
                                    for i in range(0, tries, chunk)])
                best = int(scores.argmax())
                for parameter, start in zip(
                    (self.background, self.colour, self.centre, self.size, self.angle, self.mix), starts
                ):
                    parameter[k] = start[best]

    def _inside(self, centre: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
        """``centre`` moved so that a shape of ``radius`` lies wholly in the picture."""
        side = min(self.width, self.height)
        half = torch.tensor([self.width / side, self.height / side], device=centre.device) / 2
        reach = (half[None] - radius[:, None]).clamp(min=0)
        return torch.maximum(torch.minimum(centre, reach), -reach)

    def after_step(self) -> None:
        # the whole shape stays in the picture, as in the world's own (a shape pushed out of view drew nothing)
        self.centre.copy_(self._inside(self.centre, self.radius().detach()))
