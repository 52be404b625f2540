"""The ``pixforge animate`` and ``pixforge stylize`` commands (``pixforge.animation`` does the work)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .console import fail
from .files import printable
from .options import flag

SCHEDULE = "a number, keyframes '0: (1), 40: (1.1)' or an expression of the frame t"


def _schedule(what: str):  # noqa: ANN202 - a typer Option
    return typer.Option(help=f"{what}: {SCHEDULE}.")


def _number_or_schedule(text: str | None) -> float | str | None:
    """``"1.05"`` → 1.05 (a plain number is kept as one in settings.yaml); anything else stays a schedule."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _values(**given: Any) -> dict[str, Any]:
    return {key: value for key, value in given.items() if value is not None}


def _progress(quiet: bool):
    def show(done: int, total: int) -> None:
        if not quiet:
            typer.echo(f"frame {done}/{total}", err=True)

    return show


def animate(
    prompt: Annotated[Optional[str], typer.Argument(help="Prompts: 'a|b:2', scenes 'A || B', weights 'a:[0: (1), 9: (0)]'.")] = None,
    frames: Annotated[Optional[int], typer.Option(help="Frames to make.")] = None,
    steps_per_frame: Annotated[Optional[int], typer.Option(help="Steps of each frame after the first (that takes --steps).")] = None,
    zoom: Annotated[Optional[str], _schedule("Scale per frame about the centre (above 1 zooms in)")] = None,
    rotate: Annotated[Optional[str], _schedule("Degrees per frame, counter-clockwise")] = None,
    translate_x: Annotated[Optional[str], _schedule("Pixels per frame, rightwards")] = None,
    translate_y: Annotated[Optional[str], _schedule("Pixels per frame, downwards")] = None,
    transition: Annotated[Optional[int], typer.Option(help="Frames over which scenes 'A || B' crossfade.")] = None,
    infill: Annotated[Optional[str], typer.Option(help="What fills uncovered canvas: wrap, mirror, smear or black.")] = None,
    fps: Annotated[Optional[int], typer.Option(help="Frames per second of the video.")] = None,
    video: Annotated[Optional[bool], flag("--video/--no-video", help="Write video.mp4 (on by default).")] = None,
    gif: Annotated[bool, flag("--gif", help="Also write video.gif.")] = False,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="Continue a killed animation from its run folder.")] = None,
    preset: Annotated[str, typer.Option("--preset", "-p", help="Preset name or YAML file.")] = "default",
    set_: Annotated[Optional[list[str]], typer.Option("--set", "-s", help="Override a setting: dotted.path=value.")] = None,
    seed: Annotated[Optional[str], typer.Option(help="Seed: an integer or any string.")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Steps of the first frame.")] = None,
    size: Annotated[Optional[str], typer.Option(help="Canvas size, WxH or N.")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto, cpu, cuda[:N] or mps.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run folder (default: a new one in ./pixforge-out).")] = None,
    quiet: Annotated[bool, flag("--quiet", "-q", help="No progress lines.")] = False,
) -> None:
    """Animate PROMPT: each frame warps the last, starts from it and optimises a few steps."""
    from .animation.frames import AnimationInterrupted, animate as run
    from .errors import PixforgeError

    values = _values(
        frames=frames, steps_per_frame=steps_per_frame, zoom=_number_or_schedule(zoom), rotate=_number_or_schedule(rotate),
        translate_x=_number_or_schedule(translate_x), translate_y=_number_or_schedule(translate_y), infill=infill,
        fps=fps, video=video, gif=gif or None, seed=seed, steps=steps, size=size, device=device,
    )
    if transition is not None:
        values["prompts.transition"] = transition
    if prompt is None and resume is None:
        fail("animate needs a PROMPT (or --resume RUN_DIR to continue one)")
    try:
        if resume is not None:
            if prompt is not None or values or set_ or out is not None:
                fail("--resume continues an animation with its own settings; give only --resume DIR")
            result = run(resume=resume, on_frame=_progress(quiet))
        else:
            result = run(prompt, preset, overrides=set_ or [], out=out, on_frame=_progress(quiet), **values)
    except AnimationInterrupted as stop:
        typer.echo(f"pixforge: {stop}", err=True)
        raise typer.Exit(130) from None
    except PixforgeError as exc:
        fail(str(exc))
    made = ", ".join(printable(v) for v in result.videos) or printable(result.final_path)
    typer.echo(f"{made}  (seed {result.seed}, {len(result.frames)} frames, {result.frames_made} made now)")


def stylize(
    source: Annotated[Path, typer.Argument(help="An .mp4, a .gif or a folder of frames.", metavar="INPUT")],
    prompt: Annotated[str, typer.Argument(help="Prompts: 'a|b:2', scenes 'A || B'.")],
    steps_per_frame: Annotated[Optional[int], typer.Option(help="Steps of each frame.")] = None,
    blend: Annotated[Optional[float], typer.Option(help="Share of the previous output in each frame's start (0..1).")] = None,
    temporal: Annotated[Optional[float], typer.Option(help="Weight of the temporal loss (0: off).")] = None,
    ema: Annotated[Optional[float], typer.Option(help="Moving-average decay of the parameters across frames (0: off).")] = None,
    fps: Annotated[Optional[int], typer.Option(help="Frames per second when INPUT is a folder.")] = None,
    gif: Annotated[bool, flag("--gif", help="Also write video.gif.")] = False,
    preset: Annotated[str, typer.Option("--preset", "-p", help="Preset name or YAML file.")] = "default",
    set_: Annotated[Optional[list[str]], typer.Option("--set", "-s", help="Override a setting: dotted.path=value.")] = None,
    seed: Annotated[Optional[str], typer.Option(help="Seed: an integer or any string.")] = None,
    size: Annotated[Optional[str], typer.Option(help="Canvas size, WxH or N (default: the input's).")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto, cpu, cuda[:N] or mps.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run folder (default: a new one in ./pixforge-out).")] = None,
    quiet: Annotated[bool, flag("--quiet", "-q", help="No progress lines.")] = False,
) -> None:
    """Restyle every frame of INPUT with PROMPT; the output keeps its frame count and frame rate."""
    from .animation.stylize import stylize as run
    from .errors import PixforgeError

    values = _values(steps_per_frame=steps_per_frame, blend=blend, temporal=temporal, ema=ema, fps=fps,
                     gif=gif or None, seed=seed, size=size, device=device)
    try:
        result = run(source, prompt, preset, overrides=set_ or [], out=out, on_frame=_progress(quiet), **values)
    except KeyboardInterrupt:
        typer.echo("pixforge: interrupted; the finished frames stay in the run folder", err=True)
        raise typer.Exit(130) from None
    except PixforgeError as exc:
        fail(str(exc))
    made = ", ".join(printable(v) for v in result.videos) or printable(result.final_path)
    typer.echo(f"{made}  (seed {result.seed}, {len(result.frames)} frames)")
