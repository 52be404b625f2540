"""Train the tiny CLIP on the synthetic world, time-boxed, on one CPU thread.

What makes it a usable guide for generation (each measured to matter, see the zoo README notes):

- grouped hard-negative batches: each group shares a base scene and varies one thing (four shapes
  with the same colours, swapped colours, a new shape colour, a new background, a new size/position),
  so the model cannot get by on colour alone;
- multi-positive contrastive loss: every caption in the batch that truly describes an image counts as
  its positive ("a red shape" fits all red shapes), in both directions;
- cutout-like views (crops keeping the shape, small warps, colour jitter, blur, noise), since a guided
  render shows the model exactly such views; size/position captions are ignored for crops;
- nonsense images (colour fields, stripes, blocky noise) as negatives for every caption;
- auxiliary attribute heads (training only, not shipped): linear classifiers of shape, colour and
  background on the image embeddings, and of the named attributes on the caption embeddings. Without
  them both towers sat at chance on shape for 10 minutes while colour was learnt; they break that
  symmetry from the first steps.

Run: ``python -m pixforge_zoo.train_clip --minutes 22`` or ``pixforge zoo train tiny-clip``.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from . import augment, colour_cells, world
from .evaluate import held_out, zero_shot_accuracy
from .tiny_clip import WEIGHTS_DIR, WordTokenizer, build_model, default_tokenizer, normalise, save_weights
from .training import time_box_parser

_ATTRS = world.ATTRIBUTES  # shape, color, background, size, position
_TABLES = (world.SHAPES, tuple(world.COLORS), tuple(world.COLORS), tuple(world.SIZES), tuple(world.POSITIONS))
#: how often each caption template is drawn (the full "colour shape on background" form most)
TEMPLATE_WEIGHTS = (1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 4.0, 1.5, 1.5, 1.5, 0.5, 0.5, 0.5)
#: words outside the vocabulary, sprinkled into some captions so unknown words in a prompt do little harm
FILLER_WORDS = ("beautiful", "simple", "picture", "of", "art", "with", "painting", "image", "very", "and")
EVAL_SEED_OFFSET = 1_000_003


@dataclass(frozen=True)
class TrainSettings:
    """Everything a run depends on (stored next to the weights)."""

    minutes: float = 22.0
    seed: int = 0
    max_steps: int | None = None
    groups: int = 16
    nonsense: int = 12
    crop_p: float = 0.5
    #: share of scenes repainted with colours anywhere in their named colours' nearest-colour cells
    #: (``colour_cells``), so off-world colours are named by their nearest world colour
    off_palette_p: float = 0.0
    filler_p: float = 0.1
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 100
    eval_every_s: float = 120.0
    eval_images: int = 500
    aux_weight: float = 1.0
    threads: int = 1


@dataclass
class Batch:
    images: torch.Tensor  # [Bi, 3, 64, 64], world views first, then nonsense images
    tokens: torch.Tensor  # [Bt, ctx], one caption per world view
    positive: torch.Tensor  # [Bi, Bt] bool: caption truly describes image
    ignore: torch.Tensor  # [Bi, Bt] bool: unknowable (size/position captions of a cropped view)
    image_labels: torch.Tensor  # [Bi, 3] shape, colour, background indices (-1 for nonsense images)
    text_labels: torch.Tensor  # [Bt, 3] the same for what each caption names (-1: not named)
    #: [Bi] bool: repainted inside its colours' cells (``TrainSettings.off_palette_p``)
    repainted: torch.Tensor
    #: [Bi, Bt] bool: captions an image is known not to show and is pushed away from (the robust
    #: trainer's mined renders, ``guided_negatives``); None: none
    negative: torch.Tensor | None = None


# ------------------------------------------------------------------------------------------------ batches


def group_scenes(base: world.Scene, rnd: random.Random) -> list[world.Scene]:
    """Eight scenes around ``base``: four shapes (same colours), swapped colours, new colour, new background, new size/position."""
    others = [s for s in world.SHAPES if s != base.shape]
    shapes = [base.shape, *rnd.sample(others, 3)]
    colors = list(world.COLORS)
    new_color = rnd.choice([c for c in colors if c not in (base.color, base.background)])
    new_background = rnd.choice([c for c in colors if c not in (base.color, base.background)])
    size = rnd.choice(list(world.SIZES))
    position = rnd.choice([p for p in world.POSITIONS if p != base.position])
    return [
        *(replace(base, shape=shape) for shape in shapes),
        replace(base, color=base.background, background=base.color),
        replace(base, color=new_color),
        replace(base, background=new_background),
        replace(base, size=size, position=position),
    ]


def scene_codes(scenes: list[world.Scene]) -> torch.Tensor:
    """Each scene's [shape, colour, background, size, position] as indices into the world's tables."""
    return torch.tensor([[table.index(getattr(s, a)) for a, table in zip(_ATTRS, _TABLES)] for s in scenes])


def _caption_codes(scene: world.Scene, names: tuple[str, ...]) -> list[int]:
    return [table.index(getattr(scene, a)) if a in names else -1 for a, table in zip(_ATTRS, _TABLES)]


def make_batch(
    gen: torch.Generator, rnd: random.Random, tokenizer: WordTokenizer, settings: TrainSettings, size: int = 64
) -> Batch:
    """One grouped batch: rendered, augmented, captioned, with its positive and ignore masks."""
    scenes = [scene for _ in range(settings.groups) for scene in group_scenes(world.sample_scene(rnd), rnd)]
    clean, alpha = world.render_batch_with_alpha(scenes, size, gen)
    clean, repainted = colour_cells.recolour(clean, alpha, scenes, gen, settings.off_palette_p)
    views, cropped = augment.augment(clean, alpha, gen, crop_p=settings.crop_p)
    junk = augment.nonsense_images(settings.nonsense, size, gen)

    indices = list(range(len(world.TEMPLATES)))
    texts, codes = [], []
    for scene, is_crop in zip(scenes, cropped.tolist()):
        allowed = [i for i in indices if not (is_crop and {"size", "position"} & set(world.TEMPLATES[i][0]))]
        index = rnd.choices(allowed, weights=[TEMPLATE_WEIGHTS[i] for i in allowed])[0]
        names, template = world.TEMPLATES[index]
        words = template.format(**asdict(scene)).split()
        if rnd.random() < settings.filler_p:
            words.insert(rnd.randrange(len(words) + 1), rnd.choice(FILLER_WORDS))
        texts.append(" ".join(words))
        codes.append(_caption_codes(scene, names))

    image_codes = scene_codes(scenes)[:, None, :]  # [B, 1, 5]
    caption_codes = torch.tensor(codes)[None]  # [1, B, 5]
    agree = (caption_codes < 0) | (caption_codes == image_codes)  # [B, B, 5]
    loose = agree[..., :3].all(-1)  # shape, colours
    exact = agree.all(-1)
    names_size_or_position = (caption_codes[0, :, 3:] >= 0).any(-1)  # [B]
    ignore = cropped[:, None] & names_size_or_position[None, :] & loose
    positive = exact & ~ignore
    pad = torch.zeros(len(junk), len(texts), dtype=torch.bool)
    return Batch(
        images=torch.cat([views, junk]),
        tokens=tokenizer(texts),
        positive=torch.cat([positive, pad]),
        ignore=torch.cat([ignore, pad]),
        image_labels=torch.cat([image_codes[:, 0, :3], torch.full((len(junk), 3), -1)]),
        text_labels=caption_codes[0, :, :3],
        repainted=torch.cat([repainted, torch.zeros(len(junk), dtype=torch.bool)]),
    )


# ------------------------------------------------------------------------------------------------- loss


def multi_positive_loss(
    image_features: torch.Tensor, text_features: torch.Tensor, scale: torch.Tensor, positive: torch.Tensor, ignore: torch.Tensor
) -> torch.Tensor:
    """Symmetric contrastive loss where each row's target is "any of its positives" (−log Σ p(positive))."""
    logits = (scale * image_features @ text_features.T).masked_fill(ignore, float("-inf"))

    def one_side(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        rows = targets.any(1)
        log_p = scores[rows].log_softmax(1)
        return -log_p.masked_fill(~targets[rows], float("-inf")).logsumexp(1).mean()

    return (one_side(logits, positive) + one_side(logits.T, positive.T)) / 2


class AttributeHeads(torch.nn.Module):
    """Linear classifiers of shape, colour and background on unit embeddings (a training aid, never shipped)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        sizes = (len(world.SHAPES), len(world.COLORS), len(world.COLORS))
        self.image = torch.nn.ModuleList(torch.nn.Linear(dim, n) for n in sizes)
        self.text = torch.nn.ModuleList(torch.nn.Linear(dim, n) for n in sizes)

    @staticmethod
    def _loss(heads: torch.nn.ModuleList, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        losses = [
            F.cross_entropy(head(10 * features), labels[:, i], ignore_index=-1)
            for i, head in enumerate(heads)
            if (labels[:, i] >= 0).any()
        ]
        return torch.stack(losses).mean()

    def forward(self, image_features: torch.Tensor, text_features: torch.Tensor, batch: Batch) -> torch.Tensor:
        return (self._loss(self.image, image_features, batch.image_labels) + self._loss(self.text, text_features, batch.text_labels)) / 2


# --------------------------------------------------------------------------------------------- training


def _optimizer(model: torch.nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    groups = [{"params": decay, "weight_decay": settings.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=settings.lr, betas=(0.9, 0.98), eps=1e-6)


def _lr(settings: TrainSettings, step: int, progress: float) -> float:
    warm = min(1.0, (step + 1) / settings.warmup_steps)
    return settings.lr * warm * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def train_tiny_clip(
    minutes: float = 22.0,
    seed: int = 0,
    out: Path | None = None,
    max_steps: int | None = None,
    log: Callable[[str], None] = print,
    **overrides,
) -> Path:
    """Train from scratch until ``minutes`` pass (or ``max_steps``), then write the weights folder ``out``.

    The learning rate follows a cosine over the time box (or over ``max_steps``, which makes a run
    reproducible step for step). Returns ``out``.
    """
    settings = TrainSettings(minutes=minutes, seed=seed, max_steps=max_steps, **overrides)
    out = Path(out) if out is not None else WEIGHTS_DIR
    torch.set_num_threads(settings.threads)
    tokenizer = default_tokenizer()
    model = build_model(seed=seed)
    model.train()
    heads = AttributeHeads(model.text_projection.shape[1])
    optimizer = _optimizer(torch.nn.ModuleDict({"clip": model, "heads": heads}), settings)
    gen = torch.Generator().manual_seed(seed)
    rnd = random.Random(seed)
    eval_images, eval_scenes = held_out(settings.eval_images, seed + EVAL_SEED_OFFSET)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"tiny-clip: {n_params / 1e6:.2f} M parameters, {settings.threads} thread(s), settings {asdict(settings)}")

    budget = settings.minutes * 60
    start = last_eval = last_log = time.monotonic()
    step, seen, history = 0, 0, []
    window_images, window_start, window_loss = 0, start, []
    while True:
        elapsed = time.monotonic() - start
        if (settings.max_steps is not None and step >= settings.max_steps) or (
            settings.max_steps is None and elapsed >= budget
        ):
            break
        progress = step / settings.max_steps if settings.max_steps else elapsed / budget
        for group in optimizer.param_groups:
            group["lr"] = _lr(settings, step, progress)
        batch = make_batch(gen, rnd, tokenizer, settings)
        image_features = model.encode_image(normalise(batch.images), normalize=True)
        text_features = model.encode_text(batch.tokens, normalize=True)
        loss = multi_positive_loss(image_features, text_features, model.logit_scale.exp(), batch.positive, batch.ignore)
        if settings.aux_weight > 0:
            loss = loss + settings.aux_weight * heads(image_features, text_features, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        step += 1
        seen += len(batch.images)
        window_images += len(batch.images)
        window_loss.append(loss.item())
        now = time.monotonic()
        if now - last_log >= 30 or step == 1:
            rate = window_images / max(now - window_start, 1e-9)
            log(
                f"step {step:5d}  {now - start:6.0f}s  {rate:5.0f} img/s  loss {sum(window_loss) / len(window_loss):.3f}"
                f"  scale {model.logit_scale.exp().item():5.1f}  lr {optimizer.param_groups[0]['lr']:.2e}"
            )
            last_log, window_images, window_start, window_loss = now, 0, now, []
        if now - last_eval >= settings.eval_every_s:
            accuracy = zero_shot_accuracy(model, tokenizer, eval_images, eval_scenes)
            history.append({"step": step, "seconds": round(now - start), **accuracy})
            log(f"eval step {step}: " + "  ".join(f"{k} {v:.1%}" for k, v in accuracy.items()))
            save_weights(model, tokenizer, out, {"steps": step, "partial": True})
            last_eval = time.monotonic()

    accuracy = zero_shot_accuracy(model, tokenizer, eval_images, eval_scenes)
    seconds = time.monotonic() - start
    history.append({"step": step, "seconds": round(seconds), **accuracy})
    log(f"final step {step} ({seconds / 60:.1f} min, {seen} images): " + "  ".join(f"{k} {v:.1%}" for k, v in accuracy.items()))
    extra = {"steps": step, "images_seen": seen, "seconds": round(seconds), "settings": asdict(settings), "eval": history}
    save_weights(model, tokenizer, out, extra)
    log(f"wrote {out}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = time_box_parser(__doc__.splitlines()[0], minutes=22.0)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # only effective if set before torch starts its pool
    train_tiny_clip(minutes=args.minutes, seed=args.seed, out=args.out, max_steps=args.max_steps, log=lambda s: print(s, flush=True))


if __name__ == "__main__":
    main()
