"""Held-out reconstruction quality of a dVAE: image → argmax tokens → image, on world images it never saw.

The round trip uses hard tokens (what an init image or a token grid decodes), not the training relaxation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .model import DVAE

#: the world seed the evaluation draws from; training uses seed 0 (and its own generator for crops)
HELD_OUT_SEED = 12345


@dataclass(frozen=True)
class Reconstruction:
    """What a held-out round trip measured."""

    images: int
    #: PSNR of the mean squared error over all images, in dB
    psnr: float
    #: mean of the per-image PSNRs, in dB
    psnr_per_image: float
    tokens_used: int
    vocab_size: int
    #: exp(entropy) of the token histogram: how many tokens are effectively in use
    perplexity: float


def _psnr(mse: float) -> float:
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def reconstruction(model: DVAE, n: int = 500, seed: int = HELD_OUT_SEED, size: int = 64,
                   batch: int = 100) -> Reconstruction:
    """Round-trip ``n`` jittered world images of side ``size`` (from ``seed``) through ``model``'s tokens."""
    from pixforge_zoo.world import batches

    counts = torch.zeros(model.vocab_size)
    errors: list[float] = []
    with torch.no_grad():
        for images, _ in batches(n, seed, size, batch):
            tokens = model.tokens(images)
            counts += torch.bincount(tokens.flatten(), minlength=model.vocab_size).float()
            recon = model.decode_tokens(tokens)
            errors += ((recon - images) ** 2).mean(dim=(1, 2, 3)).tolist()
    probs = counts[counts > 0] / counts.sum()
    return Reconstruction(
        images=len(errors),
        psnr=_psnr(sum(errors) / len(errors)),
        psnr_per_image=sum(_psnr(e) for e in errors) / len(errors),
        tokens_used=int((counts > 0).sum()),
        vocab_size=model.vocab_size,
        perplexity=math.exp(-(probs * probs.log()).sum().item()),
    )


def reconstruction_grid(model: DVAE, n: int = 8, seed: int = HELD_OUT_SEED, size: int = 64) -> torch.Tensor:
    """``[3, 2·size, n·size]``: ``n`` held-out images on top, their token round trips below (a README figure)."""
    from pixforge_zoo.world import batches

    images, _ = next(batches(n, seed, size, n))
    with torch.no_grad():
        recon = model.decode_tokens(model.tokens(images))
    rows = [torch.cat(list(row), dim=-1) for row in (images, recon)]
    return torch.cat(rows, dim=-2)
