"""Zero-shot accuracy of a tiny CLIP under a PGD attack: how far a robust model's answers hold.

The attack is untargeted: PGD in pixel space (0..1) pushes each held-out image away from its own full
caption, "a {colour} {shape} on a {background} background", among all 540 such captions (cross-entropy
of the model's scaled cosine logits), within an L2 or L∞ ball. Accuracy is then read off the best caption
as in ``pixforge_zoo.evaluate``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from . import world
from .evaluate import full_captions, text_features, zero_shot_accuracy
from .tiny_clip import MEAN, STD, WordTokenizer, normalise
from .train_robust import pgd


def attacked_images(
    model: nn.Module,
    tokenizer: WordTokenizer,
    images: torch.Tensor,
    scenes: Sequence[world.Scene],
    norm: str,
    epsilon: float,
    steps: int = 10,
    mean: Sequence[float] = MEAN,
    std: Sequence[float] = STD,
    batch: int = 100,
    seed: int = 0,
) -> torch.Tensor:
    """``images`` moved by PGD to make the model miss each one's full caption."""
    texts, labels = full_captions()
    index = {(label.shape, label.color, label.background): i for i, label in enumerate(labels)}
    truth = torch.tensor([index[(s.shape, s.color, s.background)] for s in scenes])
    text = text_features(model, tokenizer, texts)
    scale = model.logit_scale.exp().detach()
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    out = []
    for start in range(0, len(images), batch):
        chunk, target = images[start : start + batch], truth[start : start + batch]

        def loss(x: torch.Tensor, target: torch.Tensor = target) -> torch.Tensor:
            features = F.normalize(model.encode_image(normalise(x, mean, std)), dim=-1)
            return F.cross_entropy(scale * features @ text.T, target, reduction="sum")

        with torch.enable_grad():
            out.append(pgd(chunk, loss, norm, epsilon, steps, 2.5, gen))
    return torch.cat(out)


def attacked_accuracy(
    model: nn.Module,
    tokenizer: WordTokenizer,
    images: torch.Tensor,
    scenes: Sequence[world.Scene],
    norm: str,
    epsilon: float,
    steps: int = 10,
    mean: Sequence[float] = MEAN,
    std: Sequence[float] = STD,
) -> dict[str, float]:
    """Zero-shot accuracy (colour, background, shape, all) on PGD-attacked ``images``."""
    adversarial = attacked_images(model, tokenizer, images, scenes, norm, epsilon, steps, mean, std)
    return zero_shot_accuracy(model, tokenizer, adversarial, scenes, mean, std)
