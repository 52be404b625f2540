"""``clip_prompt``: pulls every cutout's embedding towards the prompts' embeddings (and pushes from negative ones).

Distances are VQGAN-CLIP's squared great-circle distance, ``2 * arcsin(|a - b| / 2)**2``, per cutout and
prompt. A prompt's ``stop`` ends its pull (per cutout) once the distance falls below it; for a negative
weight, once it rises above ``|stop|`` (so both ``text:-1:0.9`` and VQGAN-CLIP's ``text:-1:-0.9`` work).
A prompt whose weight is a schedule (``text:[0: (1), 40: (0.2)]``, a scene of ``A || B``) is weighed at
each step's own value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from pixforge.components import BuildContext, Loss, PerceptorSlot, RunContext, StepState
from pixforge.outputs import load_image, pil_to_tensor
from pixforge.prompts import Weighted
from pixforge.regions import Region, box_overlap
from pixforge.settings import StrictModel

from .common import zero


class ClipPromptSettings(StrictModel):
    #: sum: each prompt pulls with its own weight (VQGAN-CLIP); mean: divided by the number of prompts,
    #: so adding prompts does not make the guidance stronger overall
    reduce: Literal["sum", "mean"] = "sum"
    #: region prompts weight each cutout by the share of its box the region's mask covers, to this power:
    #: higher keeps a region's text to the views that lie mostly inside it (8: a view 90 % inside counts 0.43,
    #: half inside 0.004; with 2 or 4 the colour of one region spread over the other in bench/regions.py)
    region_power: float = Field(8.0, gt=0)


@dataclass
class Targets:
    """One perceptor's prompt embeddings ``[P, D]`` with each prompt's weight and stop ``[P]``."""

    embeddings: torch.Tensor
    weights: torch.Tensor
    stops: torch.Tensor
    #: the prompts, when any weight changes over the steps (their weights are then read each step)
    scheduled: list[Weighted] | None = None

    def weights_at(self, step: int) -> torch.Tensor:
        if self.scheduled is None:
            return self.weights
        return torch.tensor([p.at(step) for p in self.scheduled], device=self.weights.device)


def spherical_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``[N, D]`` × ``[P, D]`` unit vectors → ``[N, P]`` distances ``2 * arcsin(chord / 2)**2`` (VQGAN-CLIP's)."""
    chord = (x.unsqueeze(1) - y.unsqueeze(0)).norm(dim=-1)
    return (chord / 2).clamp(max=1.0).arcsin().pow(2).mul(2)


def prompt_losses(
    embeddings: torch.Tensor, targets: Targets, step: int = 0, cutout_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Each prompt's weighted mean distance over the cutouts ``[P]``, with its gradient stopped past ``stop``.

    ``cutout_weights`` ``[N, P]`` (a region's overlap with each cutout) makes the mean over cutouts a weighted one.
    """
    distances = spherical_distance(F.normalize(embeddings.float(), dim=-1), targets.embeddings)
    weights = targets.weights_at(step)
    positive = weights > 0
    active = torch.where(positive, distances > targets.stops, distances < targets.stops.abs())
    gated = torch.where(active, distances, distances.detach())
    if cutout_weights is None:
        return weights * gated.mean(dim=0)
    share = cutout_weights.to(gated)
    return weights * (gated * share).sum(dim=0) / share.sum(dim=0).clamp(min=1e-6)


def centre_square(image: torch.Tensor, size: int) -> torch.Tensor:
    """The largest centred square of ``image``, resized to ``size``."""
    h, w = image.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = image[..., top : top + side, left : left + side]
    return F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


class ClipPromptLoss(Loss[ClipPromptSettings]):
    """The CLIP guidance: text, image, target-image and noise prompts, for every perceptor of the render."""

    Settings = ClipPromptSettings
    description = "CLIP guidance: spherical distance from the cutouts to the text/image/noise prompts"

    def __init__(self, settings: ClipPromptSettings, context: BuildContext) -> None:
        super().__init__(settings, context)
        self.targets: dict[str, tuple[float, Targets]] = {}
        #: perceptor key → (its weight, the regions' text embeddings as Targets, their masks [R, H, W])
        self.regions: dict[str, tuple[float, Targets, torch.Tensor]] = {}

    # -- preparing the prompts, once per render ------------------------------------------------

    def prepare(self, run: RunContext) -> None:
        images = {p.value: self._load(p.value, "image prompt") for p in run.prompts.images}
        images.update({p.value: self._load(p.value, "target image") for p in run.prompts.targets})
        self.targets = {}
        for slot in run.perceptors:
            targets = self._targets_for(slot, run, images)
            if targets is not None:
                self.targets[slot.key] = (slot.weight, targets)
        self.regions = {}
        if run.prompts.regions:
            for slot in run.perceptors:
                self.regions[slot.key] = (slot.weight, *region_targets(slot, run.prompts.regions, run.device))

    @staticmethod
    def _load(path: str, what: str) -> torch.Tensor:
        return pil_to_tensor(load_image(path, what))

    def _targets_for(self, slot: PerceptorSlot, run: RunContext, images: dict[str, torch.Tensor]) -> Targets | None:
        perceptor, device = slot.perceptor, run.device
        rows: list[torch.Tensor] = []
        prompts: list[Weighted] = []
        with torch.no_grad():
            if run.prompts.texts:
                rows.append(perceptor.encode_text([p.value for p in run.prompts.texts]).float().to(device))
                prompts += run.prompts.texts
            for p in run.prompts.images:
                cutouts = run.embed_image(slot, images[p.value].to(device)).float()
                rows.append(F.normalize(cutouts.mean(dim=0, keepdim=True), dim=-1).to(device))
                prompts.append(p)
            for p in run.prompts.targets:
                crop = centre_square(images[p.value].to(device), perceptor.input_size)
                rows.append(perceptor.encode_image(crop).float().to(device))
                prompts.append(p)
            if run.prompts.noise:
                dim = embedding_width(slot, device)
                rows += [noise_embedding(int(p.value), dim).to(device) for p in run.prompts.noise]
                prompts += run.prompts.noise
        if not prompts:
            return None
        return Targets(
            embeddings=F.normalize(torch.cat(rows), dim=-1),
            weights=torch.tensor([p.weight for p in prompts], device=device),
            stops=torch.tensor([p.stop for p in prompts], device=device),
            scheduled=prompts if any(p.schedule is not None for p in prompts) else None,
        )

    # -- each step -----------------------------------------------------------------------------

    def __call__(self, state: StepState) -> torch.Tensor:
        total = zero(state)
        count = 0
        for key, (slot_weight, targets) in self.targets.items():
            losses = prompt_losses(state.embeddings[key], targets, state.step)
            total = total + slot_weight * losses.sum()
            count += len(losses)
        for key, (slot_weight, targets, masks) in self.regions.items():
            if key not in state.boxes:
                raise ValueError(f"region prompts need the cutouts' boxes (StepState.boxes['{key}'])")
            overlap = box_overlap(masks, state.boxes[key]).pow(self.settings.region_power)
            losses = prompt_losses(state.embeddings[key], targets, state.step, cutout_weights=overlap)
            total = total + slot_weight * losses.sum()
            count += len(losses)
        if self.settings.reduce == "mean" and count:
            total = total / count
        return total


def embedding_width(slot: PerceptorSlot, device: torch.device) -> int:
    """The perceptor's embedding width: its ``embed_dim`` if it says, else measured on a blank image."""
    width = getattr(slot.perceptor, "embed_dim", None)
    if isinstance(width, int):
        return width
    size = slot.perceptor.input_size
    with torch.no_grad():
        return int(slot.perceptor.encode_image(torch.zeros(1, 3, size, size, device=device)).shape[-1])


def noise_embedding(seed: int, dim: int) -> torch.Tensor:
    """A random unit vector ``[1, dim]`` fixed by ``seed`` (its own generator: the render's RNG is untouched)."""
    generator = torch.Generator().manual_seed(seed % 2**64)
    return F.normalize(torch.randn(1, dim, generator=generator), dim=-1)


def region_targets(slot: PerceptorSlot, regions: list[Region], device: torch.device) -> tuple[Targets, torch.Tensor]:
    """The regions' text embeddings, weights and stops for one perceptor, and their masks ``[R, H, W]``."""
    with torch.no_grad():
        texts = slot.perceptor.encode_text([r.text for r in regions]).float().to(device)
    targets = Targets(
        embeddings=F.normalize(texts, dim=-1),
        weights=torch.tensor([r.weight for r in regions], device=device),
        stops=torch.tensor([r.stop for r in regions], device=device),
    )
    return targets, torch.stack([r.mask for r in regions]).to(device)
