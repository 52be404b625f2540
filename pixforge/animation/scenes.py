"""Scenes: ``"A || B || C"`` plays its parts one after another over a render's steps or an animation's frames.

Scene ``i`` of ``n`` owns ``[i·T/n, (i+1)·T/n)`` of the total ``T``; over ``transition`` steps (or frames)
around each boundary the old scene's prompt weights fade out as the new one's fade in, linearly, so the two
always sum to one. With no transition a scene switches at its boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from .schedules import Schedule

SEPARATOR = "||"


def split_scenes(text: str) -> list[str]:
    """``"A || B"`` → ``["A", "B"]``; a prompt without ``||`` is one scene. An empty scene is an error."""
    parts = [part.strip() for part in text.split(SEPARATOR)]
    if len(parts) > 1 and not all(parts):
        raise ConfigError(f"prompt '{text}': every scene between '||' needs a prompt (e.g. 'a red circle || a blue star')")
    return parts


@dataclass(frozen=True)
class SceneEnvelope(Schedule):
    """How much of scene ``index`` (of ``count``) plays at ``t``, in 0..1, over a total ``total``."""

    index: int
    count: int
    total: float
    transition: float = 0.0

    @property
    def text(self) -> str:  # type: ignore[override]
        return f"scene {self.index + 1} of {self.count}"

    def __call__(self, t: float) -> float:
        start = self.index * self.total / self.count
        end = (self.index + 1) * self.total / self.count
        first, last = self.index == 0, self.index == self.count - 1
        if self.transition <= 0:
            return 1.0 if (first or t >= start) and (last or t < end) else 0.0
        half = self.transition / 2
        fade_in = 1.0 if first else min(1.0, max(0.0, (t - (start - half)) / self.transition))
        fade_out = 1.0 if last else min(1.0, max(0.0, ((end + half) - t) / self.transition))
        return fade_in * fade_out


@dataclass(frozen=True)
class Scaled(Schedule):
    """A scene's envelope times a prompt's own weight (a number or a schedule)."""

    envelope: Schedule
    weight: Schedule

    @property
    def text(self) -> str:  # type: ignore[override]
        return f"{self.weight.text} in {self.envelope.text}"

    def __call__(self, t: float) -> float:
        return self.envelope(t) * self.weight(t)


def check_transition(transition: float, total: int, count: int, unit: str) -> None:
    """A transition longer than a scene would overlap three scenes at once: refuse it in one line."""
    if count > 1 and transition > total / count:
        raise ConfigError(
            f"prompts.transition {transition:g} is longer than a scene ({total} {unit} / {count} scenes = "
            f"{total / count:g}); give at most {int(total // count)}"
        )
