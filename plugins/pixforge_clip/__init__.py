"""First-party perceptor ``clip``: any open_clip model, or the shipped tiny random one for tests and drafts.

open_clip is imported only when a model is loaded, so listing plugins stays fast.
"""

from __future__ import annotations

from pixforge.hookspecs import Register, hookimpl
from pixforge.lazy import lazy_exports

from .weights import register_weights  # noqa: F401  (the OpenAI CLIP names in `pixforge models`)

__all__ = ["ClipPerceptor", "ClipSettings"]
__getattr__ = lazy_exports(__name__, {"ClipPerceptor": ".perceptor", "ClipSettings": ".perceptor"})


@hookimpl
def register_perceptors(register: Register) -> None:
    from .perceptor import ClipPerceptor

    register("clip", ClipPerceptor)
