"""Cutouts: the crops of the generated image that the perceptor sees each step.

CLIP sees a fixed-size square, so each step the canvas is cut into many crops of varied size and
position; their mean loss makes the whole image, at several scales, match the prompt. All crops are
taken in one batched resample (``torchvision.ops.roi_align``), never one by one, so the cost hardly
grows with ``count``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from .settings import StrictModel

CutoutMode = Literal["random", "pooled", "mixed"]


class CutoutSettings(StrictModel):
    """How many cutouts each step takes, and how they are cut."""

    #: cutouts per image per step
    count: int = Field(default=16, ge=1)
    #: crop side = min_size + (1 - min_size) * u**cut_pow, u uniform in [0, 1): >1 favours small crops, <1 large
    cut_pow: float = Field(default=1.0, gt=0)
    #: smallest crop side, as a fraction of the canvas's shorter side
    min_size: float = Field(default=0.25, gt=0, le=1)
    #: random crops; pooled: whole-canvas avg+max pooled cutouts (VQGAN-CLIP "updated"); mixed: half of each
    mode: CutoutMode = "random"


def split_count(settings: CutoutSettings) -> tuple[int, int]:
    """How many of the ``count`` cutouts are pooled and how many random, as ``(pooled, random)``.

    ``mixed`` gives the odd one out to the random crops, so ``count=1`` still sees a crop.
    """
    if settings.mode == "pooled":
        return settings.count, 0
    if settings.mode == "random":
        return 0, settings.count
    pooled = settings.count // 2
    return pooled, settings.count - pooled


def sample_crop_sides(n: int, settings: CutoutSettings) -> torch.Tensor:
    """``n`` crop sides, as fractions of the canvas's shorter side, from the ``cut_pow`` distribution.

    side = min_size + (1 - min_size) * u**cut_pow with u ~ U[0, 1). ``cut_pow = 1`` spreads sides
    evenly between ``min_size`` and the full side; a larger power pushes u**cut_pow towards 0, so crops
    get smaller (detail); a power below 1 pushes it towards 1, so crops get larger (composition).
    Drawn from torch's default CPU generator, so a seed gives the same crops on every device.
    """
    u = torch.rand(n, dtype=torch.float64)
    sides = settings.min_size + (1.0 - settings.min_size) * u.pow(settings.cut_pow)
    return sides.clamp(max=1.0)


def sample_boxes(batch: int, per_image: int, height: int, width: int, settings: CutoutSettings) -> torch.Tensor:
    """Random square crop boxes, ``[batch * per_image, 5]`` rows of ``(image index, x0, y0, x1, y1)``.

    Coordinates are continuous pixel edges (the canvas spans ``[0, width] x [0, height]``); each box's
    side comes from :func:`sample_crop_sides` and its position is uniform over where it fits. Rows are
    image-major: the crops of image 0 first. Sampled on the CPU in float64, for device-independent runs.
    """
    n = batch * per_image
    short = float(min(height, width))
    side = (sample_crop_sides(n, settings) * short).clamp(min=1.0)
    offsets = torch.rand(n, 2, dtype=torch.float64)
    x0 = offsets[:, 0] * (width - side)
    y0 = offsets[:, 1] * (height - side)
    index = torch.arange(batch, dtype=torch.float64).repeat_interleave(per_image)
    return torch.stack([index, x0, y0, x0 + side, y0 + side], dim=1)


def pooled_cutout(image: torch.Tensor, size: int) -> torch.Tensor:
    """The whole canvas squeezed to ``size`` by the mean of average and max pooling (VQGAN-CLIP "updated").

    Average pooling alone blurs thin strokes away; the max keeps them, so CLIP sees the full
    composition with its detail. ``[B, 3, H, W] -> [B, 3, size, size]``.
    """
    return (F.adaptive_avg_pool2d(image, size) + F.adaptive_max_pool2d(image, size)) / 2


def crop_boxes(image: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Resample every box of ``image`` to ``size x size`` in one call; ``boxes`` as from :func:`sample_boxes`.

    ``roi_align`` averages ``ceil(box side / size)`` bilinear samples per output pixel, so large crops
    are area-averaged rather than aliased, and gradients flow back to ``image``.
    """
    from torchvision.ops import roi_align  # torchvision imports torch._dynamo: only when cutting

    rois = boxes.to(device=image.device, dtype=image.dtype)
    return roi_align(image, rois, output_size=(size, size), spatial_scale=1.0, sampling_ratio=-1, aligned=True)


def make_cutouts(image: torch.Tensor, size: int, settings: CutoutSettings) -> torch.Tensor:
    """``[B, C, H, W]`` in 0..1 -> ``[B * count, C, size, size]``, differentiable w.r.t. ``image``.

    Rows are image-major (``out.view(B, count, C, size, size)[b]`` are image b's cutouts), pooled
    ones first in ``mixed`` mode. Random crops are squares whose side, as a fraction of the canvas's
    shorter side, is ``min_size + (1 - min_size) * u**cut_pow`` (u uniform): ``cut_pow > 1`` favours
    small crops, ``< 1`` large ones. Randomness comes from torch's default generator only, so
    ``torch.manual_seed`` makes the cutouts reproducible. Augmentation is applied afterwards, to the
    whole batch at once (see ``pixforge.augment.compose``).
    """
    return make_cutouts_and_boxes(image, size, settings)[0]


def make_cutouts_and_boxes(
    image: torch.Tensor, size: int, settings: CutoutSettings
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`make_cutouts` and where each cutout came from: ``[B * count, 5]`` rows of ``(image index, x0, y0,
    x1, y1)`` in canvas pixels, in the cutouts' order (a pooled cutout's box is the whole canvas), so a loss
    can weight each cutout by what it covers (region prompts)."""
    if image.dim() != 4:
        raise ValueError(f"make_cutouts expects an image batch [B, C, H, W], got shape {tuple(image.shape)}")
    if size < 1:
        raise ValueError(f"cutout size must be at least 1 pixel, got {size}")
    batch, channels, height, width = image.shape
    n_pooled, n_random = split_count(settings)
    parts, boxes = [], []
    if n_pooled:
        pooled = pooled_cutout(image, size).unsqueeze(1)
        parts.append(pooled.expand(batch, n_pooled, channels, size, size))
        whole = torch.tensor([0.0, 0.0, float(width), float(height)], dtype=torch.float64)
        index = torch.arange(batch, dtype=torch.float64).repeat_interleave(n_pooled).unsqueeze(1)
        boxes.append(torch.cat([index, whole.expand(batch * n_pooled, 4)], dim=1).view(batch, n_pooled, 5))
    if n_random:
        random_boxes = sample_boxes(batch, n_random, height, width, settings)
        parts.append(crop_boxes(image, random_boxes, size).view(batch, n_random, channels, size, size))
        boxes.append(random_boxes.view(batch, n_random, 5))
    cutouts = torch.cat(parts, dim=1).reshape(batch * settings.count, channels, size, size)
    return cutouts, torch.cat(boxes, dim=1).reshape(batch * settings.count, 5)
