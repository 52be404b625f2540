"""The yardstick for ``bench/vs_reference.py``: a VQGAN+CLIP loop written the way VQGAN-CLIP's generate.py writes it.

Our own code, modelled on nerdyrodent/VQGAN-CLIP's ``generate.py`` with its defaults: cut method
``latest`` (each of ``cutn`` cutouts is the whole image squeezed by ``(avg pool + max pool) / 2``, built
one by one in a Python loop), the augment list ``Af Pe Ji Er`` applied to the batch as an ``nn.Sequential``
of kornia ops, noise ``U(0, 0.1) * N(0, 1)`` per cutout, one CLIP, the spherical-distance prompt loss,
Adam (lr 0.1) on ``z``, ``z`` clamped to the codebook's range after each step, models in
``eval().requires_grad_(False)``, the ``tqdm`` bar, and its check-in every ``display_freq`` (50) steps: the
losses printed, the image decoded again under ``inference_mode`` and saved as a PNG with a comment.

The CLIP is OpenAI's own module code (``clip/model.py`` of the ``clip`` package generate.py imports,
installed as ``clip-anytorch``): sequence-first attention, QuickGELU, LayerNorms that compute in fp32.
``openai_clip`` builds it from a state dict in OpenAI's layout, as ``clip.load`` does. What still differs
from generate.py, and why it does not change the work of a step:

- the models come from files or seeds the benchmark shares with pixforge, not from ``clip.load`` and
  ``load_vqgan_model`` (the same modules; ``clip.load`` on a CPU rounds the weights through fp16 and
  back, which changes values, not operations; pixforge's VQAutoencoder holds taming's own Encoder,
  Decoder and VectorQuantizer2 under VQModel's attribute names);
- ``torch.manual_seed`` is called by the caller before the loop is built, so ``z``'s random codes are
  seeded (generate.py seeds only after drawing them);
- story mode, zoom video, init images and the other optimisers are not modelled (off by default).

It takes already built models so that both loops of a benchmark run the very same weights, and it uses
only the taming, open_clip and OpenAI CLIP modules themselves (never pixforge's code paths).
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

import kornia.augmentation as K
import torch
import torch.nn.functional as F
from PIL import PngImagePlugin
from torch import nn, optim
from torchvision import transforms
from torchvision.transforms import functional as TF
from tqdm import tqdm


#: the normalisation generate.py gives OpenAI's CLIP (torchvision's Normalize)
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def clip_package_dir() -> Path:
    """The folder of the installed ``clip`` package (OpenAI's CLIP code, installed as clip-anytorch)."""
    spec = importlib.util.find_spec("clip")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("bench: the reference needs OpenAI's CLIP code: pip install clip-anytorch")
    return Path(next(iter(spec.submodule_search_locations)))


def openai_clip_module():
    """``clip/model.py`` from the installed ``clip`` package (clip-anytorch), loaded alone.

    The package's ``__init__`` imports ``pkg_resources``, which setuptools ≥ 81 no longer ships; the model
    code needs only torch and numpy.
    """
    path = clip_package_dir() / "model.py"
    module_spec = importlib.util.spec_from_file_location("openai_clip_model", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def openai_clip(state_dict: dict[str, torch.Tensor], fp16: bool = False) -> nn.Module:
    """OpenAI's CLIP built for ``state_dict`` as ``clip.load`` builds it (fp16 on a GPU, float on a CPU).

    ``build_model`` rounds the weights to fp16; reloading ``state_dict`` afterwards keeps the exact values
    that the other loop of a benchmark runs. fp16 goes through the module's own ``convert_weights``, as
    ``build_model`` does: convolutions, linears, attention and projections in fp16, LayerNorms and
    embeddings in float32 (a blanket ``.half()`` breaks OpenAI's LayerNorm, which computes in float32).
    """
    module = openai_clip_module()
    model = module.build_model({k: v.clone() for k, v in state_dict.items()})
    model.float().load_state_dict(state_dict, strict=False)
    if fp16:
        module.convert_weights(model)
    return model


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
        display_freq: int = 50,
        output: str | Path | None = None,
        progress: bool = True,
    ) -> None:
        self.vq = vq.eval().requires_grad_(False).to(device)
        self.clip = clip.eval().requires_grad_(False).to(device)
        #: the dtype the CLIP takes (OpenAI's clip.load gives generate.py a float16 model on a GPU)
        self.clip_dtype = next(m.weight.dtype for m in self.clip.visual.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
        self.make_cutouts = MakeCutouts(cut_size, cutn).to(device)
        #: torchvision's Normalize, as generate.py uses it (it makes its mean and std tensors on every call)
        self.normalize = transforms.Normalize(mean=list(mean), std=list(std))
        f = 2 ** (self.vq.decoder.num_resolutions - 1)
        toks_x, toks_y = width // f, height // f
        codebook = self.vq.quantize.embedding.weight
        self.codebook = codebook
        e_dim, n_toks = codebook.shape[1], codebook.shape[0]
        one_hot = F.one_hot(torch.randint(n_toks, [toks_y * toks_x], device=device), n_toks).float()
        z = (one_hot @ codebook).view([-1, toks_y, toks_x, e_dim]).permute(0, 3, 1, 2)
        self.z = z.requires_grad_(True)  # non-contiguous, as generate.py's
        self.z_min = codebook.min(dim=0).values[None, :, None, None]
        self.z_max = codebook.max(dim=0).values[None, :, None, None]
        self.opt = optim.Adam([self.z], lr=lr)
        with torch.no_grad():
            tokens = tokenizer([prompt]).to(device)
            embed = self.clip.encode_text(tokens).float()
        self.prompts = [Prompt(embed, 1.0, float("-inf")).to(device)]
        self.prompt_text = [prompt]
        self.display_freq = display_freq
        self.output = Path(output) if output else Path(tempfile.gettempdir(), f"reference-loop-{id(self)}.png")
        self.i = 0
        self.bar = tqdm(file=sys.stderr, disable=not progress)

    def synth(self) -> torch.Tensor:
        z_q = vector_quantize(self.z.movedim(1, 3), self.codebook).movedim(3, 1)
        decoded = self.vq.decoder(self.vq.post_quant_conv(z_q))  # taming's VQModel.decode
        return clamp_with_grad(decoded.add(1).div(2), 0, 1)

    def ascend_txt(self) -> list[torch.Tensor]:
        out = self.synth()
        views = self.normalize(self.make_cutouts(out))
        # OpenAI's encode_image casts to its own dtype; an open_clip model (the tiny CLIPs) is cast here
        views = views if views.dtype == self.clip_dtype else views.to(self.clip_dtype)
        iii = self.clip.encode_image(views).float()
        return [prompt(iii) for prompt in self.prompts]

    @torch.inference_mode()
    def checkin(self, losses: list[torch.Tensor]) -> None:
        """generate.py's ``checkin``: print the losses, decode ``z`` again and save it with a PNG comment."""
        losses_str = ", ".join(f"{loss.item():g}" for loss in losses)
        tqdm.write(f"i: {self.i}, loss: {sum(losses).item():g}, losses: {losses_str}", file=sys.stderr)
        out = self.synth()
        info = PngImagePlugin.PngInfo()
        info.add_text("comment", f"{self.prompt_text}")
        TF.to_pil_image(out[0].float().cpu()).save(self.output, pnginfo=info)

    def step(self) -> None:
        """generate.py's ``train(i)`` and its loop's counter and bar."""
        self.opt.zero_grad(set_to_none=True)
        losses = self.ascend_txt()
        if self.display_freq and self.i % self.display_freq == 0:
            self.checkin(losses)
        loss = sum(losses)
        loss.backward()
        self.opt.step()
        with torch.inference_mode():
            self.z.copy_(self.z.maximum(self.z_min).minimum(self.z_max))
        self.i += 1
        self.bar.update()
