"""``saturation``: Hasler–Süsstrunk colourfulness, negated so a positive weight makes colours stronger."""

from __future__ import annotations

import torch

from pixforge.components import Loss, StepState
from pixforge.numerics import stable_mean
from pixforge.settings import StrictModel


_EPS = 1e-8  # keeps the square roots differentiable on a grey image


class SaturationSettings(StrictModel):
    """No settings: the sign of the weight picks the direction."""


def colourfulness(image: torch.Tensor) -> torch.Tensor:
    """Hasler & Süsstrunk (2003) colourfulness per image of ``[B, 3, H, W]`` (0..1 scale, so 1/255 of the paper's).

    With rg = R - G and yb = (R + G) / 2 - B: sqrt(std_rg² + std_yb²) + 0.3 · sqrt(mean_rg² + mean_yb²).
    """
    r, g, b = image[:, 0], image[:, 1], image[:, 2]
    rg = (r - g).flatten(1)
    yb = (0.5 * (r + g) - b).flatten(1)
    rg_mean, yb_mean = stable_mean(rg, dim=1, keepdim=True), stable_mean(yb, dim=1, keepdim=True)
    spread = (stable_mean((rg - rg_mean).pow(2), dim=1) + stable_mean((yb - yb_mean).pow(2), dim=1) + _EPS).sqrt()
    offset = (rg_mean.squeeze(1).pow(2) + yb_mean.squeeze(1).pow(2) + _EPS).sqrt()
    return spread + 0.3 * offset


class SaturationLoss(Loss[SaturationSettings]):
    """Minus the colourfulness: weight > 0 saturates the image, weight < 0 desaturates it (towards grey)."""

    Settings = SaturationSettings
    description = "colourfulness (Hasler-Suesstrunk), negated: a positive weight saturates, a negative one greys"

    def __call__(self, state: StepState) -> torch.Tensor:
        return -stable_mean(colourfulness(state.image.float()))
