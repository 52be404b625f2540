"""What the tiny models' training scripts share: a seeded stream of world images, random crops, the
learning-rate schedule and PSNR. The tiny VQGAN and the tiny dVAE train the same way on the same world."""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F


def world_batches(batch: int, seed: int, size: int) -> Iterator[torch.Tensor]:
    """An endless seeded stream of jittered world images ``[batch, 3, size, size]``."""
    from .world import batches

    for images, _ in batches(10**12, seed, size, batch):
        yield images


def random_crops(images: torch.Tensor, side: int, gen: torch.Generator) -> torch.Tensor:
    """One random ``side``×``side`` window of each image (crops train 4× cheaper at half the side)."""
    limit = images.shape[-1] - side + 1
    offsets = torch.randint(limit, (len(images), 2), generator=gen).tolist()
    return torch.stack([image[:, y : y + side, x : x + side] for image, (y, x) in zip(images, offsets, strict=True)])


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio of 0..1 images, in dB."""
    mse = F.mse_loss(a.clamp(0, 1), b.clamp(0, 1)).item()
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def learning_rate(base: float, progress: float, warmup: float = 0.02) -> float:
    """Linear warm-up, then a cosine down to 5% of ``base`` as ``progress`` goes 0 → 1."""
    if progress < warmup:
        return base * max(progress / warmup, 0.02)
    t = min(1.0, (progress - warmup) / (1 - warmup))
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


def time_box_parser(description: str, minutes: float) -> argparse.ArgumentParser:
    """The command line every time-boxed trainer takes: ``--minutes``, ``--seed``, ``--out``, ``--max-steps``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--minutes", type=float, default=minutes)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--max-steps", type=int, default=None)
    return parser
