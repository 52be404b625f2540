"""First-party plugin: the kornia augmentations applied to cutouts (affine, perspective, color_jitter, ...).

It registers through the ``pixforge`` entry point like any third-party plugin would.
"""

from __future__ import annotations

from pixforge.hookspecs import Register, hookimpl


@hookimpl
def register_augmentations(register: Register) -> None:
    """Register every kornia augmentation under its config name."""
    from .ops import AUGMENTATIONS  # kornia and torch: only when a registry is built

    for name, cls in AUGMENTATIONS.items():
        register(name, cls)
