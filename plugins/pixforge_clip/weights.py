"""The OpenAI CLIP models Pixray and VQGAN-CLIP users reach for, served by open_clip's own pretrained
mechanism (the Hugging Face hub cache), so `pixforge models fetch ViT-B-32/openai` puts them where
open_clip finds them."""

from __future__ import annotations

from collections.abc import Callable

from pixforge.hookspecs import hookimpl
from pixforge.weights import WeightEntry

#: OpenAI's normalisation, the same for every OpenAI CLIP model
_OPENAI = {"mean": (0.48145466, 0.4578275, 0.40821073), "std": (0.26862954, 0.26130258, 0.27577711),
           "interpolation": "bicubic", "resize_mode": "shortest"}

#: (open_clip model, image side, description, the name Pixray / VQGAN-CLIP use)
_MODELS = (
    ("ViT-B-32", 224, "OpenAI CLIP ViT-B/32: the VQGAN-CLIP default, fastest ViT", "ViT-B/32"),
    ("ViT-B-16", 224, "OpenAI CLIP ViT-B/16: finer detail than B/32, ~2x slower", "ViT-B/16"),
    ("RN50", 224, "OpenAI CLIP ResNet-50: Pixray's second default perceptor", "RN50"),
    ("ViT-L-14", 224, "OpenAI CLIP ViT-L/14: the large one (big-sleep --larger-model), ~1.7 GB", "ViT-L/14"),
)


def openai_clip_entries() -> list[WeightEntry]:
    """One entry per model, named ``MODEL/openai`` like the perceptor's model + pretrained settings."""
    return [
        WeightEntry(
            name=f"{model}/openai",
            kind="clip",
            description=description,
            open_clip=(model, "openai"),
            preprocess={"image_size": side, **_OPENAI},
            aliases=(alias,),
        )
        for model, side, description, alias in _MODELS
    ]


@hookimpl
def register_weights(register: Callable[[WeightEntry], None]) -> None:
    for entry in openai_clip_entries():
        register(entry)
