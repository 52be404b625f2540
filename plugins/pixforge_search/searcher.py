"""Searching an image index by text or by image, with the model that built it.

Embeddings of two models live in different spaces: a query is always embedded with the index's own
model, and naming another model is refused rather than returning meaningless neighbours.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pixforge.errors import ConfigError
from pixforge.files import printable
from pixforge.pipeline import Pipeline

from .backends import Backend, choose, make_backend
from .images import describe_error, load_image
from .index import ImageIndex
from .models import ModelChoice, describe, embed_images, embed_texts, load_perceptor, normalised_spec


@dataclass(frozen=True)
class Hit:
    """One result: its rank (1 = best), the image's path and its cosine similarity to the query."""

    rank: int
    path: Path
    score: float


@dataclass
class SearchResult:
    """The hits of one query, and what produced them."""

    query: str | None
    image: str | None
    index: Path
    model: dict[str, Any]
    backend: str
    hits: list[Hit]

    def to_json(self) -> dict[str, Any]:
        """The ``search --json`` document (schema in the README)."""
        return {
            "query": self.query,
            "image": self.image,
            "index": str(self.index),
            "model": self.model,
            "backend": self.backend,
            "results": [{"rank": h.rank, "path": shown_path(h.path), "score": round(h.score, 6)} for h in self.hits],
        }


def display_path(path: Path) -> str:
    """A path relative to the current folder when it lies below it, else absolute; control characters
    escaped, so a newline in a file name cannot split a line of output."""
    return printable(shown_path(path))


def shown_path(path: Path) -> str:
    """A path relative to the current folder when it lies below it, else absolute (as it is: for JSON)."""
    relative = os.path.relpath(path)
    return str(path.resolve()) if relative.startswith("..") else relative


class Searcher:
    """An open index with its model loaded: many queries, one load."""

    def __init__(
        self,
        index: str | Path = ".",
        *,
        model: str | None = None,
        pretrained: str | None = None,
        pipeline: Pipeline | None = None,
        device: str = "auto",
        backend: str = "auto",
    ) -> None:
        self.index = ImageIndex.open(Path(index))
        self.pipeline = pipeline if pipeline is not None else Pipeline()
        if model is not None or pretrained is not None:
            check_model(self.index, normalised_spec(self.pipeline, _choice(model, pretrained, self.index.model)))
        self.perceptor = load_perceptor(self.pipeline, self.index.model, device)
        kind = choose(backend, len(self.index))
        saved = self.index.approx_path(kind) if kind != "exact" else None
        self.backend: Backend = make_backend(kind, self.index.embeddings, saved)

    def text(self, query: str, k: int = 10) -> SearchResult:
        """The ``k`` images closest to a text query."""
        if not query.strip():
            raise ConfigError("the search query is empty")
        return self._result(embed_texts(self.perceptor, [query])[0], k, query=query)

    def image(self, path: str | Path, k: int = 10) -> SearchResult:
        """The ``k`` images closest to an image."""
        try:
            pixels = load_image(Path(path).expanduser(), self.perceptor.input_size)
        except FileNotFoundError:
            raise ConfigError(f"query image '{path}': no such file") from None
        except Exception as exc:
            raise ConfigError(f"query image '{path}' cannot be read ({describe_error(exc)})") from None
        return self._result(embed_images(self.perceptor, pixels[None])[0], k, image=str(path))

    def _result(self, vector: np.ndarray, k: int, query: str | None = None, image: str | None = None) -> SearchResult:
        if k < 1:
            raise ConfigError(f"-k must be at least 1, not {k}")
        if vector.shape[-1] != self.index.embed_dim:
            raise ConfigError(
                f"the model embeds to {vector.shape[-1]} dimensions but index '{self.index.folder}' holds "
                f"{self.index.embed_dim}; rebuild the index"
            )
        scores, ids = self.backend.search(vector[None], k)
        hits = [
            Hit(rank, self.index.full_path(self.index.entries[row]), float(score))
            for rank, (score, row) in enumerate(((s, r) for s, r in zip(scores[0], ids[0]) if r >= 0), 1)
        ]
        return SearchResult(query, image, self.index.folder, self.index.model, self.backend.name, hits)


def check_model(index: ImageIndex, requested: dict[str, Any]) -> None:
    """Refuse to query an index with a model other than the one that built it."""
    if requested != index.model:
        raise ConfigError(
            f"index '{index.folder}' was built with {describe(index.model)}; searching it with "
            f"{describe(requested)} would compare embeddings from different models. Leave out --model "
            "(the index's own model is used), or rebuild the index with `pixforge index DIR --rebuild --model ...`"
        )


def _choice(model: str | None, pretrained: str | None, built_with: dict[str, Any]) -> ModelChoice:
    settings = built_with.get("settings", {})
    return ModelChoice(model=model or settings.get("model"), pretrained=pretrained)


def search(
    query: str | None = None,
    *,
    image: str | Path | None = None,
    index: str | Path = ".",
    k: int = 10,
    model: str | None = None,
    pretrained: str | None = None,
    pipeline: Pipeline | None = None,
    device: str = "auto",
    backend: str = "auto",
) -> SearchResult:
    """Search an index (or an image folder holding one) by a text ``query`` or by an ``image``."""
    if (query is None) == (image is None):
        raise ConfigError("search needs a text query or an image (exactly one of them)")
    searcher = Searcher(index, model=model, pretrained=pretrained, pipeline=pipeline, device=device, backend=backend)
    return searcher.text(query, k) if query is not None else searcher.image(image, k)  # type: ignore[arg-type]
