"""First-party perceptor ``clip``: any open_clip model, or the shipped tiny random one for tests and drafts.

open_clip is imported only when a model is loaded, so listing plugins stays fast.
"""

from __future__ import annotations

from pixforge.hookspecs import Register, hookimpl

from .perceptor import ClipPerceptor, ClipSettings
from .weights import register_weights  # noqa: F401  (the OpenAI CLIP names in `pixforge models`)

__all__ = ["ClipPerceptor", "ClipSettings"]


@hookimpl
def register_perceptors(register: Register) -> None:
    register("clip", ClipPerceptor)
