"""First-party generator ``vqgan``: optimises a taming VQGAN latent (VQGAN-CLIP style).

Ships a tiny VQGAN trained on the zoo's synthetic world (the default model) and knows the published
checkpoints by name (``imagenet_f16_16384``, ``openimages_f8_8192``, ...), loading them without Lightning.
"""

from __future__ import annotations

from pixforge.hookspecs import Register, hookimpl

from .generator import VQGANGenerator, VQGANSettings

__all__ = ["VQGANGenerator", "VQGANSettings"]


@hookimpl
def register_generators(register: Register) -> None:
    register("vqgan", VQGANGenerator)


@hookimpl
def register_trainers(register) -> None:
    from .zoo import train_tiny_vqgan

    register("tiny-vqgan", train_tiny_vqgan)
