"""Tiny deterministic dummy components and the contexts the engine would give them, for fast tests.

``DummyGenerator`` and ``DummyPerceptor`` are free of open_clip; ``DummyPlugin()`` registers them as ``dummy``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from ..components import (
    BuildContext,
    Generator,
    ModelCache,
    Perceptor,
    PerceptorSlot,
    RunContext,
    StepState,
)
from ..hookspecs import Register, hookimpl
from ..prompts import PromptSet, Weighted
from ..seeding import seeded
from ..settings import StrictModel, validate

# -- building ----------------------------------------------------------------------------------------


def tiny_context(width: int = 32, height: int = 32, device: str | torch.device = "cpu") -> BuildContext:
    """A build context for a small canvas, with a fresh model cache."""
    return BuildContext(width=width, height=height, device=torch.device(device), cache=ModelCache())


def build_component(cls: type, settings: dict[str, Any] | None = None, context: BuildContext | None = None) -> Any:
    """Validate ``settings`` against ``cls.Settings`` and build ``cls`` as the engine would."""
    validated = validate(cls.Settings, settings or {}, f"{cls.__name__} settings")
    return cls(validated, context if context is not None else tiny_context())


def smooth_image(width: int = 32, height: int = 32) -> torch.Tensor:
    """A deterministic colourful ``[1, 3, H, W]`` picture in 0.1..0.9 (gradients in three directions)."""
    y = torch.linspace(0, 1, height).view(height, 1).expand(height, width)
    x = torch.linspace(0, 1, width).view(1, width).expand(height, width)
    image = torch.stack([x, y, 1 - (x + y) / 2])
    return (0.1 + 0.8 * image).unsqueeze(0)


# -- dummy components ----------------------------------------------------------------------------------


class DummyGeneratorSettings(StrictModel):
    #: spread of the random logits: larger starts with more contrast
    scale: float = Field(1.0, ge=0)


class DummyGenerator(Generator[DummyGeneratorSettings]):
    """One logit per canvas pixel through a sigmoid: the simplest generator that meets the contract."""

    Settings = DummyGeneratorSettings
    description = "test generator: one trainable logit per pixel"

    def __init__(self, settings: DummyGeneratorSettings, context: BuildContext) -> None:
        super().__init__(settings, context)
        self.logits = nn.Parameter(torch.zeros(1, 3, context.height, context.width, device=context.device))
        self.init(None)

    def init(self, image: torch.Tensor | None) -> None:
        with torch.no_grad():
            if image is None:
                noise = torch.randn(self.logits.shape) * self.settings.scale
                self.logits.copy_(noise)
            else:
                image = F.interpolate(image[:1].float(), size=(self.height, self.width), mode="area")
                self.logits.copy_(torch.logit(image.clamp(0.01, 0.99)))

    def forward(self) -> torch.Tensor:
        return torch.sigmoid(self.logits)

    def latent(self) -> torch.Tensor:
        return self.logits


class DummyPerceptorSettings(StrictModel):
    size: int = Field(32, ge=8)
    dim: int = Field(16, ge=2)
    #: the seed of the fixed random weights
    seed: int = 0


class DummyPerceptor(Perceptor[DummyPerceptorSettings]):
    """A tiny frozen conv net with fixed random weights; texts map to fixed random unit vectors (by hash)."""

    Settings = DummyPerceptorSettings
    description = "test perceptor: a tiny deterministic conv net (no open_clip)"

    def __init__(self, settings: DummyPerceptorSettings, context: BuildContext) -> None:
        super().__init__(settings, context)
        self.settings: DummyPerceptorSettings = settings
        with seeded(settings.seed):
            self.net = nn.Sequential(
                nn.Conv2d(3, 8, 3, stride=2, padding=1),
                nn.GELU(),
                nn.Conv2d(8, 16, 3, stride=2, padding=1),
                nn.GELU(),
                nn.AdaptiveAvgPool2d(2),
                nn.Flatten(),
                nn.Linear(64, settings.dim),
            )
        self.net.to(context.device).eval().requires_grad_(False)
        self.embed_dim = settings.dim

    @property
    def input_size(self) -> int:
        return self.settings.size

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        device = next(self.net.parameters()).device
        return F.normalize(self.net(images.to(device=device, dtype=torch.float32) * 2 - 1), dim=-1)

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        device = next(self.net.parameters()).device
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")
            rows.append(torch.randn(self.embed_dim, generator=torch.Generator().manual_seed(seed)))
        if not rows:
            return torch.zeros(0, self.embed_dim, device=device)
        return F.normalize(torch.stack(rows), dim=-1).to(device)


class DummyPlugin:
    """Registers ``dummy`` generator and perceptor: ``default_registry(extra_plugins=[DummyPlugin()])``."""

    @hookimpl
    def register_generators(self, register: Register) -> None:
        register("dummy", DummyGenerator)

    @hookimpl
    def register_perceptors(self, register: Register) -> None:
        register("dummy", DummyPerceptor)


# -- run and step contexts -----------------------------------------------------------------------------


def simple_cutouts(image: torch.Tensor, size: int) -> torch.Tensor:
    """Two fixed cutouts per image (the whole canvas and its centre half), resized to ``size``; differentiable."""
    h, w = image.shape[-2:]
    centre = image[..., h // 4 : h // 4 + max(1, h // 2), w // 4 : w // 4 + max(1, w // 2)]
    parts = [F.interpolate(part, size=(size, size), mode="bilinear", align_corners=False) for part in (image, centre)]
    return torch.cat(parts)


def simple_cutout_boxes(image: torch.Tensor) -> torch.Tensor:
    """The boxes of :func:`simple_cutouts`, ``[2B, 5]`` rows of ``(image index, x0, y0, x1, y1)`` in its order."""
    batch, h, w = image.shape[0], image.shape[-2], image.shape[-1]
    top, left = h // 4, w // 4
    rows = [[b, 0, 0, w, h] for b in range(batch)]
    rows += [[b, left, top, left + max(1, w // 2), top + max(1, h // 2)] for b in range(batch)]
    return torch.tensor(rows, dtype=torch.float64)


def make_run_context(
    generator: Generator | None = None,
    perceptors: Sequence[Perceptor | PerceptorSlot] | None = None,
    prompts: PromptSet | None = None,
    init_image: torch.Tensor | None = None,
    total_steps: int = 10,
    context: BuildContext | None = None,
) -> RunContext:
    """A RunContext as the engine makes one, with dummies for whatever is not given.

    Defaults: a ``DummyGenerator``, one ``DummyPerceptor`` (key ``dummy``), a text prompt and a noise
    prompt. Image prompts are embedded through ``simple_cutouts`` instead of the engine's random ones.
    """
    context = context if context is not None else tiny_context()
    if generator is None:
        generator = build_component(DummyGenerator, {}, context)
    if perceptors is None:
        perceptors = [build_component(DummyPerceptor, {}, context)]
    slots = [
        p if isinstance(p, PerceptorSlot) else PerceptorSlot(key=f"p{i}" if i else "dummy", perceptor=p, weight=1.0)
        for i, p in enumerate(perceptors)
    ]
    if prompts is None:
        prompts = PromptSet(texts=[Weighted("a red circle")], noise=[Weighted("3", 0.5)])

    def embed_image(slot: PerceptorSlot, image: torch.Tensor) -> torch.Tensor:
        image = F.interpolate(image.float(), size=(generator.height, generator.width), mode="bilinear")
        with torch.no_grad():
            return slot.perceptor.encode_image(simple_cutouts(image, slot.perceptor.input_size))

    return RunContext(
        prompts=prompts,
        perceptors=slots,
        generator=generator,
        init_image=init_image,
        total_steps=total_steps,
        device=context.device,
        embed_image=embed_image,
    )


def make_step_state(run: RunContext, step: int = 0) -> StepState:
    """One step's state: the generator's image (with its graph) and each perceptor's cutout embeddings."""
    image = run.generator()
    embeddings = {
        slot.key: slot.perceptor.encode_image(simple_cutouts(image, slot.perceptor.input_size))
        for slot in run.perceptors
    }
    boxes = {slot.key: simple_cutout_boxes(image) for slot in run.perceptors}
    return StepState(step, run.total_steps, image, embeddings, run.generator, boxes=boxes)
