"""``smoothness``: total variation, which flattens noise and high-frequency stripes into clean regions."""

from __future__ import annotations

from typing import Literal

import torch

from pixforge.components import Loss, StepState
from pixforge.numerics import stable_mean
from pixforge.settings import StrictModel



class SmoothnessSettings(StrictModel):
    #: l1 keeps hard edges between flat regions; l2 penalises big jumps more, so it blurs edges
    kind: Literal["l1", "l2"] = "l1"


def total_variation(image: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Mean absolute (l1) or squared (l2) difference between neighbouring pixels, across plus down."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    if kind == "l2":
        return stable_mean(dx.pow(2)) + stable_mean(dy.pow(2))
    return stable_mean(dx.abs()) + stable_mean(dy.abs())


class SmoothnessLoss(Loss[SmoothnessSettings]):
    """Total variation of the image; 0 for a constant image."""

    Settings = SmoothnessSettings
    description = "total variation: penalises differences between neighbouring pixels (smooth, flat regions)"

    def __call__(self, state: StepState) -> torch.Tensor:
        return total_variation(state.image.float(), self.settings.kind)
