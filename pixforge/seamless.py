"""Seamless decoding: a copy of a model whose convolutions pad circularly, so its picture wraps around.

A tile (``--tile``) is judged across its wrap edges; a decoder that pads with zeros draws a border there
that no optimisation removes. Generators call ``circular_copy`` when ``BuildContext.seamless`` is set and
keep the copy in the model cache beside the original, which stays as it was for other renders; a grid
generator upsamples with ``wrap_upsample``.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


def circular_copy(model: nn.Module, classes: dict[type, type] | None = None) -> nn.Module:
    """A deep copy of ``model`` in which every zero-padded ``nn.Conv2d`` pads circularly instead.

    ``classes`` maps other convolution classes (a package's own ``Conv2d``) to circular subclasses of
    them, which the copy's modules of that class become.
    """
    twin = copy.deepcopy(model)
    swaps = classes or {}
    for module in twin.modules():
        if isinstance(module, nn.Conv2d) and module.padding_mode == "zeros" and _pads(module.padding):
            module.padding_mode = "circular"
        elif type(module) in swaps:
            module.__class__ = swaps[type(module)]
    return twin


def _pads(padding: object) -> bool:
    if isinstance(padding, str):
        return padding == "same"
    return any(int(side) > 0 for side in padding)  # type: ignore[union-attr]


def wrap_upsample(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling of ``[B, C, h, w]`` to ``size`` (H, W) as if the grid repeated beyond its edges, so the
    result tiles seamlessly; inside, it is ``F.interpolate(..., mode="bilinear", align_corners=False)``."""
    h, w = image.shape[-2:]
    height, width = size
    padded = F.pad(image, (1, 1, 1, 1), mode="circular")

    def where(out: int, cells: int) -> torch.Tensor:
        source = (torch.arange(out, dtype=image.dtype, device=image.device) + 0.5) * cells / out - 0.5
        return 2 * (source + 1) / (cells + 1) - 1  # grid_sample's align_corners=True coordinates in ``padded``

    ys, xs = torch.meshgrid(where(height, h), where(width, w), indexing="ij")
    grid = torch.stack([xs, ys], dim=-1).expand(image.shape[0], height, width, 2)
    return F.grid_sample(padded, grid, mode="bilinear", padding_mode="border", align_corners=True)
