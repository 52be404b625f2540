"""Starting pictures for generators that encode them (and for training their models): smooth random
gradients and pixel noise."""

from __future__ import annotations

import math

import torch


def gradient_images(n: int, height: int, width: int, gen: torch.Generator | None = None) -> torch.Tensor:
    """``n`` linear two-colour gradients at random angles, ``[n, 3, height, width]`` in 0..1.

    Randomness comes from ``gen``, or torch's default generator (which the pipeline seeds per render).
    """
    ys = (torch.arange(height, dtype=torch.float32) + 0.5) / height - 0.5
    xs = (torch.arange(width, dtype=torch.float32) + 0.5) / width - 0.5
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    theta = 2 * math.pi * torch.rand(n, 1, 1, generator=gen)
    t = (torch.cos(theta) * gx + torch.sin(theta) * gy) / math.sqrt(0.5) + 0.5
    start, end = torch.rand(n, 3, 1, 1, generator=gen), torch.rand(n, 3, 1, 1, generator=gen)
    return (start + (end - start) * t[:, None]).clamp(0, 1)


def pixel_noise(n: int, height: int, width: int, gen: torch.Generator | None = None) -> torch.Tensor:
    """Uniform random pixels, ``[n, 3, height, width]``."""
    return torch.rand(n, 3, height, width, generator=gen)
