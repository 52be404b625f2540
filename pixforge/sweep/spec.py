"""The sweep file: a preset, settings shared by every render, and the settings that vary between them.

::

    preset: draft                       # the preset every render starts from (a grid may vary it)
    base: {steps: 30, cutouts.count: 8} # settings for every render (dotted keys, like --set)
    grid:                               # the cartesian product of these axes
      prompt: [a red circle, a blue square]
      seed: [1, 2]
    variations:                         # an explicit list; combined with every grid point
      - {losses.smoothness.weight: 0.1}
      - {losses.smoothness.weight: 1.0, optimizer.lr: 0.05}

Keys are ``preset`` or any render setting (``prompt``, ``seed``, ``losses.smoothness.weight``…). The file
is checked strictly: an unknown key is an error that names it, before anything renders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from ..config import RenderConfig, parse_override, read_yaml
from ..errors import ConfigError, suggest
from ..files import read_text
from ..settings import StrictModel, validate

#: keys a variation may set besides the render settings
JOB_KEYS = ("preset",)
#: a sweep larger than this is almost certainly a mistake in the grid
MAX_JOBS = 10_000


class SweepSpec(StrictModel):
    """A validated sweep file."""

    preset: str = "default"
    #: the sweep's folder (relative to the working folder); ``--out`` wins
    out: str | None = None
    #: render N seeds per variation and keep the best by CLIP score (``--candidates`` wins)
    candidates: int = Field(1, ge=1)
    base: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    variations: list[dict[str, Any]] = Field(default_factory=list)


def check_key(key: str, where: str) -> None:
    """A key must be ``preset`` or start with a render setting's name; the error suggests the closest one."""
    valid = [*RenderConfig.model_fields, *JOB_KEYS]
    head = key.split(".", 1)[0]
    if head not in valid:
        raise ConfigError(f"{where}: unknown key '{key}'; {suggest(head, valid)}")


def check_spec(spec: SweepSpec, where: str) -> SweepSpec:
    """The checks a pydantic model cannot say: key names, empty axes, keys set twice."""
    if "preset" in spec.base:
        raise ConfigError(f"{where}: 'base.preset': put the preset at the top level (preset: NAME)")
    for key in spec.base:
        check_key(key, f"{where}: base")
    for key, values in spec.grid.items():
        check_key(key, f"{where}: grid")
        if not values:
            raise ConfigError(f"{where}: grid '{key}' has no values")
    for number, variation in enumerate(spec.variations, start=1):
        for key in variation:
            check_key(key, f"{where}: variation {number}")
            if key in spec.grid:
                raise ConfigError(f"{where}: '{key}' is both a grid axis and set by variation {number}")
    count = max(1, len(spec.variations))
    for values in spec.grid.values():
        count *= len(values)
    if count > MAX_JOBS:
        raise ConfigError(f"{where}: the sweep makes {count} renders (more than {MAX_JOBS}); shrink the grid")
    return spec


def load_spec(path: Path | None = None, data: dict[str, Any] | None = None) -> SweepSpec:
    """A sweep file (or an already-read mapping) → a checked SweepSpec; neither gives an empty sweep."""
    if path is not None:
        data = read_yaml(path)
        where = str(path)
        if not data:  # an empty file would otherwise run one render of the default preset
            raise ConfigError(f"sweep file '{path}' is empty; give it a grid, variations or base (see README: sweeps)")
    else:
        where = "sweep"
    return check_spec(validate(SweepSpec, data or {}, where), where)


def read_prompts_file(path: Path) -> list[str]:
    """One prompt a line; blank lines and lines starting with ``#`` are skipped."""
    lines = read_text(path, "--prompts-file").splitlines()
    prompts = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not prompts:
        raise ConfigError(f"--prompts-file '{path}': no prompts in it")
    return prompts


def with_prompts(spec: SweepSpec, prompts: list[str], where: str) -> SweepSpec:
    """The spec with a ``prompt`` axis from a prompts file (the spec must not vary prompts itself)."""
    if "prompt" in spec.grid or any("prompt" in v for v in spec.variations):
        raise ConfigError(f"{where}: --prompts-file and the sweep file both vary 'prompt'; keep one")
    return spec.model_copy(update={"grid": {"prompt": prompts, **spec.grid}})


def with_overrides(spec: SweepSpec, overrides: list[str]) -> SweepSpec:
    """``--set key=value`` from the command line joins ``base`` (a grid axis or variation still wins)."""
    base = dict(spec.base)
    for text in overrides:
        path, value = parse_override(text)
        key = ".".join(path)
        check_key(key, f"--set '{text}'")
        if key == "preset":
            raise ConfigError(f"--set '{text}': the preset is not a setting; put preset: NAME in the sweep file")
        base.pop(key, None)
        base[key] = value
    return spec.model_copy(update={"base": base})
