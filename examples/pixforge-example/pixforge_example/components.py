"""The example's components: a generator made of sine waves and a brightness loss (torch is imported here,
only when pixforge builds a registry, never when ``pixforge --help`` imports the plugin)."""

from __future__ import annotations

import torch
from pydantic import Field

from pixforge import BuildContext, Generator, Loss, StepState, StrictModel
from pixforge.numerics import stable_mean


class WavesSettings(StrictModel):
    waves: int = Field(8, ge=1, le=64)
    max_frequency: float = Field(6.0, gt=0)


class Waves(Generator):
    """Each colour channel is a sum of planar sine waves whose amplitudes, frequencies and phases are learnt."""

    Settings = WavesSettings
    description = "sum of learnable sine waves per colour channel"

    def __init__(self, settings: WavesSettings, context: BuildContext) -> None:
        super().__init__(settings, context)
        n = settings.waves
        self.amplitude = torch.nn.Parameter(torch.zeros(3, n))
        self.frequency = torch.nn.Parameter(torch.zeros(3, n, 2))
        self.phase = torch.nn.Parameter(torch.zeros(3, n))
        self.bias = torch.nn.Parameter(torch.zeros(3))
        ys = torch.linspace(0, 1, context.height)
        xs = torch.linspace(0, 1, context.width)
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # [H, W, 2]
        self.register_buffer("grid", grid, persistent=False)

    def init(self, image: torch.Tensor | None) -> None:
        with torch.no_grad():
            self.amplitude.normal_(0, 0.5)
            self.frequency.uniform_(-self.settings.max_frequency, self.settings.max_frequency)
            self.phase.uniform_(0, 6.2832)
            self.bias.zero_()
            if image is not None:
                self.bias.copy_(torch.logit(image.mean(dim=(0, 2, 3)).clamp(0.01, 0.99)))

    def forward(self) -> torch.Tensor:
        angle = torch.einsum("hwk,cnk->chwn", self.grid, self.frequency) * 6.2832 + self.phase[:, None, None, :]
        value = (torch.sin(angle) * self.amplitude[:, None, None, :]).sum(-1) + self.bias[:, None, None]
        return torch.sigmoid(value).unsqueeze(0)


class BrightnessSettings(StrictModel):
    target: float = Field(0.5, ge=0, le=1)


class Brightness(Loss):
    """Squared distance between the image's mean brightness and a target."""

    Settings = BrightnessSettings
    description = "pull the mean brightness towards a target"

    def __call__(self, state: StepState) -> torch.Tensor:
        # stable_mean: the same bits on any torch thread count (a plain .mean() splits its sum by threads)
        return (stable_mean(state.image) - self.settings.target) ** 2
