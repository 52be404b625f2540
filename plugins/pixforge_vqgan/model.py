"""A taming VQGAN autoencoder without pytorch-lightning.

The attribute names (``encoder``, ``decoder``, ``quantize``, ``quant_conv``, ``post_quant_conv``) match
taming's ``VQModel``/``GumbelVQ``, so their state dicts (less ``loss.*``) load with ``strict=True``; the
modules themselves come from taming, so the numbers are the published ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import fast_decode
from .spec import VQSpec


def _quiet(*args: object, **kwargs: object) -> None:
    """``print`` inside taming's model module: it only reports shapes while a model is built."""


class VQAutoencoder(nn.Module):
    """Encoder → quantiser → decoder, with the pieces a generator needs exposed one by one.

    Images enter and leave in 0..1; taming's own range (-1..1) stays inside this class.
    """

    def __init__(self, spec: VQSpec) -> None:
        super().__init__()
        from taming.modules.diffusionmodules import model as taming_model
        from taming.modules.vqvae.quantize import GumbelQuantize, VectorQuantizer2

        # taming's Decoder prints its z shape; silencing it by swapping sys.stdout would race with other
        # threads and could leave the whole process's stdout replaced, so that one module's print is a no-op
        taming_model.print = _quiet
        self.spec = spec
        self.encoder = taming_model.Encoder(**spec.ddconfig)
        self.decoder = taming_model.Decoder(**spec.ddconfig)
        z = spec.z_channels
        if spec.kind == "gumbel":
            self.quantize: nn.Module = GumbelQuantize(z, spec.embed_dim, n_embed=spec.n_embed, kl_weight=1e-8)
        else:
            self.quantize = VectorQuantizer2(spec.n_embed, spec.embed_dim, beta=0.25)
        self.quant_conv = nn.Conv2d(z, spec.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(spec.embed_dim, z, 1)
        if spec.colorize_nlabels is not None:
            self.register_buffer("colorize", torch.randn(3, int(spec.colorize_nlabels), 1, 1))

    @property
    def codebook(self) -> torch.Tensor:
        """``[n_embed, embed_dim]`` code vectors."""
        return self.quantize.embed.weight if self.spec.kind == "gumbel" else self.quantize.embedding.weight

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """0..1 images → the latent a generator optimises: pre-quantisation vectors, or Gumbel logits."""
        h = fast_decode.encode(self.encoder, self.quant_conv, images * 2.0 - 1.0)
        return self.quantize.proj(h) if self.spec.kind == "gumbel" else h

    def decode(self, z_q: torch.Tensor, channels_last: bool = False, checkpointing: bool = False) -> torch.Tensor:
        """Quantised ``[B, embed_dim, h, w]`` → float32 images, nominally 0..1 (not clamped).

        Through taming's decoder with a fused activation (see ``fast_decode``): the same image, faster;
        ``channels_last`` pays off for wide decoders; ``checkpointing`` recomputes each block in the backward
        pass instead of keeping its activations (less memory, more time).
        """
        decoded = fast_decode.decode(self.post_quant_conv, self.decoder, z_q, channels_last, checkpointing)
        return (decoded.float() + 1.0) / 2.0

    def codes_to_latent(self, codes: torch.Tensor) -> torch.Tensor:
        """``[B, h, w]`` token indices → their code vectors ``[B, embed_dim, h, w]``."""
        return F.embedding(codes, self.codebook).permute(0, 3, 1, 2).contiguous()

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstruct ``images`` (0..1) through the nearest codes → (reconstruction, token indices)."""
        from .quantize import gumbel_quantize, nearest_codes

        z = self.encode(images)
        if self.spec.kind == "gumbel":
            z_q, codes = gumbel_quantize(z, self.codebook)
        else:
            codes = nearest_codes(z, self.codebook)
            z_q = self.codes_to_latent(codes)
        return self.decode(z_q), codes


def frozen(model: nn.Module) -> nn.Module:
    """``model`` in eval mode with no parameter requiring gradients."""
    return model.eval().requires_grad_(False)
