"""Zero-shot accuracy of a tiny CLIP on world images, by full captions.

Each image is scored against every caption "a {colour} {shape} on a {background} background" (6 shapes
× 10 colours × 9 backgrounds = 540); the best caption is the prediction, and shape, colour and
background accuracy are read off it (so "all three" means the best caption was exactly right).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from . import world
from .tiny_clip import MEAN, STD, WordTokenizer, normalise

METHOD = (
    "zero-shot by full captions: argmax over all 540 'a {colour} {shape} on a {background} background' "
    "captions; each label read off the best caption"
)


@dataclass(frozen=True)
class Label:
    shape: str
    color: str
    background: str | None


def short_captions() -> tuple[list[str], list[Label]]:
    """Every "a {colour} {shape}" caption (60): the prompt form that does not name the background."""
    labels = [Label(shape, color, None) for shape in world.SHAPES for color in world.COLORS]
    return [f"a {label.color} {label.shape}" for label in labels], labels


def full_captions() -> tuple[list[str], list[Label]]:
    """Every "a {colour} {shape} on a {background} background" caption, with what it names."""
    texts, labels = [], []
    for shape in world.SHAPES:
        for color in world.COLORS:
            for background in world.COLORS:
                if background != color:
                    texts.append(f"a {color} {shape} on a {background} background")
                    labels.append(Label(shape, color, background))
    return texts, labels


@torch.no_grad()
def image_features(
    model: nn.Module, images: torch.Tensor, mean: Sequence[float] = MEAN, std: Sequence[float] = STD, batch: int = 250
) -> torch.Tensor:
    """Unit-length embeddings of ``[N, 3, H, W]`` images in 0..1."""
    parts = [model.encode_image(normalise(images[i : i + batch], mean, std), normalize=True) for i in range(0, len(images), batch)]
    return torch.cat(parts)


@torch.no_grad()
def text_features(model: nn.Module, tokenizer: WordTokenizer, texts: list[str]) -> torch.Tensor:
    """Unit-length embeddings of texts."""
    return model.encode_text(tokenizer(texts), normalize=True)


def zero_shot_accuracy(
    model: nn.Module,
    tokenizer: WordTokenizer,
    images: torch.Tensor,
    scenes: Sequence[world.Scene],
    mean: Sequence[float] = MEAN,
    std: Sequence[float] = STD,
    family: str = "full",
) -> dict[str, float]:
    """Fractions of ``images`` whose best caption names the right colour, background, shape, all of them.

    ``family="short"`` scores the 60 "a {colour} {shape}" captions instead (no background key then).
    """
    texts, labels = full_captions() if family == "full" else short_captions()
    keys = ("color", "background", "shape") if family == "full" else ("color", "shape")
    was_training = model.training
    model.eval()
    try:
        best = (image_features(model, images, mean, std) @ text_features(model, tokenizer, texts).T).argmax(1)
    finally:
        model.train(was_training)
    hits = dict.fromkeys((*keys, "all"), 0)
    for index, scene in zip(best.tolist(), scenes):
        ok = [getattr(labels[index], key) == getattr(scene, key) for key in keys]
        for key, good in zip(keys, ok):
            hits[key] += good
        hits["all"] += all(ok)
    return {key: value / max(len(scenes), 1) for key, value in hits.items()}


def held_out(n: int, seed: int, size: int = 64) -> tuple[torch.Tensor, list[world.Scene]]:
    """``n`` jittered world images (as the generator renders them, no cutout augmentation) and their scenes."""
    pairs = world.dataset(n, seed, size)
    return torch.stack([image for image, _ in pairs]), [scene for _, scene in pairs]
