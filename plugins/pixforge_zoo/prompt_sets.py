"""Fixed sets of world prompts for judging renders: a tuning set and a disjoint held-out set.

Each set names every shape equally often with colour pairs drawn without repeats from the 90 ordered
(shape colour, background) pairs, so many pairs are covered. Settings are tuned on ``tuning_prompts``
and the figures we publish come from ``held_out_prompts``, which tuning never looks at.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .world import COLORS, SHAPES

HELD_OUT_SEED = 20261201
TUNING_SEED = 7


@dataclass(frozen=True)
class WorldPrompt:
    """One prompt of the world: "a {colour} {shape} on a {background} background"."""

    shape: str
    colour: str
    background: str

    @property
    def text(self) -> str:
        return f"a {self.colour} {self.shape} on a {self.background} background"


def _pairs() -> list[tuple[str, str]]:
    return [(c, b) for c in COLORS for b in COLORS if c != b]


def _draw(per_shape: int, seed: int, exclude: set[WorldPrompt] = frozenset()) -> list[WorldPrompt]:
    rnd = random.Random(seed)
    prompts = []
    for shape in SHAPES:
        pairs = [p for p in _pairs() if WorldPrompt(shape, *p) not in exclude]
        prompts += [WorldPrompt(shape, c, b) for c, b in rnd.sample(pairs, per_shape)]
    return prompts


def held_out_prompts(per_shape: int = 10) -> list[WorldPrompt]:
    """The published set: ``per_shape`` prompts for each of the six shapes (60 by default)."""
    return _draw(per_shape, HELD_OUT_SEED)


def tuning_prompts(per_shape: int = 3) -> list[WorldPrompt]:
    """A small set for trying settings, sharing no prompt with the held-out set."""
    return _draw(per_shape, TUNING_SEED, set(held_out_prompts()))
