"""Augmentation of the cutout batch: every op of a render chained into one kornia pipeline.

Augmenting the cutouts stops the generator from fooling the perceptor with pixel-exact
adversarial patterns: only features that survive small warps, colour shifts and noise pay off.
"""

from __future__ import annotations

import kornia.augmentation as K
from kornia.augmentation.base import _AugmentationBase
from torch import nn


def compose(modules: list[nn.Module]) -> nn.Module:
    """One ``AugmentationSequential`` over ``modules``, applied to the whole cutout batch in one call.

    Each op draws its own parameters per cutout, so one call augments every cutout differently.
    The chained transform matrix is never read, so it is not computed (``transformation_matrix_mode
    ="skip"``). An empty list gives ``nn.Identity()``: a render may run without augmentation.
    """
    if not modules:
        return nn.Identity()
    ops: list[_AugmentationBase | K.ImageSequential] = []
    for module in modules:
        if not isinstance(module, (_AugmentationBase, K.ImageSequential)):
            raise TypeError(
                f"augmentation op {module!r} is not a kornia augmentation module; an Augmentation's "
                "build() must return one (e.g. kornia.augmentation.RandomAffine)"
            )
        ops.append(module)
    return K.AugmentationSequential(*ops, data_keys=["input"], transformation_matrix_mode="skip")
