"""A studio worker process: claims jobs from the queue and renders them with one Pipeline kept alive.

The Pipeline's model cache lives as long as the process, so the second render with the same models
loads nothing. Each render gets a ``StudioObserver`` that writes its progress to the queue and a
preview image into its run folder, and stops the render when the job is cancelled (the engine then keeps
the current image, as on Ctrl-C).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from pixforge.components import Observer, RunInfo, StepState

from .queue import Job, JobQueue

#: the preview image a running render keeps in its run folder
PREVIEW = "preview.png"
#: at most this many progress writes to the queue per second (the last step is always written)
WRITES_PER_SECOND = 10
#: about how many previews a render writes over its steps
PREVIEWS_PER_RENDER = 25


class Stopped(KeyboardInterrupt):
    """Raised inside a render to stop it: the engine keeps the current image, as on Ctrl-C."""


class StudioObserver(Observer):
    """Writes a job's step, losses, rate and previews to the queue; stops the render when cancelled."""

    def __init__(self, queue: JobQueue, job_id: str, run_dir: Path, renders: int = 1, parent: int | None = None):
        super().__init__()
        self.queue = queue
        self.job_id = job_id
        self.run_dir = run_dir
        #: how many renders the job makes one after another (best-of-N without batching)
        self.renders = renders
        self.parent = parent
        self.offset = 0
        self.total = 0
        self.started = 0
        self.step = 0
        self.losses: dict[str, float] = {}
        self.every = 1
        self.history: list[float] = []
        self.previews = 0
        self.last_write = 0.0
        self.t0 = time.perf_counter()

    def on_start(self, run: RunInfo) -> None:
        if self.started:
            self.offset += run.total_steps
        else:
            self.total = run.total_steps * self.renders
            self.t0 = time.perf_counter()
        self.started += 1
        self.every = max(1, run.total_steps // PREVIEWS_PER_RENDER)

    def on_step(self, state: StepState) -> None:
        step = self.step = self.offset + state.step + 1
        self.history.append(round(float(state.loss), 6))
        self.losses = dict(state.losses)
        last = state.step + 1 == state.total_steps
        preview = state.step == 0 or (state.step + 1) % self.every == 0 or last
        if preview:
            self._write_preview(state.image)
        now = time.perf_counter()
        if preview or last or now - self.last_write >= 1 / WRITES_PER_SECOND:
            cancel = self._write(step, state.loss, state.losses, now)
        else:
            cancel = self.queue.cancel_requested(self.job_id)
        if cancel:
            raise Stopped()
        if self.parent is not None and os.getppid() != self.parent:
            raise Stopped()  # the server is gone: stop, keeping the image

    def on_end(self, run: RunInfo, final_image: Any) -> None:
        self._write(self.step, self.history[-1] if self.history else None, self.losses, time.perf_counter())

    def _write(self, step: int, loss: float | None, losses: dict[str, float], now: float) -> bool:
        self.last_write = now
        elapsed = now - self.t0
        rate = round(step / elapsed, 3) if elapsed > 0 and step else None
        return self.queue.progress(
            self.job_id, step, self.total, loss, rate, {k: round(float(v), 6) for k, v in losses.items()},
            self.history, self.previews,
        )

    def _write_preview(self, image: Any) -> None:
        from pixforge.outputs import save_png

        save_png(self.run_dir / PREVIEW, image[:1].detach())
        self.previews += 1


def renders_for(pipeline: Any, spec: dict[str, Any]) -> int:
    """How many renders one after another a job makes: its candidates, unless the generator batches them."""
    candidates = int(spec.get("candidates", 1))
    if candidates == 1:
        return 1
    name = spec.get("generator")
    if name and pipeline.registry.get("generator", name).samples_setting is not None:
        return 1
    return candidates


def run_job(pipeline: Any, queue: JobQueue, job: Job, parent: int | None = None) -> str:
    """Render one claimed job and record how it ended; returns that state. Never raises for a bad render."""
    from pixforge.errors import PixforgeError
    from pixforge.results import RenderDiverged, RenderInterrupted

    spec = job.spec
    run_dir = Path(job.run_dir)
    observer = StudioObserver(queue, job.id, run_dir, renders_for(pipeline, spec), parent)
    state, error = "completed", ""
    try:
        pipeline.render(
            spec.get("prompt"),
            spec.get("preset", "default"),
            overrides=spec.get("overrides", []),
            out=run_dir,
            observers=[observer],
            candidates=int(spec.get("candidates", 1)),
            **spec.get("values", {}),
        )
    except RenderInterrupted as stop:
        if queue.cancel_requested(job.id):
            state = "cancelled"
        else:
            state, error = "failed", f"the server stopped during this render: {stop}"
    except RenderDiverged as exc:
        state, error = "failed", str(exc)
    except PixforgeError as exc:
        state, error = "failed", str(exc)
    except Exception as exc:  # noqa: BLE001  a crashing component fails its job, never the worker
        state, error = "failed", f"{type(exc).__name__}: {exc}"
    queue.finish(job.id, state, error)  # type: ignore[arg-type]
    return state


def worker_main(db_path: str, base_dir: str, threads: int, parent: int, stop: Any, poll: float = 0.1) -> None:
    """The loop of one worker process: claim, render, repeat, until ``stop`` is set or the server is gone."""
    try:
        import torch

        from pixforge.errors import PixforgeError
        from pixforge.pipeline import Pipeline

        os.chdir(base_dir)  # relative names in requests mean files here, where the server checked them
        torch.set_num_threads(max(1, threads))
        queue = JobQueue(Path(db_path))
        try:
            pipeline = Pipeline()
        except PixforgeError as exc:  # a plugin that fails to load: one line, and the server retries later
            print(f"pixforge studio: a worker cannot start: {exc}", file=sys.stderr)
            sys.exit(2)
        pid = os.getpid()
        while not stop.is_set() and os.getppid() == parent:
            job = queue.claim(pid)
            if job is None:
                stop.wait(poll)
                continue
            run_job(pipeline, queue, job, parent)
    except KeyboardInterrupt:  # the server is stopping (Ctrl-C reaches its workers too)
        return
