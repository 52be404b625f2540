"""A sweep spec → the list of renders (jobs), each with its own run folder named after its variation."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .spec import SweepSpec

#: the longest variation part of a run folder's name
MAX_SLUG = 72


@dataclass(frozen=True)
class Job:
    """One render of a sweep: what varies, every setting it gets, and where it goes."""

    index: int
    name: str
    run_dir: Path
    preset: str
    #: dotted setting → value, applied in order over the preset (base first, then the variation)
    values: dict[str, Any]
    #: only the keys this job varies (grid point + variation), for folder names, captions and the summary
    variation: dict[str, Any] = field(default_factory=dict)
    candidates: int = 1

    def identity(self) -> str:
        """What makes two jobs the same render: compared with the record in an existing run folder."""
        return canonical({"preset": self.preset, "values": self.values, "candidates": self.candidates})

    def caption(self) -> str:
        """A short line for a contact sheet: the prompt as it is, other keys by their last part."""
        parts = [str(v) if k == "prompt" else f"{k.rsplit('.', 1)[-1]}={v}" for k, v in self.variation.items()]
        return " ".join(parts) or self.name


def canonical(data: Any) -> str:
    """JSON with sorted keys and tuples as lists, so equal settings compare equal after a round trip."""
    return json.dumps(json.loads(json.dumps(data, default=str)), sort_keys=True)


def variations(spec: SweepSpec) -> list[dict[str, Any]]:
    """Every grid point combined with every listed variation (grid keys first, in the file's order)."""
    axes = list(spec.grid)
    points = [dict(zip(axes, combo)) for combo in itertools.product(*(spec.grid[a] for a in axes))]
    listed = spec.variations or [{}]
    return [{**point, **extra} for point in points for extra in listed]


def slug(variation: dict[str, Any]) -> str:
    """``{"prompt": "A red circle!", "seed": 2}`` → ``prompt=a-red-circle_seed=2`` (file-name safe).

    Long text is cut between words and parts that do not fit are left out whole, so a name never ends in
    the middle of a number.
    """
    parts = []
    for key, value in variation.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        text = re.sub(r"[^a-z0-9.+-]+", "-", str(text).lower()).strip("-") or "x"
        if isinstance(value, str):
            text = _cut_between_words(text, 32)
        parts.append(f"{re.sub(r'[^A-Za-z0-9._-]+', '-', key)}={text}")
    name = parts[0] if parts else ""
    for part in parts[1:]:
        if len(name) + 1 + len(part) > MAX_SLUG:
            break
        name = f"{name}_{part}"
    return _cut_between_words(name, MAX_SLUG).rstrip("-_=")


def _cut_between_words(text: str, limit: int) -> str:
    """``text`` at most ``limit`` long, cut at a ``-`` where one is near enough (else where it must be)."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    return head.rsplit("-", 1)[0] if "-" in head[limit // 2 :] else head


def merged(*layers: dict[str, Any]) -> dict[str, Any]:
    """Later layers win; a key set again moves to the end, so it is applied after anything it overlaps."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            out.pop(key, None)
            out[key] = value
    return out


def plan(spec: SweepSpec, out: Path, candidates: int | None = None) -> list[Job]:
    """The jobs of a sweep in a fixed order; the same spec always gives the same names and folders."""
    points = variations(spec)
    width = max(3, len(str(len(points) - 1)))
    jobs = []
    for index, variation in enumerate(points):
        values = merged(spec.base, {k: v for k, v in variation.items() if k != "preset"})
        label = slug(variation)
        name = f"{index:0{width}d}-{label}" if label else f"{index:0{width}d}"
        jobs.append(
            Job(
                index=index,
                name=name,
                run_dir=out / name,
                preset=str(variation.get("preset", spec.preset)),
                values=values,
                variation=variation,
                candidates=candidates if candidates is not None else spec.candidates,
            )
        )
    return jobs
