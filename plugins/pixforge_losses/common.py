"""Small helpers the losses share."""

from __future__ import annotations

import torch

from pixforge.components import StepState


def zero(state: StepState) -> torch.Tensor:
    """A zero loss on the image's device."""
    return state.image.new_zeros((), dtype=torch.float32)
