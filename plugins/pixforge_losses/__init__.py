"""First-party losses: CLIP prompt guidance and image-space regularisers."""

from __future__ import annotations

from pixforge.hookspecs import Register, hookimpl

from .clip_prompt import ClipPromptLoss
from .init_image import InitImageLoss
from .saturation import SaturationLoss
from .smoothness import SmoothnessLoss
from .symmetry import SymmetryLoss

__all__ = ["ClipPromptLoss", "InitImageLoss", "SaturationLoss", "SmoothnessLoss", "SymmetryLoss"]


@hookimpl
def register_losses(register: Register) -> None:
    register("clip_prompt", ClipPromptLoss)
    register("smoothness", SmoothnessLoss)
    register("saturation", SaturationLoss)
    register("symmetry", SymmetryLoss)
    register("init_image", InitImageLoss)
