"""Training-time views of world images, like the cutouts a CLIP sees while it guides a render.

A guided render shows the perceptor random crops (25–100 % of the side, resized back), slightly
warped, recoloured and noisy. A CLIP trained only on clean full frames is easy to fool with such views,
so the trainer shows it the same kind. Crops always keep the whole shape (found from its coverage
mask): a crop changes a shape's apparent size and position, so the trainer drops size/position
captions for cropped views, but shape and colours stay true.

``nonsense_images`` makes pictures that no caption describes (colour fields, stripes, blocky noise):
the trainer uses them as negatives for every caption, so textured smears score low.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from kornia.geometry.transform import get_perspective_transform

from . import world


def _rand(n: int, low: float, high: float, gen: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=gen)


def crop_boxes(
    alpha: torch.Tensor, gen: torch.Generator, p: float = 0.5, min_side: float = 0.25
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image a square box ``[N, 3]`` (left, top, side; unit coords) holding the whole shape, and which are crops.

    A cropped image gets a side drawn uniformly between ``max(min_side, shape extent + margin)`` and 1.
    """
    n, _, h, w = alpha.shape
    inside = alpha[:, 0] > 0.05
    rows, cols = inside.any(2), inside.any(1)
    index_y = torch.arange(h, dtype=torch.float32)
    index_x = torch.arange(w, dtype=torch.float32)
    big = 1e6
    top = torch.where(rows, index_y, big).amin(1) / h
    bottom = (torch.where(rows, index_y, -big).amax(1) + 1) / h
    left = torch.where(cols, index_x, big).amin(1) / w
    right = (torch.where(cols, index_x, -big).amax(1) + 1) / w
    empty = ~rows.any(1)
    top, left = torch.where(empty, 0.0, top), torch.where(empty, 0.0, left)
    bottom, right = torch.where(empty, 1.0, bottom), torch.where(empty, 1.0, right)

    extent = torch.maximum(bottom - top, right - left) + 0.06
    low = extent.clamp(min=min_side, max=1.0)
    side = low + (1 - low) * torch.rand(n, generator=gen)
    cropped = torch.rand(n, generator=gen) < p
    side = torch.where(cropped, side, torch.ones(n))
    # the box must contain [left, right] and lie inside the image: left edge in [right - side, left]
    x_lo, x_hi = (right + 0.03 - side).clamp(min=0), torch.minimum(left - 0.03, 1 - side)
    y_lo, y_hi = (bottom + 0.03 - side).clamp(min=0), torch.minimum(top - 0.03, 1 - side)
    x0 = x_lo + (x_hi - x_lo).clamp(min=0) * torch.rand(n, generator=gen)
    y0 = y_lo + (y_hi - y_lo).clamp(min=0) * torch.rand(n, generator=gen)
    x0 = torch.where(cropped, torch.minimum(x0.clamp(min=0), 1 - side), torch.zeros(n))
    y0 = torch.where(cropped, torch.minimum(y0.clamp(min=0), 1 - side), torch.zeros(n))
    return torch.stack([x0, y0, side], 1), cropped


def warp(
    images: torch.Tensor, boxes: torch.Tensor, gen: torch.Generator, rotate: float = 0.17, corners: float = 0.05
) -> torch.Tensor:
    """Resample each image's box back to full size, with a small rotation and perspective jitter."""
    n, _, h, w = images.shape
    x0, y0, side = boxes.unbind(1)
    unit = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    source = torch.stack([x0, y0], 1)[:, None] + side[:, None, None] * unit[None]
    centre = source.mean(1, keepdim=True)
    angle = _rand(n, -rotate, rotate, gen)
    cos, sin = torch.cos(angle)[:, None], torch.sin(angle)[:, None]
    rel = source - centre
    rotated = torch.stack([cos * rel[..., 0] - sin * rel[..., 1], sin * rel[..., 0] + cos * rel[..., 1]], -1)
    jitter = corners * side[:, None, None] * (2 * torch.rand(n, 4, 2, generator=gen) - 1)
    source = (centre + rotated + jitter) * 2 - 1  # → grid_sample's [-1, 1]
    target = unit[None].expand(n, 4, 2) * 2 - 1
    homography = get_perspective_transform(target, source)  # output coords → input coords
    axis_x = torch.linspace(-1 + 1 / w, 1 - 1 / w, w)
    axis_y = torch.linspace(-1 + 1 / h, 1 - 1 / h, h)
    gy, gx = torch.meshgrid(axis_y, axis_x, indexing="ij")
    base = torch.stack([gx, gy, torch.ones_like(gx)], -1).reshape(1, -1, 3)
    mapped = base @ homography.transpose(1, 2)
    grid = (mapped[..., :2] / mapped[..., 2:].clamp(min=1e-6)).reshape(n, h, w, 2)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def colour_jitter(images: torch.Tensor, gen: torch.Generator, p: float = 0.8) -> torch.Tensor:
    """Mild brightness, contrast and saturation changes (no hue shifts: those would change colour names)."""
    n = images.shape[0]
    on = (torch.rand(n, generator=gen) < p).float()[:, None, None, None]
    brightness = _rand(n, -0.08, 0.08, gen)[:, None, None, None]
    contrast = _rand(n, 0.85, 1.15, gen)[:, None, None, None]
    saturation = _rand(n, 0.8, 1.2, gen)[:, None, None, None]
    mean = images.mean((1, 2, 3), keepdim=True)
    out = (images - mean) * contrast + mean + brightness
    grey = out.mean(1, keepdim=True)
    out = (out - grey) * saturation + grey
    return (on * out + (1 - on) * images).clamp(0, 1)


def blur(images: torch.Tensor, gen: torch.Generator, p: float = 0.25) -> torch.Tensor:
    """Down- and up-sample some images (16–48 px), like a low-resolution generator or a small cutout."""
    out = images.clone()
    n, _, h, w = images.shape
    chosen = (torch.rand(n, generator=gen) < p).nonzero().flatten()
    if len(chosen):
        low = int(torch.randint(16, 49, (1,), generator=gen))
        small = F.interpolate(images[chosen], size=(low, low), mode="bilinear", antialias=True, align_corners=False)
        out[chosen] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    return out


def noise(images: torch.Tensor, gen: torch.Generator, p: float = 0.4, sigma: float = 0.08) -> torch.Tensor:
    """Gaussian pixel noise of a random strength on some images."""
    n = images.shape[0]
    strength = (torch.rand(n, generator=gen) < p).float() * _rand(n, 0, sigma, gen)
    return (images + strength[:, None, None, None] * torch.randn(images.shape, generator=gen)).clamp(0, 1)


def augment(
    images: torch.Tensor, alpha: torch.Tensor, gen: torch.Generator, crop_p: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cutout-like views of rendered images: ``(views, cropped)``; ``cropped`` marks views whose size/position changed."""
    boxes, cropped = crop_boxes(alpha, gen, p=crop_p)
    views = warp(images, boxes, gen)
    views = colour_jitter(views, gen)
    views = blur(views, gen)
    return noise(views, gen), cropped


def nonsense_images(n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """Pictures no caption describes: smooth colour fields, two-colour stripes and blocky colour noise."""
    if n == 0:
        return torch.zeros(0, 3, size, size)
    palette = torch.stack([world.color_tensor(name) for name in world.COLORS])
    kinds = torch.randint(3, (n,), generator=gen)
    out = torch.empty(n, 3, size, size)
    for i, kind in enumerate(kinds.tolist()):
        if kind == 0:
            cells = int(torch.randint(2, 9, (1,), generator=gen))
            field = torch.rand(1, 3, cells, cells, generator=gen)
            out[i] = F.interpolate(field, size=(size, size), mode="bicubic", align_corners=False)[0]
        elif kind == 1:
            a, b = palette[torch.randperm(len(palette), generator=gen)[:2]]
            theta = float(torch.rand(1, generator=gen)) * math.pi
            freq = 2 + float(torch.rand(1, generator=gen)) * 10
            axis = (torch.arange(size, dtype=torch.float32) + 0.5) / size
            gy, gx = torch.meshgrid(axis, axis, indexing="ij")
            wave = torch.sin(2 * math.pi * freq * (math.cos(theta) * gx + math.sin(theta) * gy))
            mix = (wave > 0).float()[None]
            out[i] = a[:, None, None] * mix + b[:, None, None] * (1 - mix)
        else:
            cells = int(torch.randint(6, 33, (1,), generator=gen))
            colours = palette[torch.randint(len(palette), (cells * cells,), generator=gen)]
            field = colours.T.reshape(1, 3, cells, cells)
            out[i] = F.interpolate(field, size=(size, size), mode="nearest")[0]
    return noise(out, gen, p=0.5, sigma=0.05)
