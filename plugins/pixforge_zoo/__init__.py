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

__all__ = [
    "TINY_CLIP",
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


@hookimpl
def register_generators(register: Callable[[str, type], None]) -> None:
    from .shapes import ShapesGenerator

    register("shapes", ShapesGenerator)


@hookimpl
def register_trainers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    from .trainers import train_tiny_clip

    register("tiny-clip", train_tiny_clip)


@hookimpl
def register_models(register: Callable[[str, str, Callable[..., Any]], None]) -> None:
    register("clip", TINY_CLIP, load_shipped_tiny_clip)


@hookimpl
def register_weights(register: Callable[[WeightEntry], None]) -> None:
    from .catalog import tiny_clip_entry

    register(tiny_clip_entry())
