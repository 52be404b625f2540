"""Hard negatives from guidance itself: renders the current model scores high that do not show their prompt.

A guided render finds images the CLIP scores high for a prompt; with a tiny CLIP many of them are
colour smears with the right colours and no shape. Robust training alone leaves those optima in place.
Here the trainer renders a round of world prompts against the model being trained (a free pixel grid
seen through random crops, as the ``pixels`` preset sees it), judges each render with the analytic
``shape_judge`` (no model), and adds them to the contrastive batch: a render that fails its prompt is a
negative for that prompt's caption, one that passes is a positive, and each prompt also gets a true
world scene as a positive, so the caption learns to prefer real pictures over the model's own fakes.
The prompts are drawn from the world minus the published held-out set, so the held-out figures stay
held out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from pixforge_losses.smoothness import total_variation

from . import world
from .prompt_sets import WorldPrompt, held_out_prompts
from .shape_judge import shape_check
from .tiny_clip import WordTokenizer, normalise
from .train_clip import Batch, scene_codes


@dataclass(frozen=True)
class MiningSettings:
    """One mining round: how many prompts, and the guided render each gets."""

    prompts: int = 24
    #: each round draws its step count from steps // 4 .. steps: early renders are blobs, late ones the
    #: smears that long guidance drifts into, and both are to be rejected
    steps: int = 80
    grid: int = 16
    views: int = 4
    lr: float = 0.2
    smoothness: float = 1.0
    #: smallest crop side as a share of the canvas (the default preset's cutouts take at least 0.8)
    min_crop: float = 0.8


def mining_prompts(rnd: random.Random, count: int) -> list[WorldPrompt]:
    """``count`` distinct world prompts, none of them in the held-out set."""
    excluded = set(held_out_prompts())
    every = [WorldPrompt(s, c, b) for s in world.SHAPES for c in world.COLORS for b in world.COLORS if c != b]
    return rnd.sample([p for p in every if p not in excluded], count)


def _random_views(canvas: torch.Tensor, views: int, min_crop: float, gen: torch.Generator) -> torch.Tensor:
    """``views`` random square crops (side ``min_crop``..1 of the canvas, anywhere inside, maybe mirrored) per image."""
    n = canvas.shape[0]
    scale = min_crop + (1 - min_crop) * torch.rand(n * views, generator=gen)
    shift = (1 - scale)[:, None] * (torch.rand(n * views, 2, generator=gen) * 2 - 1)
    flip = torch.where(torch.rand(n * views, generator=gen) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n * views, 2, 3)
    theta[:, 0, 0] = scale * flip
    theta[:, 1, 1] = scale
    theta[:, :, 2] = shift
    size = canvas.shape[-1]
    grid = F.affine_grid(theta, [n * views, 3, size, size], align_corners=False)
    return F.grid_sample(canvas.repeat_interleave(views, 0), grid, mode="bilinear", align_corners=False)


def guided_renders(
    model: nn.Module,
    tokenizer: WordTokenizer,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    prompts: list[WorldPrompt],
    gen: torch.Generator,
    settings: MiningSettings,
    size: int = 64,
) -> torch.Tensor:
    """Each prompt rendered by gradient ascent of the model's similarity on a solid-started pixel grid."""
    with torch.no_grad():
        text = F.normalize(model.encode_text(tokenizer([p.text for p in prompts])), dim=-1)
    start = torch.rand(len(prompts), 3, 1, 1, generator=gen).expand(-1, -1, settings.grid, settings.grid)
    start = start + 0.05 * torch.randn(len(prompts), 3, settings.grid, settings.grid, generator=gen)
    logits = torch.logit(start.clamp(0.02, 0.98)).clone().requires_grad_(True)
    optimiser = torch.optim.Adam([logits], lr=settings.lr)
    steps = int(torch.randint(max(1, settings.steps // 4), settings.steps + 1, (1,), generator=gen))
    for _ in range(steps):
        canvas = F.interpolate(torch.sigmoid(logits), size=(size, size), mode="bilinear", align_corners=False)
        views = _random_views(canvas, settings.views, settings.min_crop, gen)
        image = F.normalize(model.encode_image(normalise(views, mean, std)), dim=-1)
        similarity = (image.view(len(prompts), settings.views, -1) * text[:, None]).sum(-1).mean()
        loss = -similarity * len(prompts) + settings.smoothness * total_variation(canvas) * len(prompts)
        (grad,) = torch.autograd.grad(loss, logits)
        logits.grad = grad
        optimiser.step()
    with torch.no_grad():
        return F.interpolate(torch.sigmoid(logits), size=(size, size), mode="bilinear", align_corners=False)


def judged(images: torch.Tensor, prompts: list[WorldPrompt]) -> torch.Tensor:
    """``[N]`` bool: does each render pass the analytic shape check for its own prompt?"""
    return torch.tensor([shape_check(image, p.shape, p.colour, p.background).passed for image, p in zip(images, prompts)])


def _true_scenes(prompts: list[WorldPrompt], rnd: random.Random) -> list[world.Scene]:
    return [
        world.Scene(p.shape, p.colour, p.background, rnd.choice(list(world.SIZES)), rnd.choice(list(world.POSITIONS)))
        for p in prompts
    ]


def with_mined(
    batch: Batch,
    tokenizer: WordTokenizer,
    renders: torch.Tensor,
    prompts: list[WorldPrompt],
    passed: torch.Tensor,
    rnd: random.Random,
    gen: torch.Generator,
) -> Batch:
    """``batch`` with each mined prompt's caption, its render (negative unless it passed) and a true scene.

    What a failed render shows is unknown, so it is compared only with its own caption; the true scenes
    are positives for their own caption and negatives for the other mined captions (every two mined
    prompts differ in shape or a colour). Neither is held to the reference model's embedding (FARE).
    A failed render's own caption is also marked in ``negative`` (``unlikelihood``).
    """
    n, old_rows, old_cols = len(prompts), len(batch.images), batch.tokens.shape[0]
    scenes = _true_scenes(prompts, rnd)
    truths = world.render_batch(scenes, renders.shape[-1], gen)
    eye = torch.eye(n, dtype=torch.bool)
    rows = old_rows + 2 * n
    positive = torch.zeros(rows, old_cols + n, dtype=torch.bool)
    ignore = torch.zeros_like(positive)
    positive[:old_rows, :old_cols], ignore[:old_rows, :old_cols] = batch.positive, batch.ignore
    # old rows against the mined captions: a world view is positive when its shape and colours match
    codes = scene_codes(scenes)[:, :3]  # shape, colour, background: what a mined caption names
    positive[:old_rows, old_cols:] = (batch.image_labels[:, None, :] == codes[None]).all(-1)
    renders_at, truths_at = slice(old_rows, old_rows + n), slice(old_rows + n, rows)
    ignore[renders_at, :] = True
    ignore[renders_at, old_cols:] = ~eye
    positive[renders_at, old_cols:] = eye & passed[:, None]
    ignore[truths_at, :old_cols] = True
    positive[truths_at, old_cols:] = eye
    negative = torch.zeros_like(positive)
    negative[renders_at, old_cols:] = eye & ~passed[:, None]
    return replace(
        batch,
        negative=negative,
        images=torch.cat([batch.images, renders, truths]),
        tokens=torch.cat([batch.tokens, tokenizer([p.text for p in prompts])]),
        positive=positive,
        ignore=ignore,
        image_labels=torch.cat([batch.image_labels, torch.full((n, 3), -1), codes]),
        text_labels=torch.cat([batch.text_labels, codes]),
        repainted=torch.cat([batch.repainted, torch.ones(2 * n, dtype=torch.bool)]),
    )


def unlikelihood(image_features: torch.Tensor, text_features: torch.Tensor, scale: torch.Tensor,
                 negative: torch.Tensor) -> torch.Tensor:
    """−log(1 − p(caption | image)) over the batch's captions, for each (image, caption) marked ``negative``.

    The contrastive loss only ranks a failed render below the true scenes for its caption; this also
    takes the caption away from the render among all the batch's captions, so "right colours, no shape"
    stops being the best answer for a shape's caption.
    """
    rows = negative.any(1)
    if not rows.any():
        return image_features.sum() * 0
    p = (scale * image_features[rows] @ text_features.T).softmax(1)
    taken = (p * negative[rows]).sum(1).clamp(max=1 - 1e-6)
    return -torch.log1p(-taken).mean()
