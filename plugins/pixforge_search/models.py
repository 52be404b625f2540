"""Which CLIP embeds images and texts, and getting it through a Pipeline so a loaded model is shared.

Classification and search use the same ``clip`` perceptor plugin, model names and model cache as
rendering: a Pipeline that rendered with a model classifies and searches without loading it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pixforge.components import BuildContext, Perceptor
from pixforge.config import ComponentSpec
from pixforge.resolve import component_settings
from pixforge.devices import pick_device
from pixforge.pipeline import Pipeline

from .names import DEFAULT_MODEL, PERCEPTOR


@dataclass(frozen=True)
class ModelChoice:
    """A model as the user names it; ``None`` fields take the perceptor's defaults."""

    model: str = DEFAULT_MODEL
    pretrained: str | None = None
    config: str | None = None
    precision: str | None = None

    def spec(self) -> ComponentSpec:
        settings = {key: value for key, value in vars(self).items() if value is not None}
        return ComponentSpec(name=PERCEPTOR, settings=settings)


def normalised_spec(pipeline: Pipeline, choice: ModelChoice) -> dict[str, Any]:
    """The perceptor name and its full validated settings: what an index records and compares."""
    settings = component_settings(pipeline.registry, "perceptor", choice.spec())
    return {"perceptor": PERCEPTOR, "settings": settings.model_dump(mode="json")}


def describe(spec: dict[str, Any]) -> str:
    """``model 'ViT-B-32' (pretrained 'openai')`` for messages."""
    settings = spec.get("settings", {})
    text = f"model '{settings.get('model')}'"
    extras = [f"{key} '{settings[key]}'" for key in ("pretrained", "config") if settings.get(key)]
    if settings.get("precision", "fp32") != "fp32":
        extras.append(f"precision {settings['precision']}")
    return text + (f" ({', '.join(extras)})" if extras else "")


def load_perceptor(pipeline: Pipeline, spec: dict[str, Any], device: str = "auto") -> Perceptor:
    """The perceptor of a normalised ``spec``, its model taken from (or added to) ``pipeline.cache``."""
    target = pick_device(device)
    context = BuildContext(
        width=224, height=224, device=target, cache=pipeline.cache, models=pipeline.registry.models
    )
    component = ComponentSpec(name=spec["perceptor"], settings=spec["settings"])
    return pipeline.perceptor(component, context).eval()


def embed_images(perceptor: Perceptor, images: torch.Tensor) -> np.ndarray:
    """``[N, 3, S, S]`` images in 0..1 → ``[N, D]`` float32 unit vectors."""
    with torch.inference_mode():
        features = perceptor.encode_image(images).float()
    return _unit(features.cpu().numpy())


def embed_texts(perceptor: Perceptor, texts: list[str]) -> np.ndarray:
    """Texts → ``[N, D]`` float32 unit vectors."""
    with torch.inference_mode():
        features = perceptor.encode_text(texts).float()
    return _unit(features.cpu().numpy())


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
