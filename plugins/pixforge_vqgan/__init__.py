"""First-party generator ``vqgan``: optimises a taming VQGAN latent (VQGAN-CLIP style).

Ships a tiny VQGAN trained on the zoo's synthetic world (the default model) and registers the published
checkpoints by name (``imagenet_f16_16384``, ``openimages_f8_8192``, ...) in the weight registry, so a
render downloads them on first use; they load without Lightning.
"""

from __future__ import annotations

from collections.abc import Callable

from pixforge.hookspecs import Register, hookimpl
from pixforge.lazy import lazy_exports
from pixforge.weights import WeightEntry

from .catalog import weight_entries

__all__ = ["VQGANGenerator", "VQGANSettings"]
__getattr__ = lazy_exports(__name__, {"VQGANGenerator": ".generator", "VQGANSettings": ".generator"})


@hookimpl
def register_generators(register: Register) -> None:
    from .generator import VQGANGenerator

    register("vqgan", VQGANGenerator)


@hookimpl
def register_weights(register: Callable[[WeightEntry], None]) -> None:
    for entry in weight_entries():
        register(entry)


@hookimpl
def register_trainers(register) -> None:
    from .zoo import train_tiny_vqgan

    register("tiny-vqgan", train_tiny_vqgan)
