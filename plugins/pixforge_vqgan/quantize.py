"""Differentiable quantisation for optimising a VQGAN latent: the forward pass snaps to codes, gradients pass.

These are the VQGAN-CLIP tricks: nearest-code quantisation with a straight-through gradient, hard
one-hot codes over softmax logits for Gumbel models, and a clamp that lets gradients pull values back
into range instead of zeroing them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nearest_codes(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """``[B, C, h, w]`` vectors → ``[B, h, w]`` indices of the nearest code (Euclidean, as taming)."""
    flat = z.detach().permute(0, 2, 3, 1).reshape(-1, z.shape[1])
    book = codebook.detach()
    distances = flat.pow(2).sum(1, keepdim=True) + book.pow(2).sum(1) - 2.0 * flat @ book.T
    return distances.argmin(1).view(z.shape[0], z.shape[2], z.shape[3])


def straight_through_quantize(z: torch.Tensor, codebook: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest codes in the forward pass, identity gradient to ``z`` → (quantised ``[B, C, h, w]``, indices)."""
    codes = nearest_codes(z, codebook)
    z_q = F.embedding(codes, codebook).permute(0, 3, 1, 2)
    return z + (z_q - z).detach(), codes


def gumbel_quantize(
    logits: torch.Tensor, codebook: torch.Tensor, temperature: float = 1.0, noise: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``[B, n, h, w]`` → hard one-hot code embedding with the softmax's gradient → (z_q, indices).

    ``noise`` samples Gumbel noise from torch's default generator (gumbel-softmax); without it the
    forward pass takes the argmax, so a render's final image does not flicker.
    """
    if noise:
        soft = F.gumbel_softmax(logits, tau=temperature, dim=1, hard=False)
    else:
        soft = F.softmax(logits / temperature, dim=1)
    codes = soft.argmax(1)
    hard = F.one_hot(codes, logits.shape[1]).permute(0, 3, 1, 2).to(soft.dtype)
    one_hot = hard + soft - soft.detach()
    return torch.einsum("bnhw,nd->bdhw", one_hot, codebook), codes


class _ClampWithGrad(torch.autograd.Function):
    """Clamp whose gradient still flows where it would move a value back into range."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, low: float, high: float) -> torch.Tensor:  # type: ignore[override]
        ctx.low, ctx.high = low, high
        ctx.save_for_backward(x)
        return x.clamp(low, high)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        outside = x - x.clamp(ctx.low, ctx.high)
        return grad * (grad * outside >= 0), None, None


def clamp_with_grad(x: torch.Tensor, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    """``x.clamp(low, high)`` that keeps gradients which point back into range (and all gradients inside)."""
    return _ClampWithGrad.apply(x, low, high)
