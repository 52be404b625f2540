"""Prompt syntax, compatible with Pixray and VQGAN-CLIP.

``a|b|c`` separates prompts; each is ``text``, ``text:weight`` or ``text:weight:stop``. A negative weight
pushes away from the text. A weight in brackets is a schedule over the render's steps (an animation's
frames): ``text:[0: (1.0), 40: (0.2)]`` or ``text:[1 + 0.5*sin(t/5)]``. ``A || B`` makes scenes that play
in turn (``pixforge.animation.scenes``). ``stop`` ends a prompt's pull once its distance falls below it (or, for a
negative weight, rises above it). Image prompts use the same syntax with a path, noise prompts with a seed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .animation.scenes import SceneEnvelope, Scaled, check_transition, split_scenes
from .animation.schedules import Constant, Schedule, parse_schedule
from .errors import ConfigError

if TYPE_CHECKING:
    from .regions import Region

_NUMBERISH = re.compile(r"^\s*[-+]?[\d.]*(e[-+]?\d+)?\s*$|^\s*[-+]?inf\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Weighted:
    """One prompt: what it names, its weight and its stop threshold."""

    value: str
    weight: float = 1.0
    stop: float = -math.inf
    #: the weight as a function of the step (or frame) when it changes over time; ``weight`` is its value at 0
    schedule: Schedule | None = None

    def at(self, t: float) -> float:
        """The weight at step (or frame) ``t``."""
        return self.weight if self.schedule is None else self.schedule(t)


@dataclass(frozen=True)
class PromptSet:
    """All the prompts of one render."""

    texts: list[Weighted] = field(default_factory=list)
    images: list[Weighted] = field(default_factory=list)
    targets: list[Weighted] = field(default_factory=list)
    noise: list[Weighted] = field(default_factory=list)
    #: prompts for part of the canvas, masks loaded (``pixforge.regions``)
    regions: list[Region] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.texts or self.images or self.targets or self.noise or self.regions)


def _number(field_text: str, what: str, part: str) -> float:
    try:
        return float(field_text)
    except ValueError:
        raise ConfigError(f"prompt '{part}': {what} '{field_text}' is not a number (use text:weight:stop)") from None


def _looks_numeric(text: str) -> bool:
    return bool(text.strip()) and bool(_NUMBERISH.match(text)) and any(c.isdigit() for c in text) or (
        text.strip().lower().lstrip("+-") == "inf"
    )


_SCHEDULED = re.compile(r"^(?P<text>.*):\[(?P<schedule>[^\[\]]*)\](?::(?P<stop>[^:]*))?$", re.DOTALL)


def parse_one(part: str) -> Weighted:
    """Parse ``text[:weight[:stop]]``; colons inside the text stay when what follows is not a number."""
    raw = part.strip()
    if not raw:
        raise ConfigError("empty prompt: each part between '|' needs text (e.g. 'a red circle:1.5')")
    scheduled = _SCHEDULED.match(raw)
    if scheduled is not None:
        text = scheduled["text"].strip()
        if not text:
            raise ConfigError(f"prompt '{raw}' has a weight but no text (use text:[schedule]:stop)")
        schedule = parse_schedule(scheduled["schedule"], f"prompt '{raw}' weight")
        stop = _number(scheduled["stop"], "stop", raw) if scheduled["stop"] is not None else -math.inf
        if schedule.is_constant:
            return Weighted(text, schedule(0), stop)
        return Weighted(text, schedule(0), stop, schedule)
    fields = raw.rsplit(":", 2)
    weight, stop = 1.0, -math.inf
    if len(fields) == 3 and _looks_numeric(fields[2]) and _looks_numeric(fields[1]):
        text = fields[0]
        weight = _number(fields[1], "weight", raw)
        stop = _number(fields[2], "stop", raw)
    elif len(fields) >= 2 and _looks_numeric(fields[-1]):
        text = raw.rsplit(":", 1)[0]
        weight = _number(fields[-1], "weight", raw)
    else:
        text = raw
        tail = raw.rsplit(":", 1)[-1] if ":" in raw else ""
        if tail and re.fullmatch(r"\s*[-+.\d]+\s*", tail):
            raise ConfigError(f"prompt '{raw}': '{tail}' is not a number (use text:weight:stop)")
    text = text.strip()
    if not text:
        raise ConfigError(f"prompt '{raw}' has a weight but no text (use text:weight:stop)")
    if math.isnan(weight) or math.isnan(stop):
        raise ConfigError(f"prompt '{raw}': weight and stop must be numbers, not nan")
    return Weighted(text, weight, stop)


def parse_prompts(
    spec: str | list[str] | None, total: int | None = None, transition: float = 0, unit: str = "steps"
) -> list[Weighted]:
    """Parse ``a|b:2|c:-1:0.9`` (or a list of such strings) into weighted prompts.

    Scenes (``A || B``) play in turn over ``total`` steps (or frames), crossfading over ``transition``;
    without a ``total`` (scoring a finished render, say) every scene's prompts count at their own weights.
    """
    if spec is None:
        return []
    specs = [spec] if isinstance(spec, str) else list(spec)
    parsed = []
    for one in specs:
        if not one.strip():
            continue
        scenes = split_scenes(one)
        if total is not None:
            check_transition(transition, total, len(scenes), unit)
        for index, scene in enumerate(scenes):
            prompts = [parse_one(part) for part in scene.split("|")]
            if len(scenes) > 1 and total is not None:
                envelope = SceneEnvelope(index, len(scenes), total, transition)
                prompts = [_in_scene(p, envelope) for p in prompts]
            parsed.extend(prompts)
    return parsed


def _in_scene(prompt: Weighted, envelope: SceneEnvelope) -> Weighted:
    own = prompt.schedule if prompt.schedule is not None else Constant(prompt.weight)
    schedule = Scaled(envelope, own)
    return Weighted(prompt.value, schedule(0), prompt.stop, schedule)


def parse_image_prompts(spec: str | list[str] | None, base: Path | None = None) -> list[Weighted]:
    """Like ``parse_prompts`` for image paths; every path must name a readable file."""
    prompts = parse_prompts(spec)
    checked = []
    for prompt in prompts:
        path = Path(prompt.value).expanduser()
        if base is not None and not path.is_absolute():
            path = base / path
        if not path.is_file():
            raise ConfigError(f"image prompt '{prompt.value}': no such file")
        checked.append(Weighted(str(path), prompt.weight, prompt.stop, prompt.schedule))
    return checked


def parse_noise_prompts(spec: str | list[str] | None) -> list[Weighted]:
    """Noise prompts: ``seed[:weight[:stop]]``; the seed must be a whole number."""
    prompts = parse_prompts(spec)
    for prompt in prompts:
        if not prompt.value.lstrip("-").isdigit():
            raise ConfigError(f"noise prompt '{prompt.value}': the seed must be a whole number")
    return prompts
