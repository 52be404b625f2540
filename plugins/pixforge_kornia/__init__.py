"""First-party plugin: the kornia augmentations applied to cutouts (affine, perspective, color_jitter, ...).

It registers through the ``pixforge`` entry point like any third-party plugin would.
"""

from __future__ import annotations

from pixforge.hookspecs import Register, hookimpl

from .ops import AUGMENTATIONS


@hookimpl
def register_augmentations(register: Register) -> None:
    """Register every kornia augmentation under its config name."""
    for name, cls in AUGMENTATIONS.items():
        register(name, cls)
