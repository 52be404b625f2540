"""``pixforge stylize INPUT PROMPT``: restyle every frame of a clip with the prompt, without flicker.

Each output frame starts from its input frame blended with the previous output (``blend``); a temporal
loss (MSE to the previous output, weight ``temporal``) keeps it near that output while the prompt steers
it; and the generator's parameters are averaged from frame to frame (``ema``: the share kept from the
previous frame's average), so what the optimiser changes by chance does not flash from frame to frame.
The output has the input's frame count and frame rate (a folder of images takes ``animation.fps``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..components import Loss, Observer, RunInfo, StepState
from ..config import RenderConfig, config_to_yaml
from ..devices import pick_device
from ..engine import Engine, NamedLoss
from ..errors import ConfigError
from ..numerics import stable_mse
from ..outputs import load_image, new_run_dir, pil_to_tensor, render_metadata, save_png
from ..pipeline import Pipeline
from ..resolve import resolve_config
from ..resume import write_status
from ..run_folder import RunFolder
from ..seeding import resolve_seed, seeded
from ..settings import StrictModel
from .frames import AnimationResult, frame_path, frame_seed, prompts_at, split_values, start_from
from .settings import AnimationSettings
from .video import Clip, read_clip, write_video


class TemporalLoss(Loss):
    """Mean squared distance from this step's image to the previous output frame."""

    description = "keeps a stylised frame close to the previous output frame"

    def __init__(self, previous: torch.Tensor) -> None:
        super().__init__(StrictModel(), None)  # type: ignore[arg-type]  # built here, not from a preset
        self.previous = previous

    def __call__(self, state: StepState) -> torch.Tensor:
        image = state.image.float()
        return stable_mse(image, self.previous.to(image.device).expand_as(image))


def as_tensor(frame: np.ndarray, width: int, height: int, device: torch.device) -> torch.Tensor:
    """An ``[H, W, 3]`` uint8 frame → ``[1, 3, height, width]`` in 0..1 on ``device``."""
    image = torch.from_numpy(np.array(frame, copy=True)).permute(2, 0, 1).unsqueeze(0).float().div(255).to(device)
    if tuple(image.shape[-2:]) != (height, width):
        image = F.interpolate(image, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return image.clamp(0, 1)


class Stylizer:
    """Stylises one clip into a run folder."""

    def __init__(self, pipeline: Pipeline, config: RenderConfig, clip: Clip, run_dir: Path,
                 observers: Sequence[Observer] = (), on_frame: Callable[[int, int], None] | None = None) -> None:
        assert config.animation is not None
        self.pipeline, self.config, self.clip, self.run_dir = pipeline, config, clip, run_dir
        self.animation: AnimationSettings = config.animation
        self.observers, self.on_frame = list(observers), on_frame
        self.seed = resolve_seed(config.seed)
        self.fps = clip.fps or float(self.animation.fps)
        self.still = config.model_copy(update={
            "save_every": 0, "checkpoint_every": 0, "video": config.video.model_copy(update={"enabled": False}),
            "prompts": config.prompts.model_copy(update={"transition": 0}),
        })

    def run(self) -> AnimationResult:
        device = pick_device(self.config.device)
        folder = RunFolder(self.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with folder.lock():
            config = self.config.model_copy(update={"seed": self.seed})
            settings_yaml = config_to_yaml(config)
            folder.write_text(RunFolder.SETTINGS, settings_yaml)
            total = len(self.clip.frames)
            previous: torch.Tensor | None = None
            average: list[torch.Tensor] | None = None
            for index, frame in enumerate(self.clip.frames):
                output, average = self._frame(index, frame, previous, average, device, settings_yaml)
                save_png(frame_path(self.run_dir, index), output)
                previous = pil_to_tensor(load_image(frame_path(self.run_dir, index), "frame")).to(device)
                if self.on_frame is not None:
                    self.on_frame(index + 1, total)
            frames = [frame_path(self.run_dir, i) for i in range(total)]
            save_png(folder.final, pil_to_tensor(load_image(frames[-1], "frame")),
                     render_metadata(settings_yaml, self.seed, config.prompt))
            videos = []
            if self.clip.kind == "gif" or self.animation.gif:
                videos.append(write_video(frames, self.run_dir / "video.gif", self.fps))
            if self.clip.kind == "mp4" or (self.clip.kind == "frames" and self.animation.video):
                videos.append(write_video(frames, self.run_dir / "video.mp4", self.fps))
            write_status(self.run_dir, "completed", total, total)
        return AnimationResult(self.run_dir, frames, self.seed, config.model_dump(mode="json"), videos, total)

    def _frame(
        self, index: int, frame: np.ndarray, previous: torch.Tensor | None, average: list[torch.Tensor] | None,
        device: torch.device, settings_yaml: str,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One output frame, and the parameters' running average after it."""
        work = self.run_dir / "current"
        work.mkdir(exist_ok=True)
        animation = self.animation
        with seeded(frame_seed(self.seed, index), device):
            c = self.pipeline.build(self.still, device, work, self.observers)
            c.prompts = prompts_at(c.prompts, self.config, animation, index)
            source = as_tensor(frame, c.generator.width, c.generator.height, device)
            start = source if previous is None else (1 - animation.blend) * source + animation.blend * previous
            start_from(c.generator, start, frame_seed(self.seed, index))
            c.init_image = start
            if previous is not None and animation.temporal > 0:
                c.losses.append(NamedLoss("temporal", animation.temporal, TemporalLoss(previous)))
            steps = animation.steps_per_frame
            engine = Engine(c, total_steps=steps, run_dir=work, seed=self.seed,
                            png_text=render_metadata(settings_yaml, self.seed, self.config.prompt))
            result = engine.run(RunInfo(work, self.config.prompt, self.config.model_dump(mode="json"), steps))
            params = c.generator.parameters_to_optimize()
            with torch.no_grad():
                if average is not None and animation.ema > 0:
                    for param, kept in zip(params, average):
                        param.mul_(1 - animation.ema).add_(kept.to(param.device), alpha=animation.ema)
                    output = c.generator().detach()[:1]
                else:
                    output = result.tensor
            return output, [p.detach().clone() for p in params]


def stylize(
    source: str | Path,
    prompt: str | None = None,
    preset: str | Path | dict[str, Any] = "default",
    *,
    overrides: Sequence[str] = (),
    out: str | Path | None = None,
    pipeline: Pipeline | None = None,
    observers: Sequence[Observer] = (),
    on_frame: Callable[[int, int], None] | None = None,
    **values: Any,
) -> AnimationResult:
    """Stylise an MP4, a GIF or a folder of frames: ``pixforge.stylize("clip.mp4", "a blue star", seed=1)``.

    The canvas is the input's size unless ``size`` is given; ``steps_per_frame``, ``blend``, ``temporal``,
    ``ema`` and ``fps`` (for a folder) are animation settings, the other keywords render settings.
    """
    pipeline = pipeline if pipeline is not None else Pipeline()
    clip = read_clip(source)
    height, width = clip.frames[0].shape[:2]
    if prompt is not None:
        values = {"prompt": prompt, **values}
    values = {"size": (width, height), **values}
    config = resolve_config(pipeline.registry, preset, list(overrides), split_values(values))
    if not config.prompt.strip():
        raise ConfigError("stylize needs a PROMPT after the INPUT")
    animation = config.animation or AnimationSettings()
    config.animation = animation.model_copy(update={"frames": len(clip.frames)})
    config.seed = resolve_seed(config.seed)
    run_dir = Path(out) if out is not None else new_run_dir(stem=f"stylize-{config.prompt}")
    return Stylizer(pipeline, config, clip, run_dir, observers, on_frame).run()
