"""Prompt syntax, compatible with Pixray and VQGAN-CLIP.

``a|b|c`` separates prompts; each is ``text``, ``text:weight`` or ``text:weight:stop``. A negative weight
pushes away from the text. ``stop`` ends a prompt's pull once its distance falls below it (or, for a
negative weight, rises above it). Image prompts use the same syntax with a path, noise prompts with a seed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

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


def parse_one(part: str) -> Weighted:
    """Parse ``text[:weight[:stop]]``; colons inside the text stay when what follows is not a number."""
    raw = part.strip()
    if not raw:
        raise ConfigError("empty prompt: each part between '|' needs text (e.g. 'a red circle:1.5')")
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


def parse_prompts(spec: str | list[str] | None) -> list[Weighted]:
    """Parse ``a|b:2|c:-1:0.9`` (or a list of such strings) into weighted prompts."""
    if spec is None:
        return []
    specs = [spec] if isinstance(spec, str) else list(spec)
    parsed = []
    for one in specs:
        if not one.strip():
            continue
        parsed.extend(parse_one(part) for part in one.split("|"))
    return parsed


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
        checked.append(Weighted(str(path), prompt.weight, prompt.stop))
    return checked


def parse_noise_prompts(spec: str | list[str] | None) -> list[Weighted]:
    """Noise prompts: ``seed[:weight[:stop]]``; the seed must be a whole number."""
    prompts = parse_prompts(spec)
    for prompt in prompts:
        if not prompt.value.lstrip("-").isdigit():
            raise ConfigError(f"noise prompt '{prompt.value}': the seed must be a whole number")
    return prompts
