"""``symmetry``: pulls the image towards its own mirror image."""

from __future__ import annotations

from typing import Literal

import torch

from pixforge.components import Loss, StepState
from pixforge.numerics import stable_mse
from pixforge.settings import StrictModel



class SymmetrySettings(StrictModel):
    #: horizontal: the left half mirrors the right (flip across the vertical centre line);
    #: vertical: the top half mirrors the bottom
    axis: Literal["horizontal", "vertical"] = "horizontal"


def mirror(image: torch.Tensor, axis: str) -> torch.Tensor:
    return image.flip(-1 if axis == "horizontal" else -2)


class SymmetryLoss(Loss[SymmetrySettings]):
    """Mean squared difference between the image and its mirror; 0 for a symmetric image."""

    Settings = SymmetrySettings
    description = "mean squared difference between the image and its mirror image (left-right or top-bottom)"

    def __call__(self, state: StepState) -> torch.Tensor:
        image = state.image.float()
        return stable_mse(image, mirror(image, self.settings.axis))
