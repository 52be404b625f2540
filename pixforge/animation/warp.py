"""One frame's motion: zoom, rotation and translation about the canvas centre, by kornia, with an infill.

The warp moves the picture: zoom 1.1 enlarges it by a tenth, rotate 5 turns it 5° counter-clockwise,
translate_x 2 moves it two pixels right. What the warp uncovers is filled by ``infill``: ``mirror``
(reflection), ``smear`` (the edge pixels stretched), ``black`` (zeros), or ``wrap`` (the opposite edge, as if
the canvas were a torus; kornia has no such padding, so it is sampled here on a grid taken modulo the size).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

Infill = Literal["wrap", "mirror", "smear", "black"]
#: kornia's padding mode for each infill that it has
PADDING = {"mirror": "reflection", "smear": "border", "black": "zeros"}


def motion_matrix(
    height: int, width: int, zoom: float, rotate: float, translate_x: float, translate_y: float
) -> torch.Tensor:
    """The source → destination pixel affine ``[1, 2, 3]`` of one frame's motion."""
    from kornia.geometry.transform import get_rotation_matrix2d

    if zoom <= 0:
        from ..errors import ConfigError

        raise ConfigError(f"animation.zoom must stay above 0, got {zoom:g}")
    centre = torch.tensor([[(width - 1) / 2, (height - 1) / 2]], dtype=torch.float32)
    matrix = get_rotation_matrix2d(centre, torch.tensor([float(rotate)]), torch.tensor([[float(zoom), float(zoom)]]))
    matrix[..., 0, 2] += float(translate_x)
    matrix[..., 1, 2] += float(translate_y)
    return matrix


def warp(
    image: torch.Tensor, zoom: float = 1.0, rotate: float = 0.0, translate_x: float = 0.0,
    translate_y: float = 0.0, infill: Infill = "mirror",
) -> torch.Tensor:
    """``image`` ``[B, 3, H, W]`` (0..1) moved by one frame's motion; the same size, values in 0..1."""
    from kornia.geometry.transform import warp_affine

    height, width = image.shape[-2:]
    matrix = motion_matrix(height, width, zoom, rotate, translate_x, translate_y).to(image.device).expand(
        image.shape[0], 2, 3
    )
    if infill == "wrap":
        return _warp_wrapped(image, matrix).clamp(0.0, 1.0)
    if infill not in PADDING:
        from ..errors import ConfigError

        raise ConfigError(f"animation.infill '{infill}' is not one of wrap, mirror, smear, black")
    return warp_affine(image, matrix, (height, width), padding_mode=PADDING[infill], align_corners=True).clamp(0.0, 1.0)


def _warp_wrapped(image: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Sample every destination pixel's source, taken modulo the canvas (a one-pixel circular pad makes the
    seam interpolate between the two opposite edges)."""
    batch, _, height, width = image.shape
    full = torch.cat([matrix, torch.tensor([[[0.0, 0.0, 1.0]]], device=image.device).expand(batch, 1, 3)], dim=1)
    inverse = torch.linalg.inv(full)[:, :2]
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=image.dtype, device=image.device),
        torch.arange(width, dtype=image.dtype, device=image.device),
        indexing="ij",
    )
    points = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).reshape(1, -1, 3)
    source = points @ inverse.transpose(1, 2)  # [B, H*W, 2] in source pixels
    sx = torch.remainder(source[..., 0], width) + 1
    sy = torch.remainder(source[..., 1], height) + 1
    padded = F.pad(image, (1, 1, 1, 1), mode="circular")
    grid = torch.stack([2 * sx / (width + 1) - 1, 2 * sy / (height + 1) - 1], dim=-1).reshape(batch, height, width, 2)
    return F.grid_sample(padded, grid, mode="bilinear", padding_mode="border", align_corners=True)
