"""Where a render's time goes: wall time per stage of the step (``pixforge render --profile``).

A :class:`StageProfiler` is an observer: pass it with a render's observers and the engine times each
stage of every step into it; read :meth:`StageProfiler.summary` (or print :func:`format_profile`) after.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

from .components import Observer, StepState

#: the stages of one step, in the order the engine runs them
STAGES = ("generator", "filters", "cutouts", "augment", "perceptor", "losses", "backward", "optimiser", "observers")

_OFF = nullcontext()


class _Stage:
    __slots__ = ("profiler", "name", "start")

    def __init__(self, profiler: StageProfiler, name: str) -> None:
        self.profiler, self.name = profiler, name

    def __enter__(self) -> None:
        self.profiler.sync()
        self.start = time.perf_counter()

    def __exit__(self, *exc: Any) -> None:
        self.profiler.sync()
        seconds = self.profiler.seconds
        seconds[self.name] = seconds.get(self.name, 0.0) + time.perf_counter() - self.start


class StageProfiler(Observer):
    """Adds up wall time per stage of the step; a disabled one (the engine's default) times nothing.

    A GPU runs asynchronously, so an enabled profiler waits for it at every stage boundary: the split is
    then true, though the render runs a little slower than without it.
    """

    def __init__(self, enabled: bool = True) -> None:
        super().__init__()
        self.enabled = enabled
        self.seconds: dict[str, float] = {}
        self.steps = 0

    def stage(self, name: str) -> AbstractContextManager[None]:
        """``with profiler.stage("backward"): ...`` adds the block's wall time to that stage."""
        return _Stage(self, name) if self.enabled else _OFF

    @staticmethod
    def sync() -> None:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()

    def on_step(self, state: StepState) -> None:
        self.steps += 1

    def summary(self) -> dict[str, Any]:
        """``{"steps": N, "seconds": {stage: total seconds}}``, stages in the order they run."""
        ordered = {name: self.seconds[name] for name in STAGES if name in self.seconds}
        ordered.update({name: s for name, s in self.seconds.items() if name not in ordered})
        return {"steps": self.steps, "seconds": ordered}


def format_profile(profile: dict[str, Any]) -> str:
    """The per-stage split as a small text table: total seconds, milliseconds per step, share."""
    seconds: dict[str, float] = profile["seconds"]
    steps = max(1, int(profile["steps"]))
    total = sum(seconds.values()) or 1.0
    lines = [
        f"time per stage over {profile['steps']} steps: {total / steps * 1000:.1f} ms/step, {steps / total:.2f} steps/s",
        f"  {'stage':<10} {'total s':>9} {'ms/step':>9} {'share':>7}",
    ]
    for name, value in seconds.items():
        lines.append(f"  {name:<10} {value:>9.3f} {value / steps * 1000:>9.1f} {value / total:>7.1%}")
    return "\n".join(lines)
