"""The ``pixforge`` command line. User mistakes end with one line on stderr and a non-zero exit.

Start-up stays light (``pixforge --help`` in well under a second): this module and what it imports at the
top never import torch or a model; a command imports its heavy modules inside its own function. To add a
command, write it in a module of its own (``sweep_cli.py`` is one) with only typer and light pixforge
modules at its top, and register it below with ``app.command("name")(function)``; a plugin adds commands
through the ``register_commands`` hook the same way. A command that renders makes ``Pipeline()``: inside
``main`` that shares the plugins this command already loaded.
"""

from __future__ import annotations

import json
import sys
import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from .console import error_line, fail, warn
from .errors import ConfigError, PixforgeError, PixforgeWarning
from .faults import describe_system_error, is_out_of_memory
from .files import printable
from .options import flag
from .plugins import loaded_once
from .animation_cli import animate, stylize
from .models_cli import models_app
from .sweep_cli import sweep

if TYPE_CHECKING:
    from .plugins import Manager

app = typer.Typer(
    name="pixforge",
    help="CLIP-guided generative art: render prompts with presets and plugins.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
presets_app = typer.Typer(help="List and show presets.", no_args_is_help=True)
plugins_app = typer.Typer(help="List installed plugins.", no_args_is_help=True)
app.add_typer(presets_app, name="presets")
app.add_typer(plugins_app, name="plugins")
app.add_typer(models_app, name="models")
app.command("sweep")(sweep)
app.command("animate")(animate)
app.command("stylize")(stylize)


def _pipeline(allow_download: bool | None = None):
    from .pipeline import Pipeline

    return Pipeline(allow_download=allow_download)


@app.command()
def render(
    prompt: Annotated[Optional[str], typer.Argument(help="Prompts: 'a|b:2|c:-1:0.9' (text:weight:stop).")] = None,
    preset: Annotated[str, typer.Option("--preset", "-p", help="Preset name or YAML file.")] = "default",
    set_: Annotated[
        Optional[list[str]],
        typer.Option(
            "--set", "-s", help="Override a setting: dotted.path=value, list+=item or list-=item (repeatable)."
        ),
    ] = None,
    seed: Annotated[Optional[str], typer.Option(help="Seed: an integer or any string.")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Optimisation steps.")] = None,
    size: Annotated[Optional[str], typer.Option(help="Canvas size, WxH (e.g. 256x192) or N.")] = None,
    stages_: Annotated[
        Optional[str],
        typer.Option("--stages", help="Staged render, SIZE:STEPS from small to large (e.g. 64:80,128:40); sets size and steps."),
    ] = None,
    device: Annotated[Optional[str], typer.Option(help="auto, cpu, cuda[:N] or mps.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run folder (default: new one in ./pixforge-out).")] = None,
    video: Annotated[bool, flag("--video", help="Also write a video of the progress frames.")] = False,
    generator: Annotated[
        Optional[str], typer.Option(help="Generator to use instead of the preset's (vqgan, pixel, dvae…).")
    ] = None,
    init_image: Annotated[Optional[Path], typer.Option("--init-image", help="Start from this picture.")] = None,
    region: Annotated[
        Optional[list[str]],
        typer.Option("--region", help="A prompt for part of the canvas: MASK=TEXT[:weight] (MASK: left, right, top, "
                     "bottom, centre, border or a .png; repeatable)."),
    ] = None,
    transparent: Annotated[
        bool, flag("--transparent", help="An RGBA final.png: the picture gets an alpha channel.")
    ] = False,
    palette: Annotated[
        Optional[str],
        typer.Option(help="Keep the picture in a palette: colour names, #hex, ramps 'black->red\\8', photo.png:6."),
    ] = None,
    tile: Annotated[bool, flag("--tile", help="A seamless tile: the picture wraps around at its edges.")] = False,
    wallpaper: Annotated[
        Optional[str],
        typer.Option(help="A symmetry: mirror_x, mirror_y, mirror_xy, rot2, rot4, or a wallpaper group p1 p2 pm pg pmm p4 p4m."),
    ] = None,
    from_image: Annotated[
        Optional[Path], typer.Option("--from", help="Replay the render stored in a pixforge PNG.")
    ] = None,
    resume: Annotated[
        Optional[Path], typer.Option("--resume", help="Continue a killed render from its run folder's checkpoint.")
    ] = None,
    candidates: Annotated[
        int, typer.Option(help="Render N seeds and keep the best by CLIP score (ranked sheet: candidates.png).")
    ] = 1,
    keep_checkpoint: Annotated[
        bool, flag("--keep-checkpoint", help="Keep checkpoint.pt after the render finishes (a cut-off one keeps it).")
    ] = False,
    quiet: Annotated[bool, flag("--quiet", "-q", help="No progress bar.")] = False,
    no_download: Annotated[
        bool, flag("--no-download", help="Never download weights (as PIXFORGE_OFFLINE=1); a missing one is an error.")
    ] = False,
    compile_: Annotated[
        bool, flag("--compile", help="torch.compile the generator and perceptors (GPU; slow first steps).")
    ] = False,
    precision: Annotated[
        Optional[str],
        typer.Option(help="fp32, amp_bf16 or amp_fp16 for every component that has the setting (CLIP, VQGAN); "
                     "amp_bf16 pays on GPUs and CPUs with AMX."),
    ] = None,
    profile: Annotated[bool, flag("--profile", help="Print the time each stage of the step took.")] = False,
    trust_checkpoint: Annotated[
        bool,
        flag(
            "--trust-checkpoint",
            help="Let components fully unpickle checkpoints (can run code from them); never read from files.",
        ),
    ] = False,
) -> None:
    """Render PROMPT to an image."""
    from .results import RenderDiverged, RenderInterrupted
    from .profiling import StageProfiler, format_profile
    from .progress import ProgressBar

    values: dict[str, object] = {}
    if stages_ is not None and (steps is not None or size is not None):
        fail("--stages gives each stage's size and steps (e.g. --stages 64:80,128:40): leave out --steps and --size")
    for key, value in (("seed", seed), ("steps", steps), ("size", size), ("device", device), ("stages", stages_)):
        if value is not None:
            values[key] = value
    if video:
        values["video.enabled"] = True
    if generator is not None:
        values["generator"] = {"name": generator}  # another generator's settings start from its defaults
    if init_image is not None:
        values["init_image"] = str(init_image)
    if keep_checkpoint:
        values["keep_checkpoint"] = True
    if region:
        values["prompts.regions"] = list(region)
    if transparent:
        values["transparency.enabled"] = True
    if palette is not None:
        values["palette"] = palette  # the palette filter (pixforge.filter_values)
    if tile:
        values["tile"] = True
    if wallpaper is not None:
        values["wallpaper"] = wallpaper  # the wallpaper filter's symmetry (pixforge.filter_values)
    if compile_:
        values["compile"] = True
    if precision is not None:
        values["precision"] = precision
    if prompt is None and region and from_image is None and resume is None:
        prompt = ""  # the regions are the prompts
    if prompt is None and from_image is None and resume is None:
        fail("render needs a PROMPT (or --from IMAGE.png to replay a render, or --resume RUN_DIR)")
    progress = ProgressBar(enabled=False if quiet else None)
    stages = StageProfiler(enabled=profile)
    try:
        pipeline = _pipeline(allow_download=False if no_download else None)
        if resume is not None:
            result = pipeline.resume(resume, observers=[progress, stages], trust_checkpoint=trust_checkpoint)
        else:
            result = pipeline.render(
                prompt,
                preset,
                overrides=set_ or [],
                out=out,
                observers=[progress, stages],
                from_image=from_image,
                candidates=candidates,
                trust_checkpoint=trust_checkpoint,
                **values,
            )
    except RenderInterrupted as stop:
        typer.echo(f"pixforge: {stop}", err=True)
        raise typer.Exit(130) from None
    except RenderDiverged as exc:
        fail(str(exc))
    except PixforgeError as exc:
        fail(str(exc))
    last = result.losses[-1]["loss"] if result.losses else float("nan")
    for rank, row in enumerate(result.extras.get("candidates", []), start=1):
        sample = f" sample {row['sample']}" if row.get("sample") is not None else ""
        typer.echo(f"#{rank} seed {row['seed']}{sample} score {row['score']:.4f}  {row['run_dir']}")
    typer.echo(f"{printable(result.final_path)}  (seed {result.seed}, {result.steps_done} steps, loss {last:.4f})")
    if profile:
        typer.echo(format_profile(stages.summary()))


@presets_app.command("list")
def presets_list() -> None:
    """List the available presets."""
    from .resolve import available_presets, preset_description

    try:
        registry = _pipeline().registry
    except PixforgeError as exc:
        fail(str(exc))
    for name, path in available_presets(registry).items():
        typer.echo(f"{name:<12} {preset_description(path)}")


@presets_app.command("show")
def presets_show(
    name: Annotated[str, typer.Argument(help="Preset name or YAML file.")],
    resolved: Annotated[bool, flag(help="Show every setting with its default filled in.")] = True,
) -> None:
    """Show a preset's settings (with `extends:` merged and defaults filled in)."""
    from .config import config_to_yaml
    from .resolve import resolve_config

    try:
        config = resolve_config(_pipeline().registry, name)
    except PixforgeError as exc:
        fail(str(exc))
    typer.echo(config_to_yaml(config), nl=False)


@plugins_app.command("list")
def plugins_list(as_json: Annotated[bool, flag("--json", help="Machine-readable output.")] = False) -> None:
    """List loaded plugins and the components each registers."""
    try:
        rows = _pipeline().registry.plugins()
    except PixforgeError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        provides = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in row["provides"].items())
        typer.echo(f"{row['name']:<12} {row['distribution'] or '-':<24} {provides}")


def _add_plugin_commands() -> Manager | None:
    """Load the plugins (once for the whole command) and let them add sub-commands; a plugin that fails to
    load is reported when a command needs the plugins."""
    from .plugins import make_manager

    try:
        manager = make_manager()
    except PixforgeError as exc:
        # said now, or a plugin's command (``serve``) would only be "No such command"
        warn(f"{exc}; commands that plugins add are missing")
        return None
    manager.hook.register_commands(cli=app)
    return manager


def _read_peer_flags(args: list[str]) -> list[str]:
    """``pixforge render`` given Pixray's or VQGAN-CLIP's flags: read as pixforge's (``pixforge.peer_flags``)."""
    if not args or args[0] != "render":
        return args
    from .peer_flags import translate

    command = getattr(typer.main.get_command(app), "commands", {})["render"]
    takes_value = {
        name
        for param in command.params
        if param.param_type_name == "option" and not getattr(param, "is_flag", False)
        for name in param.opts
    }
    return ["render", *translate(args[1:], takes_value)]


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """pixforge's own warnings as one line on stderr; others as Python prints them."""
    if issubclass(category, PixforgeWarning):
        warn(str(message))
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``pixforge`` script."""
    warnings.showwarning = _show_warning
    manager = _add_plugin_commands()
    try:
        args = _read_peer_flags(list(sys.argv[1:] if argv is None else argv))
    except ConfigError as exc:  # a peer's flag that pixforge has no like for: a usage error
        error_line(str(exc))
        sys.exit(2)
    try:
        with loaded_once(manager) if manager is not None else nullcontext():
            app(args=args, prog_name="pixforge")
    except PixforgeError as exc:  # raised outside a command (e.g. while a plugin adds its commands)
        error_line(str(exc))
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("pixforge: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a full or read-only disk, a bad --out, memory running out: one line
        if not (isinstance(exc, OSError) or is_out_of_memory(exc)):
            raise
        error_line(describe_system_error(exc))
        sys.exit(1)


if __name__ == "__main__":
    main()
