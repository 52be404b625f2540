"""Colour jitter as one 3×3 colour matrix and offset per cutout: kornia's ColorJitter, about 20× cheaper.

kornia's ColorJitter follows torchvision: brightness multiplies, contrast blends with the image's mean
grey, saturation blends with the grey image, and hue is shifted in HSV space. The first three are linear
in the colour, so they are 3×3 matrices (plus an offset for the mean grey, which is itself linear in the
image's mean colour). Hue here is a rotation of RGB about the grey axis, also a matrix, where kornia
goes to HSV and back: six passes with branches over every pixel, forward and backward, which cost
about three quarters of an augmentation step at 224 px. So each cutout gets one matrix and offset,
composed in the same random order kornia draws, applied in one batched product and clamped once.

What differs from kornia's op: the hue shift turns colours on a circle about the grey axis rather than
around the HSV hexagon (the same direction and about the same amount; greys stay put in both, and HSV
keeps a colour's max and min where the rotation keeps its mean and its distance from grey), and values
are clamped to 0..1 once at the end instead of after each of the four adjustments.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from kornia.augmentation import random_generator as rg
from kornia.augmentation._2d.intensity.base import IntensityAugmentationBase2D

#: Rec. 601 luma, as kornia's and torchvision's grayscale
LUMA = (0.299, 0.587, 0.114)


def hue_matrices(turns: torch.Tensor) -> torch.Tensor:
    """``[B]`` hue shifts in turns → ``[B, 3, 3]`` rotations of RGB about the grey axis (Rodrigues' formula).

    Greys stay put, every colour keeps its mean level and its distance from grey; a positive shift turns
    red towards yellow, as kornia's does.
    """
    angle = (turns * (2 * math.pi)).view(-1, 1, 1)
    eye = torch.eye(3, dtype=turns.dtype, device=turns.device)
    axis = torch.full((3, 3), 1.0 / 3.0, dtype=turns.dtype, device=turns.device)  # k kᵀ for k = (1, 1, 1)/√3
    cross = torch.tensor([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]], dtype=turns.dtype,
                         device=turns.device) / math.sqrt(3.0)
    return angle.cos() * eye + (1 - angle.cos()) * axis + angle.sin() * cross


def colour_transforms(params: dict[str, torch.Tensor], mean_rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image's ``x -> M x + t`` (``[B, 3, 3]``, ``[B, 3]``) for the four adjustments in ``params["order"]``.

    ``mean_rgb`` ``[B, 3]`` is each input image's mean colour: contrast blends with the mean grey of the
    image as it is at that point of the chain, which is ``luma · (M mean_rgb + t)``.
    """
    dtype, device = mean_rgb.dtype, mean_rgb.device
    batch = mean_rgb.shape[0]
    luma = torch.tensor(LUMA, dtype=dtype, device=device)
    eye = torch.eye(3, dtype=dtype, device=device).expand(batch, 3, 3)
    grey = torch.ones(3, dtype=dtype, device=device).outer(luma)  # x -> (luma · x) in every channel
    factors = [params[key].to(device=device, dtype=dtype).reshape(-1) for key in
               ("brightness_factor", "contrast_factor", "saturation_factor", "hue_factor")]
    matrix, offset = eye, torch.zeros(batch, 3, dtype=dtype, device=device)
    for index in params["order"].tolist():
        factor = factors[index]
        scale = factor.view(-1, 1, 1)
        if index == 0:  # brightness: x * f
            step, add = scale * eye, torch.zeros_like(offset)
        elif index == 1:  # contrast: f * x + (1 - f) * mean grey of the current image
            current_mean = (matrix @ mean_rgb.unsqueeze(-1)).squeeze(-1) + offset
            step = scale * eye
            add = ((1 - factor) * (current_mean @ luma)).unsqueeze(-1).expand(batch, 3)
        elif index == 2:  # saturation: f * x + (1 - f) * grey(x)
            step, add = scale * eye + (1 - scale) * grey, torch.zeros_like(offset)
        else:  # hue: rotate chroma
            step, add = hue_matrices(factor), torch.zeros_like(offset)
        matrix = step @ matrix
        offset = (step @ offset.unsqueeze(-1)).squeeze(-1) + add
    return matrix, offset


class ColorMatrixJitter(IntensityAugmentationBase2D):
    """Random brightness, contrast, saturation and hue (kornia ColorJitter's ranges), as one colour matrix.

    Parameters are drawn by kornia's own ``ColorJitterGenerator``, so ``brightness`` etc. take the same
    values as ``kornia.augmentation.ColorJitter`` and ``p`` gates each cutout.
    """

    def __init__(
        self,
        brightness: float = 0.0,
        contrast: float = 0.0,
        saturation: float = 0.0,
        hue: float = 0.0,
        same_on_batch: bool = False,
        p: float = 1.0,
    ) -> None:
        super().__init__(p=p, same_on_batch=same_on_batch)
        self._param_generator = rg.ColorJitterGenerator(brightness, contrast, saturation, hue)

    def apply_transform(
        self,
        input: torch.Tensor,
        params: dict[str, torch.Tensor],
        flags: dict[str, Any],
        transform: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if input.shape[-3] != 3:
            raise ValueError(f"colour jitter needs 3 channels, got {input.shape[-3]}")
        x = input.clamp(0.0, 1.0)
        matrix, offset = colour_transforms(params, x.mean(dim=(-2, -1)))
        out = torch.einsum("bij,bjhw->bihw", matrix, x) + offset[..., None, None]
        return out.clamp(0.0, 1.0)
