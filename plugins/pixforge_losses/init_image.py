"""``init_image``: keeps the render close to where it started, in pixels or in the generator's latent."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from pixforge.components import BuildContext, Loss, RunContext, StepState
from pixforge.errors import ConfigError
from pixforge.numerics import stable_mse, stable_sum
from pixforge.regions import outside_regions
from pixforge.settings import StrictModel

from .common import zero


class InitImageSettings(StrictModel):
    #: pixels: MSE to the init image; latent: MSE between the generator's latent and its value at the start
    space: Literal["pixels", "latent"] = "pixels"
    #: the pull fades as 1 / (1 + decay * step): early steps stay close, later ones roam
    decay: float = Field(0.0, ge=0)
    #: outside_regions: pull only where no region prompt reaches, so the regions edit inside their masks and
    #: the rest stays (everywhere when there are no regions); all: pull everywhere
    mask: Literal["outside_regions", "all"] = "outside_regions"
    #: init_image: the user's init image (for an animation frame, the last frame moved); start: the picture
    #: the render started from instead — its layout, a staged render's last stage — so a refinement keeps it
    target: Literal["init_image", "start"] = "init_image"


class InitImageLoss(Loss[InitImageSettings]):
    """Mean squared distance to the init image, or to the picture the render started from (0 without one)."""

    Settings = InitImageSettings
    description = "keeps the image close to the init image (pixel or latent MSE, optionally fading)"

    def __init__(self, settings: InitImageSettings, context: BuildContext) -> None:
        super().__init__(settings, context)
        self.target: torch.Tensor | None = None
        #: where the pull applies ``[1, 1, H, W]``; None: everywhere
        self.where: torch.Tensor | None = None

    def prepare(self, run: RunContext) -> None:
        self.target = None
        outside = outside_regions(run.prompts.regions) if self.settings.mask == "outside_regions" else None
        self.where = None if outside is None else outside[None, None].float().to(run.device)
        picture = run.start if self.settings.target == "start" else run.init_image
        if self.settings.space == "latent":
            latent = run.generator.latent()
            if latent is None:
                raise ConfigError(
                    f"loss 'init_image' settings: space 'latent' needs a generator with a latent, and "
                    f"{type(run.generator).__name__} has none; use space 'pixels'"
                )
            if picture is not None:  # the latent the generator was started at from that picture
                self.target = latent.detach().clone()
        elif picture is not None:
            self.target = picture.detach().float()

    def __call__(self, state: StepState) -> torch.Tensor:
        if self.target is None:
            return zero(state)
        fade = 1.0 / (1.0 + self.settings.decay * state.step)
        if self.settings.space == "latent":
            latent = state.generator.latent()
            assert latent is not None
            return fade * masked_mse(latent.float(), self.target.to(latent.device).float(), self.where)
        image = state.image.float()
        return fade * masked_mse(image, self._target_like(image), self.where)

    def _target_like(self, image: torch.Tensor) -> torch.Tensor:
        """The init image at the render's size and device (resized once, then kept)."""
        assert self.target is not None
        target = self.target.to(image.device)
        if target.shape[-2:] != image.shape[-2:]:
            target = F.interpolate(target, size=image.shape[-2:], mode="bilinear", align_corners=False, antialias=True)
        self.target = target
        return target.expand_as(image)


def masked_mse(value: torch.Tensor, target: torch.Tensor, where: torch.Tensor | None) -> torch.Tensor:
    """Mean squared difference, over the pixels (or latent cells) ``where`` marks, by its weight (all: plain MSE).

    ``where`` ``[1, 1, H, W]`` is resized by area to ``value``'s grid; a mask with nothing in it gives 0.
    """
    if where is None:
        return stable_mse(value, target)
    if value.dim() != 4:
        raise ValueError(f"a masked init_image pull needs [B, C, H, W] values, got shape {tuple(value.shape)}")
    weight = where.to(value)
    if weight.shape[-2:] != value.shape[-2:]:
        weight = F.interpolate(weight, size=value.shape[-2:], mode="area")
    squared = (value - target).pow(2) * weight
    return stable_sum(squared) / (stable_sum(weight) * value.shape[0] * value.shape[1]).clamp(min=1e-6)
