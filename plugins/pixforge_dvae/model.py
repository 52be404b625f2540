"""A dVAE (DALL-E's discrete VAE) built from the ``dall-e`` package's Encoder/Decoder, with pixels in 0..1.

The package's encoder takes ``map_pixels`` input and returns token logits; its decoder takes a token
distribution and returns six channels, the logit-Laplace mean and log-scale of each colour: the image is
``unmap_pixels(sigmoid(mean))``. This wrapper hides both mappings, and reads the architecture from a
state dict's tensor shapes, so any dall-e-layout weights (OpenAI's, the tiny model's) load the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MethodType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from pixforge.numerics import pointwise
from pixforge.seeding import seeded

#: the package's downsampling factor: three 2× poolings, whatever the size of the model
FACTOR = 8
#: the seed of the throwaway random initialisation that loading overwrites
INIT_SEED = 0


class ClampWithGrad(torch.autograd.Function):
    """Clamp to ``[low, high]``, but let gradients through where they would pull a value back in range."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, low: float, high: float) -> torch.Tensor:  # type: ignore[override]
        ctx.low, ctx.high = low, high
        ctx.save_for_backward(x)
        return x.clamp(low, high)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        outward = ((x < ctx.low) & (grad > 0)) | ((x > ctx.high) & (grad < 0))
        return grad.masked_fill(outward, 0.0), None, None


def _blocks_per_group(state: Mapping[str, torch.Tensor]) -> int:
    found = {int(m.group(1)) for key in state if (m := re.match(r"blocks\.group_1\.block_(\d+)\.", key))}
    if not found:
        raise ValueError("no 'blocks.group_1.block_N' weights: not a dall-e encoder/decoder state dict")
    return max(found)


def encoder_config(state: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """The ``dall_e.Encoder`` arguments that fit ``state`` (read from its tensor shapes)."""
    n_hid, channels = state["blocks.input.w"].shape[:2]
    vocab = state["blocks.output.conv.w"].shape[0]
    return {"n_hid": int(n_hid), "n_blk_per_group": _blocks_per_group(state), "input_channels": int(channels),
            "vocab_size": int(vocab)}


def decoder_config(state: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """The ``dall_e.Decoder`` arguments that fit ``state`` (read from its tensor shapes)."""
    n_init, vocab = state["blocks.input.w"].shape[:2]
    out, n_hid = state["blocks.output.conv.w"].shape[:2]
    return {"n_init": int(n_init), "n_hid": int(n_hid), "n_blk_per_group": _blocks_per_group(state),
            "output_channels": int(out) // 2, "vocab_size": int(vocab)}


def make_encoder(**config: int) -> nn.Module:
    """A ``dall_e.Encoder``; its ``requires_grad`` argument is left alone (False has no effect, True crashes)."""
    from dall_e import Encoder

    return Encoder(**config)


def make_decoder(**config: int) -> nn.Module:
    """A ``dall_e.Decoder`` (see ``make_encoder``)."""
    from dall_e import Decoder

    return Decoder(**config)


def _load(module: nn.Module, state: Mapping[str, torch.Tensor]) -> nn.Module:
    module.load_state_dict({key: value.float() for key, value in state.items()}, strict=True)
    for conv in module.modules():
        if type(conv).__name__ == "Conv2d" and getattr(conv, "kw", None) == 1:
            conv.forward = MethodType(_pointwise_forward, conv)
    return module


def _pointwise_forward(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The package's 1x1 ``Conv2d.forward`` on a CPU as a matrix product, whose sums do not move with the
    thread count (``pixforge.numerics.pointwise``); on a GPU the package's own (half precision there)."""
    if x.is_cuda:
        return type(conv).forward(conv, x)
    return pointwise(x.float(), conv.w, conv.b)


def encoder_from_state(state: Mapping[str, torch.Tensor]) -> nn.Module:
    """A dall-e Encoder with ``state`` loaded strictly, built without shifting the caller's random stream."""
    with seeded(INIT_SEED):
        return _load(make_encoder(**encoder_config(state)), state)


def decoder_from_state(state: Mapping[str, torch.Tensor]) -> nn.Module:
    """A dall-e Decoder with ``state`` loaded strictly (see ``encoder_from_state``)."""
    with seeded(INIT_SEED):
        return _load(make_decoder(**decoder_config(state)), state)


def map_image(image: torch.Tensor) -> torch.Tensor:
    """0..1 pixels → the encoder's input range (the package's ``map_pixels``)."""
    from dall_e import map_pixels

    return map_pixels(image.float())


def decoded_pixels(stats: torch.Tensor, clamp: bool = True) -> torch.Tensor:
    """The decoder's six channels → 0..1 pixels: ``unmap_pixels(sigmoid(mean))``, gradients kept at the edges.

    ``clamp=False`` leaves the unmapped values unclamped (for training losses that must see overshoot).
    """
    from dall_e.utils import logit_laplace_eps

    mapped = torch.sigmoid(stats[:, :3].float())
    pixels = (mapped - logit_laplace_eps) / (1 - 2 * logit_laplace_eps)
    return ClampWithGrad.apply(pixels, 0.0, 1.0) if clamp else pixels


class DVAE(nn.Module):
    """A dall-e decoder (and, optionally, its encoder): token distributions ↔ images in 0..1."""

    factor = FACTOR

    def __init__(self, decoder: nn.Module, encoder: nn.Module | None = None) -> None:
        super().__init__()
        self.decoder = decoder
        self.encoder = encoder
        self.vocab_size = int(decoder.vocab_size)
        if encoder is not None and int(encoder.vocab_size) != self.vocab_size:
            raise ValueError(f"encoder vocabulary {encoder.vocab_size} ≠ decoder vocabulary {self.vocab_size}")

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` in 0..1 → token logits ``[B, V, H/8, W/8]``."""
        if self.encoder is None:
            raise ValueError("this dVAE was loaded without an encoder")
        return self.encoder(map_image(image)).float()

    def tokens(self, image: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` in 0..1 → the most likely tokens ``[B, H/8, W/8]``."""
        return self.encode(image).argmax(dim=1)

    def decode(self, distribution: torch.Tensor, checkpointing: bool = False) -> torch.Tensor:
        """Token distributions ``[B, V, h, w]`` → images ``[B, 3, 8h, 8w]`` in 0..1 (differentiable).

        ``checkpointing`` runs the decoder's block groups under ``torch.utils.checkpoint``: only each group's
        input is kept for the backward pass, which recomputes the rest (less memory, more time).
        """
        x = distribution.float()
        if not (checkpointing and torch.is_grad_enabled()):
            return decoded_pixels(self.decoder(x))
        if x.dim() != 4 or x.shape[1] != self.vocab_size:  # the checks dall-e's Decoder.forward makes
            raise ValueError(f"input shape {tuple(x.shape)} is not [B, {self.vocab_size}, h, w]")
        for group in self.decoder.blocks:
            x = checkpoint(group, x, use_reentrant=False)
        return decoded_pixels(x)

    def decode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens ``[B, h, w]`` → images, through their one-hot distributions."""
        one_hot = F.one_hot(tokens.long(), self.vocab_size).permute(0, 3, 1, 2).float()
        return self.decode(one_hot)


def frozen(model: nn.Module) -> nn.Module:
    """``model`` in eval mode with no parameter requiring gradients (dall-e's ``requires_grad=False`` does not)."""
    return model.eval().requires_grad_(False)
