"""The ``dvae`` generator: optimise logits over a dVAE's vocabulary for a grid of tokens, decode, guide.

Each step turns the logits into token distributions (softmax, Gumbel-softmax, or hard Gumbel with a
straight-through gradient, at a scheduled temperature) and decodes them with a frozen dall-e decoder.
The logits are stored divided by ``logit_scale``: with a vocabulary of thousands each logit gets a very
small gradient, and a larger scale makes each optimiser step move the logits further without touching
the engine's learning rate. The decoder is shared through the model cache; only the logits train.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from pixforge.canvas import round_to_multiple
from pixforge.components import BuildContext, Generator
from pixforge.errors import ConfigError
from pixforge.settings import StrictModel
from pixforge.transparency import AlphaMap

from .catalog import DEFAULT_MODEL
from .loading import load_dvae, resolve
from .model import DVAE, FACTOR
from .seamless import circular_dvae
from .relax import Relaxation, Schedule, relax, temperature_at


class DVAESettings(StrictModel):
    """Which dVAE, how token logits become distributions, and where they start."""

    #: a registered dVAE (``tiny-dvae``, ``openai-dvae``; see ``pixforge models list``)
    model: str = DEFAULT_MODEL
    #: explicit weights instead of a name: a decoder file (and an encoder file, for init images); dall-e
    #: layout, as safetensors, a state dict or a published pickled module
    decoder: str | None = None
    encoder: str | None = None
    #: allow a full unpickle of a pickled file no registry checksum vouches for (it can run code)
    trust_checkpoint: bool = False
    #: token grids optimised together (independent samples in one batch)
    batch: int = Field(1, ge=1, le=64)
    #: softmax: a deterministic mixture; gumbel: a noisy soft sample; gumbel_hard: one-hot, straight-through
    relaxation: Relaxation = "gumbel"
    #: the relaxation's temperature at the first step: lower is closer to one token per cell
    temperature: float = Field(1.0, gt=0)
    #: the temperature reached after ``temperature_steps`` steps (None: stays at ``temperature``)
    temperature_end: float | None = Field(0.1, gt=0)
    schedule: Schedule = "exponential"
    temperature_steps: int = Field(100, ge=1)
    #: logits = parameters × this: larger moves the logits further per optimiser step
    logit_scale: float = Field(1.0, gt=0)
    #: uniform: every cell starts as the uniform distribution (all logits 0); random: Gaussian logits of
    #: spread ``init_std``; tokens: random tokens at ``init_confidence``. An init image overrides it.
    init: Literal["uniform", "random", "tokens"] = "uniform"
    init_std: float = Field(1.0, ge=0)
    #: the probability (at temperature 1) an encoded or random token starts with, whatever the vocabulary
    init_confidence: float = Field(0.9, gt=0, lt=1)
    #: gradient checkpointing: the decoder keeps only each block group's input and recomputes the rest during
    #: the backward pass, so a step needs less memory (large canvases) and takes longer
    checkpointing: bool = False

    @model_validator(mode="after")
    def _check(self) -> DVAESettings:
        if self.encoder and not self.decoder:
            raise ValueError("'encoder' needs 'decoder' too: give both paths, or neither and a 'model' name")
        return self

    def end_temperature(self) -> float:
        return self.temperature if self.temperature_end is None else self.temperature_end


def cache_key(settings: DVAESettings, device: torch.device) -> tuple[Any, ...]:
    """What makes two loaded dVAEs interchangeable."""
    source = (settings.decoder, settings.encoder) if settings.decoder else settings.model
    return ("dvae", source, settings.trust_checkpoint, str(device))


class DVAEGenerator(Generator[DVAESettings]):
    """Token logits ``[B, V, H/8, W/8]`` decoded by a frozen dall-e decoder into ``[B, 3, H, W]`` in 0..1."""

    Settings = DVAESettings
    description = "a grid of token distributions decoded by a DALL-E-style dVAE (tiny model by default)"
    size_multiple = FACTOR
    #: ``--candidates N`` optimises N token grids in one batch
    samples_setting = "batch"
    supports_alpha = True

    def __init__(self, settings: DVAESettings, context: BuildContext) -> None:
        super().__init__(settings, context)
        key = cache_key(settings, context.device)
        model: DVAE = context.cache.get(
            key,
            lambda: load_dvae(
                resolve(settings.model, settings.encoder, settings.decoder, context.weights or None,
                        context.allow_download),
                settings.trust_checkpoint,
                context.device,
            ),
        )
        if context.seamless:  # a tile: circular padding, in a copy kept beside the shared original
            model = context.cache.get((*key, "circular"), lambda: circular_dvae(model))
        # kept out of the module tree: the shared, frozen model is neither optimised, moved nor saved
        object.__setattr__(self, "dvae", model)
        self.width = round_to_multiple(context.width, FACTOR)
        self.height = round_to_multiple(context.height, FACTOR)
        shape = (settings.batch, model.vocab_size, self.height // FACTOR, self.width // FACTOR)
        self.logits = nn.Parameter(torch.zeros(shape, device=context.device))
        if context.transparent and settings.batch != 1:
            raise ConfigError(f"generator 'dvae': --transparent renders one token grid, got batch {settings.batch}; "
                              "set generator.settings.batch=1")
        #: --transparent: an alpha value per token cell, upsampled bilinearly
        self.alpha = (
            AlphaMap(self.height // FACTOR, self.width // FACTOR, self.height, self.width, context.device)
            if context.transparent else None
        )
        self.steps_done = 0
        self.init(None)

    # -- starting points ------------------------------------------------------------------------

    def init(self, image: torch.Tensor | None) -> None:
        """Confident logits for ``image``'s tokens ([1, 3, H, W] in 0..1), or the settings' random start."""
        s: DVAESettings = self.settings  # type: ignore[assignment]
        self.steps_done = 0
        if image is not None:
            logits = self._confident(self.encode_tokens(image))
        elif s.init == "tokens":
            tokens = torch.randint(self.dvae.vocab_size, (self.logits.shape[0], *self.logits.shape[-2:]))
            logits = self._confident(tokens.to(self.logits.device))
        elif s.init == "random":
            logits = torch.randn(self.logits.shape).to(self.logits.device) * s.init_std
        else:
            logits = torch.zeros_like(self.logits)
        with torch.no_grad():
            self.logits.copy_(logits.expand_as(self.logits) / s.logit_scale)
        if self.alpha is not None:
            self.alpha.reset()

    def _confident(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits that give ``tokens`` the probability ``init_confidence`` (the rest share what is left)."""
        p = self.settings.init_confidence
        margin = math.log(p / (1 - p)) + math.log(self.dvae.vocab_size - 1)
        one_hot = F.one_hot(tokens.long(), self.dvae.vocab_size).permute(0, 3, 1, 2).float()
        return one_hot * margin

    def encode_tokens(self, image: torch.Tensor) -> torch.Tensor:
        """A picture → its tokens ``[1, H/8, W/8]`` (resized to the canvas first if needed)."""
        if self.dvae.encoder is None:
            raise ConfigError("generator 'dvae': this model has no encoder, so it cannot start from an image")
        if image.dim() == 3:
            image = image.unsqueeze(0)
        image = image[:1].float().to(self.logits.device)
        if image.shape[1] == 1:
            image = image.expand(1, 3, *image.shape[-2:])
        if image.shape[1] != 3:
            raise ConfigError(f"generator 'dvae': an init image needs 3 colour channels, got {image.shape[1]}")
        if tuple(image.shape[-2:]) != (self.height, self.width):
            image = F.interpolate(image, size=(self.height, self.width), mode="bilinear", antialias=True)
        with torch.no_grad():
            return self.dvae.tokens(image.clamp(0, 1))

    # -- rendering --------------------------------------------------------------------------------

    def temperature(self) -> float:
        """This step's temperature, from the schedule."""
        s: DVAESettings = self.settings  # type: ignore[assignment]
        return temperature_at(self.steps_done, s.temperature_steps, s.temperature, s.end_temperature(), s.schedule)

    def distributions(self) -> torch.Tensor:
        """This step's token distributions ``[B, V, h, w]``; noise-free when gradients are off (the final picture)."""
        s: DVAESettings = self.settings  # type: ignore[assignment]
        return relax(self.logits * s.logit_scale, s.relaxation, self.temperature(), noise=torch.is_grad_enabled())

    def forward(self) -> torch.Tensor:
        image = self.dvae.decode(self.distributions(), checkpointing=self.settings.checkpointing)
        return image if self.alpha is None else torch.cat([image, self.alpha(image.shape[0])], dim=1)

    def after_step(self) -> None:
        """Advance the temperature schedule."""
        self.steps_done += 1

    def latent(self) -> torch.Tensor:
        """The logits: what latent-space losses (``init_image`` with ``space: latent``) compare."""
        return self.logits
