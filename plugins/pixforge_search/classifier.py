"""Zero-shot classification: which of a few labels fits each image best, by CLIP similarity.

Each label becomes one sentence per template; the sentences' embeddings are averaged (after
normalising) and normalised again, as in OpenAI's ImageNet notebook. Scores are a softmax over the
labels (they sum to 1 per image) or, with ``multi_label``, an independent sigmoid per label, which is
meaningful only for models trained with a sigmoid loss (SigLIP-style, with a logit bias).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pixforge.components import Perceptor
from pixforge.errors import ConfigError
from pixforge.files import read_text
from pixforge.pipeline import Pipeline

from .images import LoadFailure, batched, find_images, load_batch
from .models import DEFAULT_MODEL, ModelChoice, embed_images, embed_texts, load_perceptor, normalised_spec
from .templates import fill, resolve_templates

#: called after each batch with (images done, images in all)
Progress = Callable[[int, int], None]
#: the logit scale used when a model does not carry its own (CLIP's trained value)
DEFAULT_LOGIT_SCALE = 100.0


@dataclass
class Classification:
    """Scores of every image against every label: ``scores[i, j]`` for ``paths[i]`` and ``labels[j]``."""

    paths: list[str]
    labels: list[str]
    scores: np.ndarray
    multi_label: bool
    templates: tuple[str, ...]
    model: dict[str, Any]
    skipped: list[LoadFailure] = field(default_factory=list)

    def probabilities(self) -> list[dict[str, float]]:
        """One ``{label: probability}`` per image, in ``paths`` order."""
        return [dict(zip(self.labels, map(float, row))) for row in self.scores]

    def top(self, row: int, k: int | None = None) -> list[tuple[str, float]]:
        """The ``k`` best labels of image ``row``, best first."""
        order = np.argsort(-self.scores[row], kind="stable")[: k or len(self.labels)]
        return [(self.labels[j], float(self.scores[row, j])) for j in order]

    def to_json(self, top: int | None = None) -> dict[str, Any]:
        """The ``classify --json`` document (schema in the README)."""
        return {
            "model": self.model,
            "labels": self.labels,
            "templates": list(self.templates),
            "scoring": "sigmoid" if self.multi_label else "softmax",
            "results": [
                {
                    "path": path,
                    "top": [{"label": label, "score": round(score, 6)} for label, score in self.top(i, top)],
                    "scores": {label: round(float(s), 6) for label, s in zip(self.labels, self.scores[i])},
                }
                for i, path in enumerate(self.paths)
            ],
            "skipped": [{"path": str(f.path), "error": f.error} for f in self.skipped],
        }


def parse_labels(text: str) -> list[str]:
    """``"a penguin, a bear,a cat"`` → three labels."""
    return [part.strip() for part in text.split(",") if part.strip()]


def read_labels_file(path: Path) -> list[str]:
    """One label per line; blank lines and ``#`` lines are skipped."""
    lines = read_text(path, "labels file").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def check_labels(labels: Sequence[str], multi_label: bool) -> list[str]:
    """Labels as a list, refusing repeats and a softmax over fewer than two."""
    labels = [label.strip() for label in labels]
    if any(not label for label in labels):
        raise ConfigError("labels must not be empty")
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ConfigError(f"label '{repeated[0]}' is given twice")
    if len(labels) < (1 if multi_label else 2):
        raise ConfigError("classify needs at least two labels (one is enough with --multi-label)")
    return labels


def label_embeddings(perceptor: Perceptor, labels: Sequence[str], templates: Sequence[str]) -> np.ndarray:
    """``[L, D]`` unit vectors: each label's template sentences averaged, then normalised again."""
    sentences = [fill(template, label) for label in labels for template in templates]
    vectors = embed_texts(perceptor, sentences).reshape(len(labels), len(templates), -1).mean(axis=1)
    return (vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


def logit_scale_and_bias(perceptor: Perceptor) -> tuple[float, float]:
    """The model's own trained temperature (and bias, for sigmoid models) where it has them."""
    scale, bias = perceptor.logit_scale, perceptor.logit_bias
    return (scale if scale is not None else DEFAULT_LOGIT_SCALE), (bias if bias is not None else 0.0)


def scores_from(
    image_vectors: np.ndarray, label_vectors: np.ndarray, scale: float, bias: float, multi_label: bool
) -> np.ndarray:
    """Cosine similarities → softmax over labels, or an independent sigmoid per label."""
    logits = scale * (image_vectors @ label_vectors.T) + bias
    if multi_label:
        return 1.0 / (1.0 + np.exp(-logits))
    logits = logits - logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


def classify(
    images: str | Path | Image.Image | Sequence[str | Path | Image.Image],
    labels: str | Sequence[str],
    *,
    pipeline: Pipeline | None = None,
    model: str = DEFAULT_MODEL,
    pretrained: str | None = None,
    templates: str | Path | Sequence[str] = "none",
    multi_label: bool = False,
    device: str = "auto",
    batch_size: int = 64,
    progress: Progress | None = None,
) -> Classification:
    """Score images (files, folders, globs or PIL images) against labels (a list or ``"a,b,c"``).

    Pass the ``pipeline`` that rendered to reuse its loaded model. Unreadable files are skipped and
    listed in ``skipped``.
    """
    pipeline = pipeline if pipeline is not None else Pipeline()
    label_list = check_labels(parse_labels(labels) if isinstance(labels, str) else labels, multi_label)
    chosen = resolve_templates(templates if isinstance(templates, (str, Path)) else list(templates))
    skipped: list[LoadFailure] = []
    sources, names = _sources(images, skipped.append)
    choice = ModelChoice(model=model, pretrained=pretrained)
    spec = normalised_spec(pipeline, choice)
    perceptor = load_perceptor(pipeline, spec, device)
    label_vectors = label_embeddings(perceptor, label_list, chosen)
    scale, bias = logit_scale_and_bias(perceptor)

    rows: list[np.ndarray] = []
    kept: list[str] = []
    done = 0
    for start, batch in zip(range(0, len(sources), batch_size), batched(sources, batch_size)):
        pixels, loaded, failures = load_batch(batch, perceptor.input_size)
        skipped.extend(failures)
        if loaded:
            rows.append(scores_from(embed_images(perceptor, pixels), label_vectors, scale, bias, multi_label))
            kept.extend(names[start + i] for i in loaded)
        done += len(batch)
        if progress is not None:
            progress(done, len(sources))
    scores = np.concatenate(rows) if rows else np.zeros((0, len(label_list)), dtype=np.float32)
    return Classification(kept, label_list, scores, multi_label, chosen, spec, skipped)


def _sources(
    images: str | Path | Image.Image | Sequence[str | Path | Image.Image],
    on_skip: Callable[[LoadFailure], None] | None = None,
) -> tuple[list[Path | Image.Image], list[str]]:
    """Inputs → what to load and the name each result is reported under (FIFOs and the like go to ``on_skip``)."""
    items = [images] if isinstance(images, (str, Path, Image.Image)) else list(images)
    if not items:
        raise ConfigError("classify needs at least one image")
    sources: list[Path | Image.Image] = []
    names: list[str] = []
    for position, item in enumerate(items):
        if isinstance(item, Image.Image):
            sources.append(item)
            names.append(getattr(item, "filename", "") or f"<image {position}>")
        else:
            paths = find_images([item], on_skip)
            sources.extend(paths)
            names.extend(str(p) for p in paths)
    return sources, names
