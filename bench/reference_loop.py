"""The yardstick for ``bench/vs_reference.py``: a VQGAN+CLIP loop written the way VQGAN-CLIP's generate.py writes it.

Our own code, modelled on nerdyrodent/VQGAN-CLIP's ``generate.py`` with its defaults: cut method
``latest`` (each of ``cutn`` cutouts is the whole image squeezed by ``(avg pool + max pool) / 2``, built
one by one in a Python loop), the augment list ``Af Pe Ji Er`` applied to the batch as an ``nn.Sequential``
of kornia ops, noise ``U(0, 0.1) * N(0, 1)`` per cutout, one CLIP, the spherical-distance prompt loss,
Adam (lr 0.1) on ``z``, ``z`` clamped to the codebook's range after each step, models in
``eval().requires_grad_(False)``. It leaves out what generate.py does only for display (its per-step
copy of the image to numpy), which would only slow it down.

It takes already built models so that both loops of a benchmark run the very same weights, and it uses
only the taming and open_clip modules themselves (never pixforge's code paths).
"""

from __future__ import annotations

import kornia.augmentation as K
import torch
import torch.nn.functional as F
from torch import nn, optim


class ReplaceGrad(torch.autograd.Function):
    """Forward the first tensor, send the gradient to the second (generate.py's ``replace_grad``)."""

    @staticmethod
    def forward(ctx, x_forward, x_backward):  # type: ignore[override]
        ctx.shape = x_backward.shape
        return x_forward

    @staticmethod
    def backward(ctx, grad_in):  # type: ignore[override]
        return None, grad_in.sum_to_size(ctx.shape)


class ClampWithGrad(torch.autograd.Function):
    """Clamp whose gradient still flows where it would move a value back into range."""

    @staticmethod
    def forward(ctx, x, low, high):  # type: ignore[override]
        ctx.low, ctx.high = low, high
        ctx.save_for_backward(x)
        return x.clamp(low, high)

    @staticmethod
    def backward(ctx, grad_in):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_in * (grad_in * (x - x.clamp(ctx.low, ctx.high)) >= 0), None, None


replace_grad = ReplaceGrad.apply
clamp_with_grad = ClampWithGrad.apply


def vector_quantize(x: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Nearest code per vector (last dim), straight-through: a one-hot matmul as generate.py does it."""
    d = x.pow(2).sum(dim=-1, keepdim=True) + codebook.pow(2).sum(dim=1) - 2 * x @ codebook.T
    indices = d.argmin(-1)
    x_q = F.one_hot(indices, codebook.shape[0]).to(d.dtype) @ codebook
    return replace_grad(x_q, x)


class Prompt(nn.Module):
    """Weighted spherical distance from every cutout embedding to one prompt embedding, with a stop."""

    def __init__(self, embed: torch.Tensor, weight: float = 1.0, stop: float = float("-inf")) -> None:
        super().__init__()
        self.register_buffer("embed", embed)
        self.register_buffer("weight", torch.as_tensor(weight))
        self.register_buffer("stop", torch.as_tensor(stop))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_normed = F.normalize(x.unsqueeze(1), dim=2)
        embed_normed = F.normalize(self.embed.unsqueeze(0), dim=2)
        dists = x_normed.sub(embed_normed).norm(dim=2).div(2).arcsin().pow(2).mul(2)
        dists = dists * self.weight.sign()
        return self.weight.abs() * replace_grad(dists, torch.maximum(dists, self.stop)).mean()


def augment_list() -> list[nn.Module]:
    """generate.py's default ``-aug Af Pe Ji Er``, with its parameters, in its order."""
    return [
        K.RandomAffine(degrees=15, translate=0.1, shear=5, p=0.7, padding_mode="zeros", keepdim=True),
        K.RandomPerspective(distortion_scale=0.7, p=0.7),
        K.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1, hue=0.1, p=0.7),
        K.RandomErasing(scale=(0.1, 0.4), ratio=(0.3, 1 / 0.3), same_on_batch=True, p=0.7),
    ]


class MakeCutouts(nn.Module):
    """Cut method ``latest``: ``cutn`` pooled whole-image cutouts, one by one, then the augment list and noise."""

    def __init__(self, cut_size: int, cutn: int) -> None:
        super().__init__()
        self.cutn = cutn
        self.augs = nn.Sequential(*augment_list())
        self.noise_fac = 0.1
        self.av_pool = nn.AdaptiveAvgPool2d((cut_size, cut_size))
        self.max_pool = nn.AdaptiveMaxPool2d((cut_size, cut_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cutouts = []
        for _ in range(self.cutn):
            cutouts.append((self.av_pool(x) + self.max_pool(x)) / 2)
        batch = self.augs(torch.cat(cutouts, dim=0))
        if self.noise_fac:
            facs = batch.new_empty([self.cutn, 1, 1, 1]).uniform_(0, self.noise_fac)
            batch = batch + facs * torch.randn_like(batch)
        return batch


class ReferenceLoop:
    """One render's state: ``z``, its optimiser, the prompt; ``step()`` runs one iteration of generate.py's ``train``.

    ``vq`` has taming's ``decoder``, ``post_quant_conv`` and ``quantize.embedding`` (a taming VQModel or
    pixforge's VQAutoencoder, whose modules are taming's); ``clip`` is an open_clip model.
    """

    def __init__(
        self,
        vq: nn.Module,
        clip: nn.Module,
        tokenizer,
        mean: tuple[float, float, float],
        std: tuple[float, float, float],
        cut_size: int,
        width: int,
        height: int,
        cutn: int,
        prompt: str,
        lr: float = 0.1,
        device: torch.device | str = "cpu",
    ) -> None:
        self.vq = vq.eval().requires_grad_(False).to(device)
        self.clip = clip.eval().requires_grad_(False).to(device)
        #: the dtype the CLIP takes (OpenAI's clip.load gives generate.py a float16 model on a GPU)
        self.clip_dtype = next(m.weight.dtype for m in self.clip.visual.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
        self.make_cutouts = MakeCutouts(cut_size, cutn).to(device)
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1)
        f = 2 ** (self.vq.decoder.num_resolutions - 1)
        toks_x, toks_y = width // f, height // f
        codebook = self.vq.quantize.embedding.weight
        self.codebook = codebook
        e_dim, n_toks = codebook.shape[1], codebook.shape[0]
        one_hot = F.one_hot(torch.randint(n_toks, [toks_y * toks_x], device=device), n_toks).float()
        z = (one_hot @ codebook).view([-1, toks_y, toks_x, e_dim]).permute(0, 3, 1, 2)
        self.z = z.contiguous().requires_grad_(True)
        self.z_min = codebook.min(dim=0).values[None, :, None, None]
        self.z_max = codebook.max(dim=0).values[None, :, None, None]
        self.opt = optim.Adam([self.z], lr=lr)
        with torch.no_grad():
            tokens = tokenizer([prompt]).to(device)
            embed = self.clip.encode_text(tokens).float()
        self.prompts = [Prompt(embed, 1.0, float("-inf")).to(device)]

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def synth(self) -> torch.Tensor:
        z_q = vector_quantize(self.z.movedim(1, 3), self.codebook).movedim(3, 1)
        decoded = self.vq.decoder(self.vq.post_quant_conv(z_q))  # taming's VQModel.decode
        return clamp_with_grad(decoded.add(1).div(2), 0, 1)

    def ascend_txt(self) -> list[torch.Tensor]:
        out = self.synth()
        iii = self.clip.encode_image(self.normalize(self.make_cutouts(out)).to(self.clip_dtype)).float()
        return [prompt(iii) for prompt in self.prompts]

    def step(self) -> torch.Tensor:
        self.opt.zero_grad(set_to_none=True)
        loss = sum(self.ascend_txt())
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            self.z.copy_(self.z.maximum(self.z_min).minimum(self.z_max))
        return loss.detach()
