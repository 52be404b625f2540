"""What a render gives back: its result, and the two ways a render ends early (a diverged loss, Ctrl-C).

They live below the engine so that the CLI, best-of-N and sweeps can read a result without importing the loop.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from PIL import Image

from .errors import RenderAborted
from .run_folder import RunFolder

Status = Literal["completed", "diverged", "interrupted", "failed"]


@dataclass
class RenderResult:
    """What a render made: the final image, where it lies, and how the losses went."""

    image: Image.Image
    tensor: torch.Tensor
    run_dir: Path
    losses: list[dict[str, float]]
    seed: int
    settings: dict[str, Any]
    status: Status = "completed"
    message: str = ""
    steps_done: int = 0
    extras: dict[str, Any] = field(default_factory=dict)
    #: every sample ``[B, 3, H, W]`` of a generator that renders several at once; ``tensor`` is the first
    samples: torch.Tensor | None = None

    @property
    def final_path(self) -> Path:
        return RunFolder(self.run_dir).final


class RenderDiverged(RenderAborted):
    """The loss became NaN or infinite; the run folder keeps the last good image."""

    def __init__(self, message: str, result: RenderResult) -> None:
        super().__init__(message)
        self.result = result


class RenderInterrupted(KeyboardInterrupt):
    """Ctrl-C during a render; the run folder keeps the current image and the settings (and says how to go on
    when a checkpoint is there to continue from)."""

    def __init__(self, result: RenderResult) -> None:
        message = f"interrupted at step {result.steps_done}; kept {result.final_path}"
        # a staged render resumes from its own folder, where no checkpoint lies (its stages hold them)
        if RunFolder(result.run_dir).checkpoint.is_file() or result.extras.get("resumable"):
            message += f"; continue with: pixforge render --resume {shlex.quote(str(result.run_dir))}"
        super().__init__(message)
        self.result = result
