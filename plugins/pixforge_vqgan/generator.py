"""The ``vqgan`` generator: optimise a VQGAN latent, quantise it to the codebook, decode it (VQGAN-CLIP style).

The latent ``z`` is ``[1, C, H/f + 2m, W/f + 2m]``: code vectors for a VQ model (quantised to the
nearest code with a straight-through gradient), or logits over the codebook for a Gumbel model (a hard
one-hot with the softmax's gradient). The ``m`` latent cells beyond each edge are decoded and cropped
away, because a decoder's outermost pixels are its worst (zero padding): the canvas shows only interior.
The decoder is frozen and shared through the model cache; only ``z`` trains.

A seamless render (``--tile``) wraps the canvas around. By default (``wrap: latent``) ``z`` holds the
canvas's cells only and its ``wrap_margin`` cells beyond each side are copies of the opposite edge's (circular
padding of the quantised latent), decoded by the model as it was trained and cropped, so each edge is drawn
beside what it meets in a tiling. ``wrap: convolutions`` pads every convolution of a copy of the decoder
circularly instead: exactly periodic, but a decoder trained with zero padding may not draw well that way
(the shipped tiny one turns a clean picture to noise: mean error 0.29 against 0.08 for its own encoding).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from pixforge.canvas import round_to_multiple
from pixforge.components import BuildContext, Generator
from pixforge.errors import ConfigError
from pixforge.noise import gradient_images, pixel_noise
from pixforge.precision import autocast_for
from pixforge.seamless import circular_copy
from pixforge.settings import StrictModel
from pixforge.transparency import AlphaMap
from pixforge.weights import WeightEntry

from .loading import ModelFiles, factor_for, load_model, resolve
from .model import VQAutoencoder
from .quantize import clamp_with_grad, gumbel_quantize, straight_through_quantize

#: decoders at least this wide (base channels) decode channels-last unless the settings say otherwise
CHANNELS_LAST_WIDTH = 64


def is_wide(model: VQAutoencoder) -> bool:
    """Whether ``model``'s decoder is wide enough to decode channels-last by default."""
    return int(model.spec.ddconfig["ch"]) >= CHANNELS_LAST_WIDTH


def decoder_in_layout(model: VQAutoencoder, channels_last: bool) -> VQAutoencoder:
    """``model`` with its decoder's weights stored channels-last or contiguous, in place. oneDNN reorders a
    contiguous weight on every call with channels-last activations (a VQGAN f16 step at 128 px spent ~50 ms
    copying weights); a stored channels-last weight gives the same bytes without the copies."""
    model.decoder.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    return model


def decoder_in_its_layout(model: VQAutoencoder) -> VQAutoencoder:
    """``model`` with its decoder's weights in the layout its width decodes in by default."""
    return decoder_in_layout(model, channels_last=is_wide(model))


#: logit of the chosen code over the others when a Gumbel latent starts from random codes
RANDOM_CODE_LOGIT = 2.0


class VQGANSettings(StrictModel):
    """Which model, and what the latent starts from."""

    #: a registered VQGAN (``tiny``, ``imagenet_f16_16384``, ...; see ``pixforge models list``): a published
    #: one is downloaded into the cache on first use; None: ``tiny`` unless ``config`` is given, when it is
    #: only a label
    model: str | None = None
    #: a taming model config (yaml, the published layout) and its weights (.ckpt/.pt or .safetensors)
    config: str | None = None
    checkpoint: str | None = None
    #: allow a full unpickle of a torch checkpoint that needs one and that no registry SHA-256 vouches for
    #: (it can run code: only for files you trust)
    trust_checkpoint: bool = False
    #: random_codes: random tokens' embeddings (VQGAN-CLIP); pixels: random pixel noise, encoded;
    #: gradient: a smooth random two-colour gradient, encoded. An init image overrides it.
    init: Literal["random_codes", "pixels", "gradient"] = "random_codes"
    #: latent cells decoded beyond each canvas edge and cropped away, hiding the decoder's border artefacts
    margin: int = Field(1, ge=0, le=8)
    #: how a seamless render (``--tile``) wraps around: latent: ``wrap_margin`` cells beyond each edge repeat
    #: the opposite edge's (the decoder as trained; nearly periodic); convolutions: every decoder convolution
    #: pads circularly (exactly periodic, no margin; a decoder trained with zero padding may draw noise)
    wrap: Literal["latent", "convolutions"] = "latent"
    #: ``wrap: latent``: the cells copied beyond each edge (more: nearer periodic, a larger decode)
    wrap_margin: int = Field(3, ge=1, le=8)
    #: Gumbel models only: softmax temperature of the code logits
    temperature: float = Field(1.0, gt=0)
    #: Gumbel models only: sample codes with Gumbel noise each step instead of taking the argmax
    gumbel_noise: bool = False
    #: decode in channels-last memory layout: faster convolutions for wide decoders; None: when the decoder's
    #: base width is at least 64 channels (the published models gain ~3 % a step on a CPU, the shipped tiny
    #: one, 32 channels wide, loses ~6 %)
    channels_last: bool | None = None
    #: the decoder's arithmetic: fp32, or float32 weights under torch.autocast (amp_bf16/amp_fp16: less memory
    #: and faster on GPUs; on a CPU without AMX, bf16 is slower than fp32). The image is float32 either way
    precision: Literal["fp32", "amp_bf16", "amp_fp16"] = "fp32"
    #: gradient checkpointing: the decoder keeps only each block's input and recomputes the rest during the
    #: backward pass, so a step needs less memory (large canvases) and takes longer (about one more forward)
    checkpointing: bool = False

    @model_validator(mode="after")
    def _check(self) -> VQGANSettings:
        if (self.config is None) != (self.checkpoint is None):
            raise ValueError("'config' and 'checkpoint' go together: give both paths, or neither and a 'model' name")
        return self


def cache_key(files: ModelFiles, trust: bool, device: torch.device) -> tuple[Any, ...]:
    """What makes two loaded models interchangeable (aliases of one model share an entry)."""
    return ("vqgan", str(files.config), str(files.checkpoint), trust, str(device))


class VQGANGenerator(Generator[VQGANSettings]):
    """A latent ``z`` decoded by a frozen taming VQGAN; ``forward`` renders ``[1, 3, H, W]`` in 0..1."""

    Settings = VQGANSettings
    description = "a taming VQGAN latent, quantised to its codebook and decoded (VQGAN-CLIP; tiny model by default)"
    #: the default (tiny) model's factor; use ``size_multiple_for(settings)`` for the chosen model's
    size_multiple = 8
    supports_alpha = True

    @classmethod
    def size_multiple_for(cls, settings: VQGANSettings, weights: Mapping[str, WeightEntry] | None = None) -> int:
        """The chosen model's downsampling factor, found without loading (or downloading) its weights: from
        an explicit config, or the registry entry's recorded ``factor`` (any plugin's; this plugin's own
        entries when no registry is given). Unknown: the default, and the generator rounds the canvas to
        the model's own factor when it is built."""
        return factor_for(settings.model, settings.config, weights) or cls.size_multiple

    def __init__(self, settings: VQGANSettings, context: BuildContext) -> None:
        super().__init__(settings, context)
        # a context without a registry (a generator built by hand) resolves against this plugin's own names
        files = resolve(
            settings.model,
            settings.config,
            settings.checkpoint,
            weights=context.weights or None,
            allow_download=context.allow_download,
        )
        key = cache_key(files, settings.trust_checkpoint, context.device)
        model: VQAutoencoder = context.cache.get(
            key, lambda: decoder_in_its_layout(load_model(files, settings.trust_checkpoint, context.device))
        )
        wide = is_wide(model)
        self.channels_last = settings.channels_last if settings.channels_last is not None else wide
        if wide and not self.channels_last:  # this override decodes contiguous: a copy with contiguous weights
            key = (*key, "contiguous")
            model = context.cache.get(key, lambda: decoder_in_layout(copy.deepcopy(model), channels_last=False))
        circular = context.seamless and settings.wrap == "convolutions"
        if circular:  # a tile padded in every convolution, in a copy kept beside the shared original
            model = context.cache.get((*key, "circular"), lambda: circular_copy(model))
        # kept out of the module tree: the shared, frozen model is neither optimised, moved nor saved with z
        object.__setattr__(self, "vq", model)
        self.factor = model.spec.factor
        self.width = round_to_multiple(context.width, self.factor)
        self.height = round_to_multiple(context.height, self.factor)
        rows, columns = self.height // self.factor, self.width // self.factor
        #: margin cells copied from the opposite edges before decoding (a tile wrapped in the latent)
        self.wrap_cells = min(settings.wrap_margin, rows, columns) if context.seamless and not circular else 0
        margin = 0 if context.seamless else settings.margin  # a tile's latent holds the canvas's cells only
        self.pad = (self.wrap_cells or margin) * self.factor
        cells = margin * 2
        shape = (1, model.spec.latent_channels, rows + cells, columns + cells)
        self.z = nn.Parameter(torch.zeros(shape, device=context.device))
        codebook = model.codebook.detach()
        self.register_buffer("z_min", codebook.min(0).values.view(1, -1, 1, 1), persistent=False)
        self.register_buffer("z_max", codebook.max(0).values.view(1, -1, 1, 1), persistent=False)
        #: --transparent: an alpha value per latent cell of the canvas, upsampled bilinearly
        self.alpha = (
            AlphaMap(self.height // self.factor, self.width // self.factor, self.height, self.width, context.device)
            if context.transparent else None
        )
        self.init(None)

    @property
    def gumbel(self) -> bool:
        return self.vq.spec.kind == "gumbel"

    # -- starting points ------------------------------------------------------------------------

    def init(self, image: torch.Tensor | None) -> None:
        """Encode ``image`` ([1, 3, H, W] in 0..1), or start from the settings' ``init`` kind."""
        with torch.no_grad():
            z = self.encode(image) if image is not None else self._from_settings()
            self.z.copy_(z)
            self.after_step()
        if self.alpha is not None:
            self.alpha.reset()

    def _from_settings(self) -> torch.Tensor:
        kind = self.settings.init
        height, width = (side * self.factor for side in self.z.shape[-2:])
        if kind == "pixels":
            return self.vq.encode(pixel_noise(1, height, width).to(self.z.device))
        if kind == "gradient":
            return self.vq.encode(gradient_images(1, height, width).to(self.z.device))
        return self._random_codes()

    def _random_codes(self) -> torch.Tensor:
        """Random tokens: their code vectors (VQ), or logits that pick them (Gumbel)."""
        spec = self.vq.spec
        codes = torch.randint(spec.n_embed, (1, *self.z.shape[-2:])).to(self.z.device)
        if self.gumbel:
            return F.one_hot(codes, spec.n_embed).permute(0, 3, 1, 2).float() * RANDOM_CODE_LOGIT
        return self.vq.codes_to_latent(codes)

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """A picture → the latent that reproduces it (resized to the canvas, edges extended over the margin;
        for a tile wrapped in the latent, the picture repeated over it, and only the canvas's cells kept)."""
        if image.dim() == 3:
            image = image.unsqueeze(0)
        image = image[:1].float().to(self.z.device)
        if image.shape[1] == 1:
            image = image.expand(1, 3, *image.shape[-2:])
        if image.shape[1] != 3:
            raise ConfigError(f"generator 'vqgan': an init image needs 3 colour channels, got {image.shape[1]}")
        if tuple(image.shape[-2:]) != (self.height, self.width):
            image = F.interpolate(image, size=(self.height, self.width), mode="bilinear", antialias=True)
        image = image.clamp(0, 1)
        if self.pad:
            image = F.pad(image, (self.pad,) * 4, mode="circular" if self.wrap_cells else "replicate")
        z = self.vq.encode(image)
        cells = self.wrap_cells
        return z[..., cells:-cells, cells:-cells] if cells else z

    # -- rendering --------------------------------------------------------------------------------

    def quantized(self) -> torch.Tensor:
        """``z`` snapped to the codebook, with gradients to ``z``."""
        if self.gumbel:
            s = self.settings
            z_q, _ = gumbel_quantize(self.z, self.vq.codebook, s.temperature, s.gumbel_noise)
            return z_q
        z_q, _ = straight_through_quantize(self.z, self.vq.codebook)
        return z_q

    def forward(self) -> torch.Tensor:
        z_q = self.quantized()
        if self.wrap_cells:
            z_q = F.pad(z_q, (self.wrap_cells,) * 4, mode="circular")
        with autocast_for(self.settings.precision, z_q.device):
            image = self.vq.decode(z_q, self.channels_last, checkpointing=self.settings.checkpointing)
        image = image[..., self.pad : self.pad + self.height, self.pad : self.pad + self.width]
        image = clamp_with_grad(image, 0.0, 1.0)
        return image if self.alpha is None else torch.cat([image, self.alpha(image.shape[0])], dim=1)

    def after_step(self) -> None:
        """Keep VQ latents inside the codebook's per-channel range, as Pixray does."""
        if not self.gumbel:
            with torch.no_grad():
                self.z.copy_(torch.maximum(torch.minimum(self.z, self.z_max), self.z_min))

    def latent(self) -> torch.Tensor:
        """``z``: what latent-space losses (``init_image`` with ``space: latent``) compare."""
        return self.z
