"""First-party generator ``dvae``: optimises token distributions decoded by a DALL-E-style dVAE.

Ships a tiny dVAE trained on the zoo's synthetic world (``tiny-dvae``, the default) and knows OpenAI's
published dVAE by name (``openai-dvae``), both through the weight registry. The model code is the
``dall-e`` package's ``Encoder``/``Decoder``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pixforge.hookspecs import Register, hookimpl
from pixforge.lazy import lazy_exports
from pixforge.weights import WeightEntry

from .catalog import weight_entries

__all__ = ["DVAEGenerator", "DVAESettings"]
__getattr__ = lazy_exports(__name__, {"DVAEGenerator": ".generator", "DVAESettings": ".generator"})


@hookimpl
def register_generators(register: Register) -> None:
    from .generator import DVAEGenerator

    register("dvae", DVAEGenerator)


@hookimpl
def register_weights(register: Callable[[WeightEntry], None]) -> None:
    for entry in weight_entries():
        register(entry)


@hookimpl
def register_trainers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    from .zoo import train_tiny_dvae

    register("tiny-dvae", train_tiny_dvae)
