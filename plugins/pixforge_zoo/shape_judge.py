"""Judging a render of a world prompt without any model: the named shape, in the named colour, on the named background.

Every pixel is labelled with its nearest named world colour. A render passes when

- the border band is mostly the background colour (its most common label);
- the shape colour's pixels form one connected region (the largest 8-connected region holds at least
  ``connected`` of them) that covers a visible share of the image;
- outside that region the background colour is the most common label and covers at least ``clean`` of it;
- the region fits the named shape's template better than each of the other five: every template is
  placed at the region's centroid, scaled to its area (and a little either side) and turned through its
  symmetry period, and the best intersection-over-union of each shape is compared; the named one must
  also reach ``min_iou``.

The colour check in ``judge.py`` asks only the first half of this; this one is what "draws the prompt" means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

from .judge import colour_labels
from .world import SHAPES, shape_distance

#: rotational symmetry of each shape: templates are tried at angles across one period
_PERIODS = {"circle": 0.0, "ring": 0.0, "square": math.pi / 2, "cross": math.pi / 2,
            "triangle": 2 * math.pi / 3, "star": 2 * math.pi / 5}
_ANGLES = 12
_SCALES = (0.85, 0.92, 1.0, 1.08, 1.16)


@dataclass(frozen=True)
class ShapeVerdict:
    """What the check saw; ``passed`` is the verdict and ``reason`` says why not."""

    passed: bool
    reason: str
    #: the most common label in the border band
    border: str
    #: share of the image labelled with the shape colour
    shape_share: float
    #: share of the shape colour's pixels inside its largest connected region
    connected: float
    #: share of the pixels outside the region labelled with the background colour
    background_share: float
    #: the template that fits the region best, and every shape's best IoU
    best_shape: str
    iou: dict[str, float]


def largest_region(mask: torch.Tensor) -> torch.Tensor:
    """The largest 8-connected region of a boolean ``[H, W]`` mask (min-label propagation, no SciPy needed)."""
    if not mask.any():
        return mask.clone()
    height, width = mask.shape
    big = float(height * width + 1)
    ids = torch.arange(height * width, dtype=torch.float32).view(1, 1, height, width)
    labels = torch.where(mask[None, None], ids, torch.full_like(ids, big))
    while True:
        spread = -F.max_pool2d(-labels, 3, stride=1, padding=1)
        spread = torch.where(mask[None, None], spread, torch.full_like(spread, big))
        if torch.equal(spread, labels):
            break
        labels = spread
    flat = labels.view(-1)[mask.view(-1)].long()
    counts = torch.bincount(flat)
    return (labels[0, 0] == counts.argmax().float()) & mask


@lru_cache(maxsize=None)
def _unit_area(shape: str) -> float:
    axis = torch.linspace(-1.6, 1.6, 641)
    gy, gx = torch.meshgrid(axis, axis, indexing="ij")
    step = float(axis[1] - axis[0])
    return float((shape_distance(shape, gx, gy) < 0).float().sum()) * step * step


def template_ious(region: torch.Tensor) -> dict[str, float]:
    """Each world shape's best IoU with ``region`` (placed at its centroid, scaled to its area, turned)."""
    height, width = region.shape
    area = float(region.sum())
    if area == 0:
        return dict.fromkeys(SHAPES, 0.0)
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32) + 0.5,
                            torch.arange(width, dtype=torch.float32) + 0.5, indexing="ij")
    cy, cx = float(ys[region].mean()), float(xs[region].mean())
    dx, dy = xs - cx, ys - cy
    target = region.float()
    result = {}
    for shape in SHAPES:
        period = _PERIODS[shape]
        angles = torch.arange(_ANGLES, dtype=torch.float32) * (period / _ANGLES) if period else torch.zeros(1)
        base = math.sqrt(area / _unit_area(shape))
        scales = torch.tensor(_SCALES) * base
        angle = angles.repeat_interleave(len(scales))[:, None, None]
        radius = scales.repeat(len(angles))[:, None, None]
        cos, sin = torch.cos(angle), torch.sin(angle)
        x = (cos * dx + sin * dy) / radius
        y = (-sin * dx + cos * dy) / radius
        inside = (shape_distance(shape, x, y) < 0).float()
        overlap = (inside * target).sum((1, 2))
        union = inside.sum((1, 2)) + target.sum() - overlap
        result[shape] = float((overlap / union.clamp(min=1)).max())
    return result


def shape_check(
    image: torch.Tensor,
    shape: str,
    colour: str,
    background: str,
    band: float = 0.1,
    min_share: float = 0.02,
    connected: float = 0.85,
    clean: float = 0.75,
    min_iou: float = 0.6,
) -> ShapeVerdict:
    """Judge a ``[3, H, W]`` (or ``[1, 3, H, W]``) render in 0..1 against "a COLOUR SHAPE on a BACKGROUND background"."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")
    if image.dim() == 4:
        image = image[0]
    image = image.detach().float().cpu().clamp(0, 1)
    names, labels = colour_labels(image)
    height, width = labels.shape
    edge = max(1, round(band * min(height, width)))
    border_mask = torch.ones(height, width, dtype=torch.bool)
    border_mask[edge:-edge, edge:-edge] = False
    border = names[int(torch.bincount(labels[border_mask], minlength=len(names)).argmax())]

    fg = labels == names.index(colour)
    share = float(fg.float().mean())
    region = largest_region(fg)
    joined = float(region.sum()) / max(float(fg.sum()), 1.0)
    outside = labels[~region]
    bg_counts = torch.bincount(outside, minlength=len(names))
    bg_share = float(bg_counts[names.index(background)]) / max(len(outside), 1)
    ious = template_ious(region)
    best = max(ious, key=ious.__getitem__)

    if border != background:
        reason = f"border is {border}, not {background}"
    elif share < min_share:
        reason = f"only {share:.1%} of the image is {colour}"
    elif joined < connected:
        reason = f"the {colour} pixels are scattered ({joined:.0%} in one region)"
    elif int(bg_counts.argmax()) != names.index(background) or bg_share < clean:
        reason = f"outside the shape only {bg_share:.0%} is {background}"
    elif best != shape:
        reason = f"the region looks like a {best} (IoU {ious[best]:.2f}), not a {shape} ({ious[shape]:.2f})"
    elif ious[shape] < min_iou:
        reason = f"the region fits a {shape} poorly (IoU {ious[shape]:.2f})"
    else:
        reason = "ok"
    return ShapeVerdict(reason == "ok", reason, border, share, joined, bg_share, best, ious)
