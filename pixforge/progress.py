"""A live progress bar for terminals: step, loss and steps per second."""

from __future__ import annotations

import sys

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .components import Observer, RunInfo, StepState


class ProgressBar(Observer):
    """Shows progress on a terminal; stays silent when stderr is not one (logs, CI)."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.progress: Progress | None = None
        self.task = None

    def on_start(self, run: RunInfo) -> None:
        if not self.enabled:
            return
        self.progress = Progress(
            TextColumn("[bold]render"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[rate]} it/s"),
            TimeRemainingColumn(),
            transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task("render", total=run.total_steps, loss="-", rate="-")

    def on_step(self, state: StepState) -> None:
        if self.progress is None:
            return
        self.progress.update(self.task, advance=1, loss=f"{state.loss:.4f}")
        speed = self.progress.tasks[0].speed
        if speed:
            self.progress.update(self.task, rate=f"{speed:.2f}")

    def on_end(self, run: RunInfo, final_image: torch.Tensor) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
