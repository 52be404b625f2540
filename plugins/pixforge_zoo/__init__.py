"""First-party plugin ``zoo``: a synthetic world of captioned shapes and the tiny models trained on it.

``pixforge zoo samples`` writes world images, ``pixforge zoo train tiny-clip`` trains the tiny CLIP, and
the shipped tiny CLIP is offered to the clip perceptor as the named model ``pixforge-tiny-clip``
(``pixforge_zoo.tiny_clip.load_tiny_clip()`` loads it directly) and listed in the weight registry.
Heavy modules load only when used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pixforge.hookspecs import hookimpl
from pixforge.weights import WeightEntry

from .commands import register_commands

TINY_CLIP = "pixforge-tiny-clip"
TINY_CLIP_ROBUST = "pixforge-tiny-clip-robust"
TINY_CLIP_MINED = "pixforge-tiny-clip-mined"

__all__ = [
    "TINY_CLIP",
    "TINY_CLIP_MINED",
    "TINY_CLIP_ROBUST",
    "load_shipped_mined_clip",
    "load_shipped_robust_clip",
    "load_shipped_tiny_clip",
    "register_commands",
    "register_generators",
    "register_models",
    "register_trainers",
    "register_weights",
]


def load_shipped_tiny_clip(device: Any = "cpu") -> tuple:
    """The shipped tiny CLIP as ``(model, tokenizer, mean, std, image_size)``, frozen, in eval mode."""
    from .tiny_clip import load_tiny_clip

    return load_tiny_clip(device)


def load_shipped_robust_clip(device: Any = "cpu") -> tuple:
    """The shipped adversarially fine-tuned tiny CLIP (same text tower and vocabulary), frozen, in eval mode."""
    from .tiny_clip import ROBUST_WEIGHTS_DIR, load_tiny_clip

    return load_tiny_clip(device, weights_dir=ROBUST_WEIGHTS_DIR)


def load_shipped_mined_clip(device: Any = "cpu") -> tuple:
    """The robust tiny CLIP fine-tuned on hard negatives mined from its own guided renders, frozen, in eval mode."""
    from .tiny_clip import MINED_WEIGHTS_DIR, load_tiny_clip

    return load_tiny_clip(device, weights_dir=MINED_WEIGHTS_DIR)


@hookimpl
def register_generators(register: Callable[[str, type], None]) -> None:
    from .shapes import ShapesGenerator

    register("shapes", ShapesGenerator)


@hookimpl
def register_trainers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    from .trainers import train_tiny_clip, train_tiny_clip_robust

    register("tiny-clip", train_tiny_clip)
    register("tiny-clip-robust", train_tiny_clip_robust)


@hookimpl
def register_models(register: Callable[[str, str, Callable[..., Any]], None]) -> None:
    register("clip", TINY_CLIP, load_shipped_tiny_clip)
    register("clip", TINY_CLIP_ROBUST, load_shipped_robust_clip)
    register("clip", TINY_CLIP_MINED, load_shipped_mined_clip)


@hookimpl
def register_weights(register: Callable[[WeightEntry], None]) -> None:
    from .catalog import mined_clip_entry, robust_clip_entry, tiny_clip_entry

    register(tiny_clip_entry())
    register(robust_clip_entry())
    register(mined_clip_entry())
