"""The ``strokes`` generator: N cubic Bézier strokes (points, width, RGBA colour), drawn by a soft rasteriser.

CLIPDraw's idea without diffvg: the optimiser moves control points, widths and colours, each group at its
own learning rate (points 1.0 in pixels, widths 0.1, colours 0.01, as CLIPDraw sets them; ``optimizer.groups``
overrides them by name). The render also writes ``final.svg`` beside ``final.png``: the same strokes as
SVG paths, so the picture scales to any size.
"""

from __future__ import annotations

import torch
from pydantic import Field, ValidationInfo, field_validator
from torch import nn

from pixforge.components import BuildContext, Generator
from pixforge.optim import ParamGroup
from pixforge.settings import StrictModel

from .raster import rasterise
from .svg import strokes_svg

Colour = tuple[float, float, float]

#: CLIPDraw's learning rates: points in pixels move fast, widths slower, colours slowest
POINTS_LR, WIDTH_LR, COLOUR_LR = 1.0, 0.1, 0.01


class StrokesSettings(StrictModel):
    """How many strokes, how they are drawn, and where they start."""

    #: strokes, painted in order (the last on top)
    count: int = Field(32, ge=1, le=1024)
    #: cubic segments a stroke (3 control points each after the first point)
    segments: int = Field(1, ge=1, le=16)
    #: points sampled along each segment for the rasteriser: more draws smoother curves, slower
    samples: int = Field(12, ge=2, le=128)
    #: the range widths are kept in (pixels), and the width every stroke starts with
    min_width: float = Field(0.5, gt=0)
    max_width: float = Field(8.0, gt=0)
    width: float = Field(2.0, gt=0)
    #: whether widths are optimised (False: every stroke keeps ``width``)
    learn_width: bool = True
    #: edge softness in pixels: wider gives gradients from further away, but blurrier lines than the SVG's
    #: (at 0.25 the PNG and an SVG renderer's picture differ by about 0.01-0.03 a pixel, tests/test_strokes.py)
    softness: float = Field(0.25, gt=0, le=8)
    #: how far each control point starts from the one before, as a fraction of the shorter side
    radius: float = Field(0.1, gt=0, le=1)
    background: Colour = (1.0, 1.0, 1.0)
    #: None: each stroke's colour is optimised (random at the start, or the init image's under the stroke);
    #: a colour: every stroke is drawn in it and only its opacity is optimised (black lines: ``[0, 0, 0]``)
    colour: Colour | None = None
    #: opacity every stroke starts with
    opacity: float = Field(1.0, gt=0, le=1)

    @field_validator("width")
    @classmethod
    def _in_range(cls, width: float, info: ValidationInfo) -> float:
        low, high = info.data.get("min_width"), info.data.get("max_width")
        if low is not None and high is not None and not low <= width <= high:
            raise ValueError(f"width {width} must lie between min_width {low} and max_width {high}")
        return width

    @field_validator("background", "colour")
    @classmethod
    def _channels(cls, value: Colour | None, info: ValidationInfo) -> Colour | None:
        if value is not None and not all(0.0 <= c <= 1.0 for c in value):
            raise ValueError(f"{info.field_name} {value} must have channels between 0 and 1")
        return value


class StrokesGenerator(Generator[StrokesSettings]):
    """Control points ``[N, 3S+1, 2]`` in pixels, widths ``[N]``, colours ``[N, 3]`` and opacities ``[N, 1]``."""

    Settings = StrokesSettings
    description = "cubic Bézier strokes drawn by a soft rasteriser (CLIPDraw without diffvg); writes final.svg too"
    #: strokes cannot reproduce a photograph: an init image gives the strokes its colours, staged renders fit them
    reproduces_images = False
    #: the distance of every pixel to every sampled piece of every stroke, forward and backward (default settings)
    bytes_per_pixel = 16384
    #: --transparent: no background, the strokes' own coverage is the alpha (and final.svg has no background)
    supports_alpha = True

    def __init__(self, settings: StrokesSettings, context: BuildContext) -> None:
        super().__init__(settings, context)
        count, device = settings.count, context.device
        self.points = nn.Parameter(torch.zeros(count, 3 * settings.segments + 1, 2, device=device))
        widths = torch.full((count,), settings.width, device=device)
        self.widths = nn.Parameter(widths) if settings.learn_width else nn.Parameter(widths, requires_grad=False)
        rgb = torch.zeros(count, 3, device=device)
        self.rgb = nn.Parameter(rgb, requires_grad=settings.colour is None)
        self.alpha = nn.Parameter(torch.zeros(count, 1, device=device))
        self._opaque = not context.transparent
        self.register_buffer("background", torch.tensor(settings.background, device=device), persistent=False)
        self.init(None)

    def init(self, image: torch.Tensor | None) -> None:
        """Random short curves over the canvas (CLIPDraw's start); with ``image``, each learned colour is the
        image's under the stroke's first point."""
        s = self.settings
        side = min(self.width, self.height)
        count, length = self.points.shape[:2]
        scale = torch.tensor([self.width, self.height], dtype=torch.float32)
        start = torch.rand(count, 1, 2) * scale
        steps = (torch.rand(count, length - 1, 2) * 2 - 1) * s.radius * side
        points = torch.cat([start, start + steps.cumsum(dim=1)], dim=1)
        rgb = torch.rand(count, 3) if s.colour is None else torch.tensor(s.colour).expand(count, 3)
        with torch.no_grad():
            self.points.copy_(points.to(self.points))
            self.widths.fill_(s.width)
            self.rgb.copy_(rgb.to(self.rgb))
            if image is not None and s.colour is None:
                self.rgb.copy_(self._colours_under(image, self.points[:, 0]))
            self.alpha.fill_(s.opacity)
            self.after_step()

    def _colours_under(self, image: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
        """The colours of ``image`` ([1, 3, h, w], any size) at pixel positions ``at`` ([N, 2]) of this canvas."""
        picture = image[:1, :3].float().to(at.device)
        scale = torch.tensor([self.width, self.height], device=at.device)
        grid = (at / scale * 2 - 1).view(1, 1, -1, 2)
        sampled = nn.functional.grid_sample(picture, grid, mode="bilinear", padding_mode="border",
                                            align_corners=False)
        return sampled.view(3, -1).t().clamp(0, 1)

    def colours(self) -> torch.Tensor:
        """``[N, 4]`` RGBA in 0..1."""
        return torch.cat([self.rgb, self.alpha], dim=1).clamp(0.0, 1.0)

    def forward(self) -> torch.Tensor:
        s = self.settings
        widths = self.widths.clamp(s.min_width, s.max_width)
        return rasterise(self.points, widths, self.colours(), self._backdrop(), self.width, self.height, s.samples,
                         s.softness)

    def _backdrop(self) -> torch.Tensor | None:
        """The background colour, or None in a transparent render (strokes over nothing)."""
        return self.background if self._opaque else None

    def parameters_to_optimize(self) -> list[torch.Tensor]:
        return [p for group in self.parameter_groups() for p in group.params]

    def parameter_groups(self) -> list[ParamGroup]:
        """points (1.0, in pixels), width (0.1) and colour (0.01: the colours and opacities), as CLIPDraw."""
        colour = [p for p in (self.rgb, self.alpha) if p.requires_grad]
        width = [self.widths] if self.widths.requires_grad else []
        return [ParamGroup("points", [self.points], POINTS_LR), ParamGroup("width", width, WIDTH_LR),
                ParamGroup("colour", colour, COLOUR_LR)]

    def after_step(self) -> None:
        """Keep points on the canvas, widths in their range and colours in 0..1, as CLIPDraw clamps them."""
        s = self.settings
        with torch.no_grad():
            self.points[..., 0].clamp_(0, self.width)
            self.points[..., 1].clamp_(0, self.height)
            self.widths.clamp_(s.min_width, s.max_width)
            self.rgb.clamp_(0, 1)
            self.alpha.clamp_(0, 1)

    def svg(self) -> str:
        """The strokes as an SVG document (what ``final.svg`` holds)."""
        s = self.settings
        return strokes_svg(self.points, self.widths.clamp(s.min_width, s.max_width), self.colours(), self._backdrop(),
                           self.width, self.height)

    def extra_files(self) -> dict[str, bytes]:
        """``final.svg``: the strokes as vector paths, beside final.png."""
        return {"final.svg": self.svg().encode("utf-8")}
