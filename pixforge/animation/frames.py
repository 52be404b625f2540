"""``pixforge animate``: each frame warps the last one, starts the generator from it and optimises a few steps.

Frame ``i`` is a function of frame ``i-1``'s PNG, the settings and a seed drawn from the render's seed and
``i`` alone: every frame is built afresh (models come from the pipeline's cache), seeded on its own, and
starts from the 8-bit frame on disk, never from a float kept in memory. So a run killed at any moment and
continued with ``--resume DIR`` from its last finished frame ends with the very bytes of one never stopped.

The run folder holds ``settings.yaml``, ``animation.json`` (frames done), ``frames/NNNNN.png``, ``final.png``
(the last frame, carrying the settings), ``video.mp4`` / ``video.gif``, ``run.json``, and ``current/``: the
frame being made (its losses, its working image).
"""

from __future__ import annotations

import json
import shlex
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from ..components import Generator, Observer, RunInfo
from ..config import RenderConfig, config_to_yaml, read_yaml
from ..devices import pick_device
from ..engine import Components, Engine
from ..errors import ConfigError, PixforgeWarning
from ..files import printable
from ..outputs import load_image, new_run_dir, pil_to_tensor, render_metadata, save_png
from ..pipeline import Pipeline
from ..prompts import PromptSet, Weighted, parse_prompts
from ..resolve import resolve_config
from ..results import RenderDiverged, RenderResult
from ..layout import render_layout, wants_layout
from ..resume import write_status
from ..run_folder import RunFolder
from ..seeding import resolve_seed, seeded
from .settings import MOTION, AnimationSettings
from .video import write_video
from .warp import warp

PROGRESS = "animation.json"
FRAMES = "frames"
WORK = "current"


@dataclass
class AnimationResult:
    """What an animation made: its frames on disk and the videos made from them."""

    run_dir: Path
    frames: list[Path]
    seed: int
    settings: dict[str, Any]
    videos: list[Path] = field(default_factory=list)
    #: frames made by this call (a resumed run makes only the rest)
    frames_made: int = 0

    @property
    def final_path(self) -> Path:
        return RunFolder(self.run_dir).final


class AnimationInterrupted(KeyboardInterrupt):
    """Ctrl-C during an animation: the finished frames stay, and ``--resume`` continues after them."""

    def __init__(self, run_dir: Path, done: int, total: int) -> None:
        super().__init__(
            f"interrupted at frame {done + 1} of {total}; kept {done} finished frames in "
            f"{printable(run_dir / FRAMES)}; continue with: pixforge animate --resume {shlex.quote(str(run_dir))}"
        )


def frame_path(run_dir: Path, index: int) -> Path:
    return run_dir / FRAMES / f"{index:05d}.png"


def frame_seed(seed: int, index: int) -> int:
    """Frame ``index``'s own seed: the same whichever process makes the frame."""
    return resolve_seed(f"pixforge-frame/{seed}/{index}")


def split_values(values: dict[str, Any]) -> dict[str, Any]:
    """Python keywords → setting paths: ``frames=3`` is ``animation.frames``, ``steps=50`` stays ``steps``."""
    fields = set(AnimationSettings.model_fields)
    return {(f"animation.{key}" if key in fields else key): value for key, value in values.items()}


def start_from(generator: Generator, image: torch.Tensor, seed: int) -> None:
    """Start the generator from a picture (``Generator.from_image``, seeded per frame)."""
    generator.from_image(image, seed=seed)


def prompts_at(prompts: PromptSet, config: RenderConfig, animation: AnimationSettings, index: int) -> PromptSet:
    """The prompts with their weights at frame ``index``: in an animation scenes and weight schedules run
    over the frames, and each frame's steps see fixed weights."""
    texts = parse_prompts(config.prompt, animation.frames, config.prompts.transition, unit="frames")

    def fixed(items: list[Weighted]) -> list[Weighted]:
        return [Weighted(p.value, p.at(index), p.stop) for p in items]

    return replace(prompts, texts=fixed(texts), images=fixed(prompts.images), targets=fixed(prompts.targets),
                   noise=fixed(prompts.noise))


class Animator:
    """Makes the frames of one animation into its run folder (fresh, or continuing after ``done`` frames)."""

    def __init__(self, pipeline: Pipeline, config: RenderConfig, run_dir: Path,
                 observers: Sequence[Observer] = (), on_frame: Callable[[int, int], None] | None = None) -> None:
        if config.animation is None:
            raise ConfigError("animate needs an 'animation:' section (frames, steps_per_frame, ...)")
        self.pipeline = pipeline
        self.config = config
        self.animation: AnimationSettings = config.animation
        self.run_dir = run_dir
        self.folder = RunFolder(run_dir)
        self.observers = list(observers)
        self.on_frame = on_frame
        self.seed = resolve_seed(config.seed)
        self.schedules = {name: self.animation.schedule(name) for name in MOTION}
        self._warned = False  # the canvas rounding is said once, not every frame
        parse_prompts(config.prompt, self.animation.frames, config.prompts.transition, unit="frames")  # errors now
        # the engine's own frame saving and video are for stills; scene timing is per frame, set each frame
        self.still = config.model_copy(update={
            "save_every": 0, "checkpoint_every": 0, "video": config.video.model_copy(update={"enabled": False}),
            "prompts": config.prompts.model_copy(update={"transition": 0}),
        })

    # -- progress ----------------------------------------------------------------------------

    def done(self) -> int:
        """Finished frames: what animation.json says, each of them on disk."""
        path = self.run_dir / PROGRESS
        if not path.is_file():
            return 0
        try:
            done = int(json.loads(path.read_text())["frames_done"])
        except (OSError, ValueError, KeyError, TypeError):
            raise ConfigError(f"--resume: '{printable(path)}' is damaged; animate again without --resume") from None
        missing = [i for i in range(done) if not frame_path(self.run_dir, i).is_file()]
        if missing:
            raise ConfigError(f"--resume: frame {printable(frame_path(self.run_dir, missing[0]))} is missing; "
                              "animate again without --resume")
        return min(done, self.animation.frames)

    def _progress(self, done: int) -> None:
        self.folder.write_text(PROGRESS, json.dumps({"frames_done": done, "frames": self.animation.frames}))

    # -- the frames ---------------------------------------------------------------------------

    def run(self, start: int = 0) -> AnimationResult:
        """Make frames ``start`` … ``frames - 1``, then the final image and the videos."""
        device = pick_device(self.config.device)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with self.folder.lock():
            config = self.config.model_copy(update={"seed": self.seed})
            settings_yaml = config_to_yaml(config)
            self.folder.write_text(RunFolder.SETTINGS, settings_yaml)
            if start == 0:
                self._progress(0)
            total = self.animation.frames
            index = start
            try:
                for index in range(start, total):
                    self._frame(index, device, settings_yaml)
                    self._progress(index + 1)
                    if self.on_frame is not None:
                        self.on_frame(index + 1, total)
            except KeyboardInterrupt:
                write_status(self.run_dir, "interrupted", index, total, f"interrupted at frame {index + 1}")
                raise AnimationInterrupted(self.run_dir, index, total) from None
            except RenderDiverged as exc:  # the frames before it stay; the folder says which frame went bad
                write_status(self.run_dir, "diverged", index, total, f"frame {index + 1}: {exc}")
                raise
            frames = [frame_path(self.run_dir, i) for i in range(total)]
            save_png(self.folder.final, pil_to_tensor(load_image(frames[-1], "frame")),
                     render_metadata(settings_yaml, self.seed, config.prompt))
            videos = self._videos(frames)
            write_status(self.run_dir, "completed", total, total)
        return AnimationResult(self.run_dir, frames, self.seed, config.model_dump(mode="json"), videos, total - start)

    def _frame(self, index: int, device: torch.device, settings_yaml: str) -> RenderResult:
        """One frame: built afresh under its own seed; the first from the generator's own start (or the
        init image) for ``steps`` steps, each later one from the last frame moved, for ``steps_per_frame``."""
        work = self.run_dir / WORK
        work.mkdir(exist_ok=True)
        layout = None  # the first frame starts from the settings' layout, as a still would
        if index == 0 and wants_layout(self.still):
            layout = render_layout(self.pipeline, self.still.model_copy(update={"seed": self.seed}), self.run_dir,
                                   self.observers)
        with seeded(frame_seed(self.seed, index), device):
            components = self.pipeline.build(self.still, device, work, self.observers, layout)
            self._check_size(components)
            components.prompts = prompts_at(components.prompts, self.config, self.animation, index)
            steps = self.config.steps
            if index == 0:  # the first frame starts as a still would: searched, unless it has a layout
                self.pipeline.search_start(components, self.still)
            if index > 0:
                moved = self._moved(index, device)
                start_from(components.generator, moved, frame_seed(self.seed, index))
                components.init_image = moved
                steps = self.animation.steps_per_frame
            engine = Engine(components, total_steps=steps, run_dir=work, seed=self.seed,
                            png_text=render_metadata(settings_yaml, self.seed, self.config.prompt))
            result = engine.run(RunInfo(work, self.config.prompt, self.config.model_dump(mode="json"), steps))
        save_png(frame_path(self.run_dir, index), result.tensor)
        return result

    def _moved(self, index: int, device: torch.device) -> torch.Tensor:
        """The last frame, as saved (8 bits), moved by this frame's motion."""
        previous = pil_to_tensor(load_image(frame_path(self.run_dir, index - 1), "frame")).to(device)
        motion = {name: schedule(index) for name, schedule in self.schedules.items()}
        return warp(previous, infill=self.animation.infill, **motion)

    def _check_size(self, components: Components) -> None:
        asked = tuple(self.config.size)
        made = (components.generator.width, components.generator.height)
        if asked != made and not self._warned:
            self._warned = True
            warnings.warn(f"size {asked[0]}x{asked[1]} rounded to {made[0]}x{made[1]}, what generator "
                          f"'{self.config.generator.name}' can make", PixforgeWarning, stacklevel=4)

    def _videos(self, frames: list[Path]) -> list[Path]:
        made = []
        if self.animation.video:
            made.append(write_video(frames, self.run_dir / "video.mp4", self.animation.fps))
        if self.animation.gif:
            made.append(write_video(frames, self.run_dir / "video.gif", self.animation.fps))
        return made


def animate(
    prompt: str | None = None,
    preset: str | Path | dict[str, Any] = "default",
    *,
    overrides: Sequence[str] = (),
    out: str | Path | None = None,
    resume: str | Path | None = None,
    pipeline: Pipeline | None = None,
    observers: Sequence[Observer] = (),
    on_frame: Callable[[int, int], None] | None = None,
    **values: Any,
) -> AnimationResult:
    """Animate ``prompt``: ``pixforge.animate("a red circle", frames=24, zoom=1.05, seed=1)``.

    Keywords that are animation settings (``frames``, ``steps_per_frame``, ``zoom``, ``rotate``,
    ``translate_x``, ``translate_y``, ``infill``, ``fps``, ``video``, ``gif``) go to the ``animation:``
    section; the others are render settings (``steps``, ``size``, ``seed``…). ``resume=DIR`` continues a
    killed animation from its last finished frame (its own settings; nothing else may be given).
    """
    pipeline = pipeline if pipeline is not None else Pipeline()
    if resume is not None:
        if prompt is not None or overrides or values:
            raise ConfigError("--resume continues an animation with its own settings; give no prompt or settings with it")
        run_dir = Path(resume)
        settings = RunFolder(run_dir).settings
        if not settings.is_file() or not (run_dir / PROGRESS).is_file():
            raise ConfigError(f"--resume '{printable(run_dir)}': not an animation's run folder (no settings.yaml "
                              f"or {PROGRESS})")
        config = resolve_config(pipeline.registry, read_yaml(settings))
        animator = Animator(pipeline, config, run_dir, observers, on_frame)
        return animator.run(animator.done())
    if prompt is not None:
        values = {"prompt": prompt, **values}
    config = resolve_config(pipeline.registry, preset, list(overrides), split_values(values))
    if config.animation is None:
        config.animation = AnimationSettings()
    if not config.prompt.strip():
        raise ConfigError("animate needs a PROMPT (or --resume RUN_DIR)")
    config.seed = resolve_seed(config.seed)
    run_dir = Path(out) if out is not None else new_run_dir(stem=config.prompt)
    if (run_dir / PROGRESS).exists():
        raise ConfigError(f"--out '{printable(run_dir)}' holds an animation already; continue it with "
                          f"--resume {printable(run_dir)} or give another --out")
    return Animator(pipeline, config, run_dir, observers, on_frame).run(0)
