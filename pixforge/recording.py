"""Observers the engine always runs: progress frames and the video made from them."""

from __future__ import annotations

from pathlib import Path

import torch

from .components import Observer, RunInfo, StepState
from .outputs import save_png


class FrameSaver(Observer):
    """Writes ``frames/frame_NNNNN.png`` every ``every`` steps (and the last one)."""

    def __init__(self, run_dir: Path, every: int) -> None:
        self.folder = run_dir / "frames"
        self.every = every

    def on_step(self, state: StepState) -> None:
        last = state.step + 1 == state.total_steps
        if self.every and ((state.step + 1) % self.every == 0 or last):
            picture = state.image if state.alpha is None else torch.cat([state.image, state.alpha], dim=1)
            save_png(self.folder / f"frame_{state.step + 1:05d}.png", picture)  # RGBA when --transparent

    def frames(self) -> list[Path]:
        return sorted(self.folder.glob("frame_*.png")) if self.folder.is_dir() else []


class VideoWriter(Observer):
    """At the end, turns the saved frames into an MP4 or GIF through imageio.

    Frames are read back from disk rather than kept in memory, so a resumed render's video has them all.
    """

    def __init__(self, run_dir: Path, fps: int, fmt: str, frames: FrameSaver) -> None:
        self.path = run_dir / f"video.{fmt}"
        self.fps = fps
        self.source = frames

    def on_end(self, run: RunInfo, final_image: torch.Tensor) -> None:
        # one video writer for renders and animations: atomic, even sides for H.264, GIF frame ticks
        from .animation.video import write_video

        frames = self.source.frames()
        if frames:
            write_video(frames, self.path, self.fps)
