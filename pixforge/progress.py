"""A live progress bar for terminals (on stderr): step, loss and steps per second."""

from __future__ import annotations

import time
from collections import deque

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .components import Observer, RunInfo, StepState
from .run_folder import is_layout_candidate
from .terminal import stderr_progress, wants_bar


def step_rate(times: deque[float]) -> str:
    """Steps per second over the step end times kept (the last few), as the bar shows it; '-' before two."""
    if len(times) < 2 or times[-1] <= times[0]:
        return "-"
    rate = (len(times) - 1) / (times[-1] - times[0])
    return f"{rate:.2f} steps/s" if rate >= 1 else f"{rate:.2f} steps/s ({1 / rate:.1f} s/step)"


class ProgressBar(Observer):
    """Shows progress on a terminal; stays silent when stderr is not one (logs, CI).

    The rate is measured over the last ``window`` steps, so it follows the render live however slow a
    step is (a 512 px step on a CPU takes many seconds).
    """

    def __init__(self, enabled: bool | None = None, window: int = 10) -> None:
        self.enabled = wants_bar(enabled)
        self.progress: Progress | None = None
        self.task = None
        self.times: deque[float] = deque(maxlen=window + 1)

    def on_start(self, run: RunInfo) -> None:
        if not self.enabled:
            return
        self.progress = stderr_progress(
            TextColumn("[bold]layout" if is_layout_candidate(run.run_dir) else "[bold]render"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
        )
        self.progress.start()
        self.task = self.progress.add_task("render", total=run.total_steps, completed=run.start_step, loss="-", rate="-")
        self.times.clear()
        self.times.append(time.perf_counter())

    def on_step(self, state: StepState) -> None:
        if self.progress is None:
            return
        self.times.append(time.perf_counter())
        self.progress.update(self.task, advance=1, loss=f"{state.loss:.4f}", rate=step_rate(self.times))

    def on_end(self, run: RunInfo, final_image: torch.Tensor) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
