"""Staged renders: a small canvas first, then each larger stage starting from the last one's picture, upsampled.

Most of a picture's layout is settled in its first steps, and those are cheap at 64 px; the larger stages
only refine it. Each stage is an ordinary render in its own run folder, built at the stage's size, with
the generator started by ``Generator.from_image`` from the previous stage's ``final.png``:

    RUN/settings.yaml          the whole staged render (``render --resume RUN`` reads it)
    RUN/stages/1-64x64/        the first stage's run folder (settings.yaml, checkpoint.pt, final.png, run.json)
    RUN/stages/2-128x128/      ...
    RUN/final.png, run.json    the last stage's picture, carrying the staged settings; how the render ended

The hand-over always goes through the previous stage's final.png (8 bits a channel), so a resumed staged
render starts each stage from the very bytes an uninterrupted one does: resuming keeps completed stages,
continues the stage that was running from its checkpoint (or starts it again when it wrote none) and runs
the stages after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .components import Observer
from .config import RenderConfig, StageSettings, config_to_yaml
from .outputs import load_image, pil_to_tensor, render_metadata, save_png
from .results import RenderDiverged, RenderInterrupted, RenderResult, Status
from .layout import render_layout, wants_layout
from .resume import Checkpoint, is_completed, write_status
from .run_folder import RunFolder

if TYPE_CHECKING:
    from .pipeline import Pipeline

STAGES_FOLDER = "stages"


def follow_stages(config: RenderConfig) -> RenderConfig:
    """A staged render's settings with ``size`` the last stage's and ``steps`` the stages' sum."""
    if not config.stages:
        return config
    size = config.stages[-1].size
    return config.model_copy(update={"size": size, "steps": sum(stage.steps for stage in config.stages)})


def stage_config(config: RenderConfig, stage: StageSettings) -> RenderConfig:
    """One stage's settings: the render's own, at the stage's size and steps, unstaged."""
    return config.model_copy(update={"size": stage.size, "steps": stage.steps, "stages": [], "layout": None}, deep=True)


def stage_dir(run_dir: Path, index: int, stage: StageSettings) -> Path:
    """The run folder of stage ``index`` (1-based)."""
    return run_dir / STAGES_FOLDER / f"{index}-{stage.size[0]}x{stage.size[1]}"


def _picture(folder: Path) -> torch.Tensor:
    """A stage's final.png as ``[1, 3, H, W]`` (``[1, 4, H, W]`` when it is RGBA, a transparent render's):
    what the next stage starts from."""
    return pil_to_tensor(load_image(RunFolder(folder).final, "the previous stage's final.png"), keep_alpha=True)


def render_stages(
    pipeline: Pipeline, config: RenderConfig, run_dir: Path, observers: Sequence[Observer] = (), resuming: bool = False
) -> RenderResult:
    """Run every stage of ``config`` (seed already an int) into ``run_dir``; ``resuming`` keeps finished stages."""
    config = follow_stages(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    folder = RunFolder(run_dir)
    with folder.lock():
        settings_yaml = config_to_yaml(config)
        folder.write_text(RunFolder.SETTINGS, settings_yaml)
        png_text = render_metadata(settings_yaml, int(config.seed or 0), config.prompt)
        history: list[dict[str, float]] = []
        done = 0
        result: RenderResult | None = None
        previous: Path | None = None
        first = render_layout(pipeline, config, run_dir, observers) if wants_layout(config) else None
        for index, stage in enumerate(config.stages, start=1):
            here = stage_dir(run_dir, index, stage)
            start = _picture(previous) if previous is not None else first
            previous = here
            if resuming and is_completed(here):
                done += stage.steps
                continue
            resume = Checkpoint.load(here) if resuming and RunFolder(here).checkpoint.is_file() else None
            try:
                result = pipeline.render_config(stage_config(config, stage), here, observers, resume, start=start)
            except RenderInterrupted as stop:
                top = _finish(run_dir, png_text, stop.result, history, done, config, "interrupted", stop.result.message)
                raise RenderInterrupted(replace(top, extras={**top.extras, "resumable": True})) from None
            except RenderDiverged as exc:
                top = _finish(run_dir, png_text, exc.result, history, done, config, "diverged", str(exc))
                raise RenderDiverged(f"stage {index} ({here.name}): {exc}", top) from None
            history.extend({**row, "step": row["step"] + done} for row in result.losses)
            done += stage.steps
        if result is None:  # every stage had completed before this resume
            last = RunFolder(previous or run_dir).final
            tensor = pil_to_tensor(load_image(last, "the last stage's final.png"))
            result = RenderResult(image=load_image(last), tensor=tensor, run_dir=previous or run_dir, losses=[],
                                  seed=int(config.seed or 0), settings={}, steps_done=config.steps)
        return _finish(run_dir, png_text, result, history, done, config, "completed", "")


def _finish(
    run_dir: Path, png_text: dict[str, str], last: RenderResult, history: list[dict[str, float]], done: int,
    config: RenderConfig, status: Status, message: str,
) -> RenderResult:
    """The staged render's own final.png (the last stage's picture with the staged settings) and run.json."""
    steps_done = done if status == "completed" else done + last.steps_done
    if status != "completed":
        history = history + [{**row, "step": row["step"] + done} for row in last.losses]
    folder = RunFolder(run_dir)
    save_png(folder.final, last.tensor, png_text)
    for extra in RunFolder(last.run_dir).extra_files():  # the last stage's final.svg, say
        if extra.parent != run_dir:
            folder.write_bytes(extra.name, extra.read_bytes())
    write_status(run_dir, status, steps_done, config.steps, message)
    stages = [{"size": list(s.size), "steps": s.steps, "run_dir": str(stage_dir(run_dir, i, s))}
              for i, s in enumerate(config.stages, start=1)]
    return replace(last, run_dir=run_dir, losses=history, settings=config.model_dump(mode="json"), status=status,
                   message=message, steps_done=steps_done, extras={**last.extras, "stages": stages})
