"""``init_image``: keeps the render close to where it started, in pixels or in the generator's latent."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from pixforge.components import BuildContext, Loss, RunContext, StepState
from pixforge.errors import ConfigError
from pixforge.settings import StrictModel

from .common import zero


class InitImageSettings(StrictModel):
    #: pixels: MSE to the init image; latent: MSE between the generator's latent and its value at the start
    space: Literal["pixels", "latent"] = "pixels"
    #: the pull fades as 1 / (1 + decay * step): early steps stay close, later ones roam
    decay: float = Field(0.0, ge=0)


class InitImageLoss(Loss[InitImageSettings]):
    """Mean squared distance to the init image (0 when the render has no init image)."""

    Settings = InitImageSettings
    description = "keeps the image close to the init image (pixel or latent MSE, optionally fading)"

    def __init__(self, settings: InitImageSettings, context: BuildContext) -> None:
        super().__init__(settings, context)
        self.target: torch.Tensor | None = None

    def prepare(self, run: RunContext) -> None:
        self.target = None
        if self.settings.space == "latent":
            latent = run.generator.latent()
            if latent is None:
                raise ConfigError(
                    f"loss 'init_image' settings: space 'latent' needs a generator with a latent, and "
                    f"{type(run.generator).__name__} has none; use space 'pixels'"
                )
            if run.init_image is not None:
                self.target = latent.detach().clone()
        elif run.init_image is not None:
            self.target = run.init_image.detach().float()

    def __call__(self, state: StepState) -> torch.Tensor:
        if self.target is None:
            return zero(state)
        fade = 1.0 / (1.0 + self.settings.decay * state.step)
        if self.settings.space == "latent":
            latent = state.generator.latent()
            assert latent is not None
            return fade * F.mse_loss(latent.float(), self.target.to(latent.device).float())
        image = state.image.float()
        return fade * F.mse_loss(image, self._target_like(image))

    def _target_like(self, image: torch.Tensor) -> torch.Tensor:
        """The init image at the render's size and device (resized once, then kept)."""
        assert self.target is not None
        target = self.target.to(image.device)
        if target.shape[-2:] != image.shape[-2:]:
            target = F.interpolate(target, size=image.shape[-2:], mode="bilinear", align_corners=False, antialias=True)
        self.target = target
        return target.expand_as(image)
