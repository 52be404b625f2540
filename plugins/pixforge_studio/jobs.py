"""Render requests: checked and resolved in the server, before they are queued, into a job spec a worker runs.

Resolving in the server means a bad setting is a 400 naming it at once, not a failed job later; the
spec keeps the request's own words (prompt, preset, overrides), so the worker resolves the same settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pixforge.config import RenderConfig
from pixforge.errors import ConfigError
from pixforge.files import is_regular, printable

from .security import RequestError, Roots, check_override, check_value

#: limits on what one request may ask for (a render of this many steps or pixels per side at most)
MAX_STEPS = 5000
MAX_SIDE = 1024
MAX_CANDIDATES = 16
#: an animation's steps over all its frames, at most
MAX_TOTAL_STEPS = 20000


class RenderRequest(BaseModel):
    """POST /api/renders: what to render. Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=2000, description="Prompts: 'a|b:2|c:-1:0.9' (text:weight:stop).")
    preset: str = Field("default", max_length=200, description="A preset name (GET /api/presets).")
    overrides: list[str] = Field(
        default_factory=list, max_length=64, description="Settings overrides, 'dotted.path=value' as --set takes them."
    )
    seed: int | str | None = Field(None, description="An integer or any string; none: a random seed, recorded.")
    steps: int | None = Field(None, ge=1, le=MAX_STEPS)
    size: str | int | None = Field(None, description="WxH (e.g. 64x64) or N.")
    candidates: int = Field(1, ge=1, le=MAX_CANDIDATES, description="Render N seeds, keep the best by CLIP score.")
    init_image: str | None = Field(
        None, description="An image inside the input or runs folder (an upload's path from POST /api/uploads)."
    )
    video: bool = Field(False, description="Also write video.mp4 of the progress.")
    animation: dict[str, Any] | None = Field(
        None,
        description="Animate instead of a still (pixforge animate): frames, steps_per_frame, zoom, rotate, "
        "translate_x, translate_y (numbers, keyframes or expressions of t), infill, fps, gif.",
    )


def total_steps(config: RenderConfig, renders: int, layout: int = 0) -> int:
    """The optimisation steps a job makes in all: an animation's over its frames, stages' over the stages,
    a still's times the renders best-of-N makes one after another (the progress bar's length); ``layout``
    steps (``layout_steps``) come before each render, and before an animation's first frame."""
    animation = getattr(config, "animation", None)
    if animation is not None:
        return layout + config.steps + (animation.frames - 1) * animation.steps_per_frame
    stages = getattr(config, "stages", None) or []
    return ((sum(stage.steps for stage in stages) or config.steps) + layout) * renders


def layout_steps(pipeline: Any, config: RenderConfig) -> int:
    """The steps of the layout a render starts from (pixforge.layout): its candidates' renders' steps."""
    from pixforge.layout import layout_config, wants_layout

    if not wants_layout(config) or config.layout is None:
        return 0
    first = layout_config(config)
    return first.steps * renders_of(pipeline, first, config.layout.candidates)


def check_limits(config: RenderConfig, total: int) -> None:
    """Refuse settings past the server's limits (an override can raise steps or size too)."""
    if config.steps > MAX_STEPS:
        raise RequestError(f"steps {config.steps} is over this server's limit of {MAX_STEPS}")
    if total > MAX_TOTAL_STEPS:
        raise RequestError(f"{total} steps in all is over this server's limit of {MAX_TOTAL_STEPS}")
    width, height = config.size
    if max(width, height) > MAX_SIDE:
        raise RequestError(f"size {width}x{height} is over this server's limit of {MAX_SIDE} pixels a side")


def renders_of(pipeline: Any, config: RenderConfig, candidates: int) -> int:
    """How many renders one after another a still makes: its candidates, unless the generator batches them."""
    if candidates > 1 and pipeline.registry.get("generator", config.generator.name).samples_setting is None:
        return candidates
    return 1


def kind_of(config: RenderConfig, candidates: int) -> str:
    """"animation" when the settings carry an animation: section (a preset's or the request's), else "render"."""
    if getattr(config, "animation", None) is None:
        return "render"
    if candidates > 1:
        raise RequestError("candidates choose the best of several stills; an animation takes candidates 1")
    return "animation"


def known_preset(pipeline: Any, name: str) -> str:
    """``name`` if it is a preset the server has; requests name presets, never preset files."""
    from pixforge.errors import suggest
    from pixforge.resolve import available_presets

    presets = available_presets(pipeline.registry)
    if name not in presets:
        raise RequestError(f"preset '{printable(name)}' is not one this server has; {suggest(name, presets)}")
    return name


def render_spec(pipeline: Any, roots: Roots, request: RenderRequest) -> dict[str, Any]:
    """The job spec of a render request, after every check (RequestError / ConfigError when one fails)."""
    preset = known_preset(pipeline, request.preset)
    for override in request.overrides:
        check_override(roots, override)
    values: dict[str, Any] = {}
    for key in ("seed", "steps", "size"):
        if getattr(request, key) is not None:
            values[key] = getattr(request, key)
    if request.video:
        values["video.enabled"] = True
    for key, value in (request.animation or {}).items():
        check_value(roots, value, f"animation.{key}")
        values[f"animation.{key}"] = value
    if request.init_image:
        path = roots.confine(request.init_image, "init_image")
        if not is_regular(path):
            raise RequestError(f"init_image '{printable(request.init_image)}': no such file")
        values["init_image"] = str(path)
    config = pipeline.resolve(request.prompt, preset, list(request.overrides), **values)
    kind = kind_of(config, request.candidates)
    total = total_steps(config, renders_of(pipeline, config, request.candidates), layout_steps(pipeline, config))
    check_limits(config, total)
    return {
        "kind": kind,
        "total": total,
        "prompt": request.prompt,
        "preset": preset,
        "overrides": list(request.overrides),
        "values": values,
        "candidates": request.candidates,
    }


def replay_spec(pipeline: Any, roots: Roots, run_dir: Path) -> dict[str, Any]:
    """The job spec that renders a run again from the settings in its final.png (trust never read back)."""
    from pixforge.outputs import read_render_settings

    final = run_dir / "final.png"
    if not final.is_file():
        raise RequestError(f"run '{printable(run_dir.name)}' has no final.png to replay yet")
    try:
        settings = read_render_settings(final)
    except ConfigError as exc:
        raise RequestError(str(exc)) from None
    check_value(roots, settings, "the run's settings")
    config = pipeline.resolve(None, settings)
    total = total_steps(config, 1, layout_steps(pipeline, config))
    check_limits(config, total)
    return {
        "kind": kind_of(config, 1),
        "total": total,
        "prompt": None,
        "preset": settings,
        "overrides": [],
        "values": {},
        "candidates": 1,
        "replay_of": run_dir.name,
    }
