"""Fitting a generator's parameters to a picture by a few steps of pixel MSE.

A generator that cannot encode a picture (a handful of shapes, a set of strokes) can still start near one:
staged renders hand each stage the upsampled result of the last, and this is how such a generator takes it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError
from .numerics import stable_mse
from .optim import ParamGroup
from .seeding import seeded


def as_canvas(image: torch.Tensor, width: int, height: int, device: torch.device | None = None) -> torch.Tensor:
    """``image`` ([1|B, 1|3, h, w] or [3, h, w], 0..1) as ``[1, 3, height, width]``, resized (antialiased) when
    its size differs; a picture that is not one or three channels is a ConfigError."""
    if image.dim() == 3:
        image = image.unsqueeze(0)
    if image.dim() != 4:
        raise ConfigError(f"an image to start from must be [1, 3, H, W], got shape {list(image.shape)}")
    image = image[:1].float()
    if device is not None:
        image = image.to(device)
    if image.shape[1] == 1:
        image = image.expand(1, 3, *image.shape[-2:])
    if image.shape[1] != 3:
        raise ConfigError(f"an image to start from needs 3 colour channels, got {image.shape[1]}")
    if tuple(image.shape[-2:]) != (height, width):
        image = F.interpolate(image, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return image.clamp(0.0, 1.0)


def fit_to_image(
    generator: nn.Module, target: torch.Tensor, groups: list[ParamGroup], steps: int, lr: float, seed: int
) -> float:
    """Adam on ``groups`` (each at its own rate, else ``lr``) for ``steps`` steps of MSE between ``generator()``
    and ``target``; the last loss.

    The random draws a generator makes while rendering (Gumbel noise, say) come from a generator seeded
    with ``seed`` and the caller's random state is left as it was, so the same call gives the same bytes.
    """
    if steps < 0:
        raise ConfigError(f"from_image steps must be 0 or more, got {steps}")
    loss = torch.zeros(())
    with seeded(seed, target.device):
        optimiser = torch.optim.Adam(
            [{"params": g.params, "lr": g.lr if g.lr is not None else lr} for g in groups if g.params], lr=lr
        )
        for _ in range(steps):
            optimiser.zero_grad(set_to_none=True)
            loss = stable_mse(generator()[:1], target)
            loss.backward()
            optimiser.step()
            after_step = getattr(generator, "after_step", None)
            if after_step is not None:
                with torch.no_grad():
                    after_step()
        for group in groups:
            for param in group.params:
                param.grad = None
    return float(loss.detach())
