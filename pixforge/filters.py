"""The render's filters as one chain: the picture they make, the view the perceptors get, their loss terms.

Kept apart from the engine so the loop says only ``picture, view, terms = filters(image)``; with no filters
the chain hands the generator's image straight through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .components import Filter


@dataclass
class NamedFilter:
    """A built filter with its key in the losses (unique per render) and the weight of its loss term."""

    name: str
    weight: float
    filter: Filter


class FilterChain:
    """Applies the filters in order: the others make the picture, then the view-only ones make the view."""

    def __init__(self, filters: list[NamedFilter] | None = None) -> None:
        named = list(filters or [])
        self.picture_filters = [f for f in named if not f.filter.view_only]
        self.view_filters = [f for f in named if f.filter.view_only]

    def __len__(self) -> int:
        return len(self.picture_filters) + len(self.view_filters)

    def __call__(
        self, image: torch.Tensor, backdrop: Callable[[torch.Tensor], torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """``image`` → (the picture losses see and the render keeps, the view the cutouts are taken from,
        each filter's weighted loss term by its name). ``backdrop`` turns the picture into what the view-only
        filters start from (a transparent picture over a random background, ``pixforge.transparency``)."""
        terms: dict[str, torch.Tensor] = {}
        picture = self._through(self.picture_filters, image, terms)
        seen = backdrop(picture) if backdrop is not None else picture
        return picture, self._through(self.view_filters, seen, terms), terms

    def picture(self, image: torch.Tensor) -> torch.Tensor:
        """The picture alone (the final image, a saved frame): the filters that are not view-only."""
        for named in self.picture_filters:
            image = named.filter(image)
        return image

    @staticmethod
    def _through(filters: list[NamedFilter], image: torch.Tensor, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        for named in filters:
            after = named.filter(image)
            term = named.filter.loss(image, after)
            if term is not None:
                terms[named.name] = named.weight * term
            image = after
        return image
