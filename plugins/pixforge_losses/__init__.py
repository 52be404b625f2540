"""First-party losses: CLIP prompt guidance and image-space regularisers."""

from __future__ import annotations

from pixforge.hookspecs import Register, hookimpl
from pixforge.lazy import lazy_exports

_MODULES = {
    "ClipPromptLoss": ".clip_prompt",
    "InitImageLoss": ".init_image",
    "SaturationLoss": ".saturation",
    "SmoothnessLoss": ".smoothness",
    "SymmetryLoss": ".symmetry",
}
__all__ = sorted(_MODULES)
__getattr__ = lazy_exports(__name__, _MODULES)


@hookimpl
def register_losses(register: Register) -> None:
    from .clip_prompt import ClipPromptLoss
    from .init_image import InitImageLoss
    from .saturation import SaturationLoss
    from .smoothness import SmoothnessLoss
    from .symmetry import SymmetryLoss

    register("clip_prompt", ClipPromptLoss)
    register("smoothness", SmoothnessLoss)
    register("saturation", SaturationLoss)
    register("symmetry", SymmetryLoss)
    register("init_image", InitImageLoss)
