"""A layout first: a short render by another generator, best of N by CLIP, that the render starts from.

Guidance by a small CLIP settles a picture's layout (what goes where, in which colours) poorly through a
decoder's many free parameters: it finds images the CLIP scores high that do not show the prompt. A
generator of a few numbers that can only draw a clean picture (``shapes``: one primitive on a flat ground)
settles it well, and on clean pictures the CLIP's own ranking is reliable, so the best of a few of them is
usually right. The render's generator then starts from that picture (``Generator.from_image``) and adds
its own detail::

    RUN/layout/candidates/seed-N/   each layout render (an ordinary run folder), or, for a generator that
                                    draws its samples as one batch (shapes), candidates/batch/ with
                                    candidates/sample-K/ for each sample
    RUN/layout/final.png            the best one by the render's perceptors; what the render starts from
    RUN/layout/candidates.png       the ranked contact sheet

A filter that makes the picture ``n × n`` repeats of one cell (a wallpaper group, ``Filter.cell_for``) gets a
layout of one cell, with that filter on the cell alone, repeated ``n × n`` for the render's start: averaged
over the cells, the one primitive of a whole-canvas layout faded to a flat ground.

The hand-over goes through ``layout/final.png`` (8 bits a channel), as staged renders do, so a resumed
render starts from the same bytes. Skipped when the render has an init image: the user's picture wins.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from .components import Observer
from .config import RenderConfig
from .errors import VocabularyWarning
from .outputs import load_image, pil_to_tensor, save_png
from .resolve import component_settings
from .results import RenderInterrupted, RenderResult
from .resume import is_completed, read_status, write_status
from .run_folder import RunFolder
from .transparency import TransparencySettings

if TYPE_CHECKING:
    from .pipeline import Pipeline

def wants_layout(config: RenderConfig) -> bool:
    """Whether a render of ``config`` starts from a layout: it names one and has no init image of its own."""
    return config.layout is not None and not config.init_image


def layout_config(config: RenderConfig) -> RenderConfig:
    """The layout render's settings: the render's own (prompts, perceptors, losses, cutouts, filters) with
    the layout's generator, at the render's first canvas, for at most as many steps as the render has;
    opaque (a transparent render's alpha starts from its own map), unstaged, no layout of its own."""
    assert config.layout is not None
    size = config.stages[0].size if config.stages else config.size
    steps = min(config.layout.steps, config.stages[0].steps if config.stages else config.steps)
    return config.model_copy(
        update={
            "generator": config.layout.generator,
            "size": size,
            "steps": steps,
            "stages": [],
            "layout": None,
            "save_every": 0,
            "transparency": TransparencySettings(),
        },
        deep=True,
    )


def cell_layout(pipeline: Pipeline, settings: RenderConfig) -> tuple[RenderConfig, int]:
    """A layout's settings for one cell of a filter that repeats cells (``Filter.cell_for``), and the repeats
    along each side; unchanged, 1, when no filter does (or more than one, which have no common cell)."""
    registry = pipeline.registry
    cells = []
    for index, spec in enumerate(settings.filters):
        cell = registry.get("filter", spec.name).cell_for(component_settings(registry, "filter", spec))
        if cell is not None:
            cells.append((index, *cell))
    if len(cells) != 1:
        return settings, 1
    index, repeats, cell_settings = cells[0]
    filters = list(settings.filters)
    filters[index] = filters[index].model_copy(update={"settings": cell_settings.model_dump(mode="json")})
    width, height = settings.size
    return settings.model_copy(update={"size": (width // repeats, height // repeats), "filters": filters}), repeats


def layout_dir(run_dir: Path) -> Path:
    """Where a render in ``run_dir`` keeps its layout."""
    return run_dir / RunFolder.LAYOUT


def render_layout(
    pipeline: Pipeline, config: RenderConfig, run_dir: Path, observers: Sequence[Observer] = ()
) -> torch.Tensor:
    """Render ``config``'s layout (seed already an int) into ``run_dir/layout`` and return its picture,
    ``[1, 3, H, W]`` as read back from its final.png; a finished layout there is reused, not rendered again."""
    assert config.layout is not None
    here = layout_dir(run_dir)
    folder = RunFolder(here)
    whole = layout_config(config)
    settings, repeats = cell_layout(pipeline, whole)
    if not is_completed(here):
        count = config.layout.candidates
        try:
            with warnings.catch_warnings():  # the render itself says which words its CLIP does not know
                warnings.simplefilter("ignore", VocabularyWarning)
                pipeline.render_candidates(settings, int(config.seed or 0), count, here, observers)
        except RenderInterrupted as stop:  # the render's folder keeps the picture so far and can be resumed
            save_png(RunFolder(run_dir).final, stop.result.tensor)
            write_status(run_dir, "interrupted", 0, config.steps, "interrupted in the layout")
            kept = replace(stop.result, run_dir=run_dir, steps_done=0, extras={**stop.result.extras, "resumable": True})
            raise RenderInterrupted(kept) from None
        except BaseException as error:
            _keep_what_it_made(here, run_dir, config.steps, error)
            raise
        write_status(here, "completed", settings.steps * count, settings.steps * count)
    picture = pil_to_tensor(load_image(folder.final, "the layout's final.png"))
    if repeats == 1:
        return picture
    tiled = picture.repeat(1, 1, repeats, repeats)
    width, height = whole.size
    if tuple(tiled.shape[-2:]) != (height, width):  # a cell the layout's generator rounded
        tiled = F.interpolate(tiled, size=(height, width), mode="bilinear", antialias=True).clamp(0, 1)
    return tiled


def _keep_what_it_made(here: Path, run_dir: Path, total_steps: int, error: BaseException) -> None:
    """A layout that failed (NaN loss, a crash, no memory): the render's own folder gets the last picture
    the layout made and a run.json that says why, as a render that fails in its own steps gets them."""
    result = getattr(error, "result", None)
    if isinstance(result, RenderResult):
        save_png(RunFolder(run_dir).final, result.tensor)
        write_status(run_dir, result.status, 0, total_steps, f"in the layout: {error}")
        return
    made = sorted((p for p in (here / "candidates").glob("*/final.png")), key=lambda p: p.stat().st_mtime)
    status = read_status(made[-1].parent) if made else None
    if made:  # the picture and the loss log of the candidate it failed in
        for name in (made[-1].name, RunFolder.LOSSES):
            if (made[-1].parent / name).is_file():
                shutil.copyfile(made[-1].parent / name, run_dir / name)
    message = status["message"] if status and status.get("message") else f"{type(error).__name__}: {error}"
    write_status(run_dir, "failed", 0, total_steps, f"in the layout: {message}")
