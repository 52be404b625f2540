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
    """Writes a job's step, losses, rate and previews to the queue; stops the render when cancelled.

    A job may run several renders one after another (best-of-N candidates, stages, an animation's
    frames): their steps add up to one count out of ``total``.
    """

    def __init__(self, queue: JobQueue, job_id: str, run_dir: Path, total: int, parent: int | None = None) -> None:
        super().__init__()
        self.queue = queue
        self.job_id = job_id
        self.run_dir = run_dir
        self.total = max(1, total)
        self.parent = parent
        self.every = max(1, self.total // PREVIEWS_PER_RENDER)
        self.offset = 0
        self.current = 0
        self.step = 0
        self.history: list[float] = []
        self.losses: dict[str, float] = {}
        self.previews = 0
        self.last_write = 0.0
        self.t0: float | None = None

    def on_start(self, run: RunInfo) -> None:
        self.offset += self.current
        self.current = run.total_steps - run.start_step
        self.total = max(self.total, self.offset + self.current)
        if self.t0 is None:
            self.t0 = time.perf_counter()

    def on_step(self, state: StepState) -> None:
        self.step = min(self.total, self.step + 1)
        self.history.append(round(float(state.loss), 6))
        self.losses = dict(state.losses)
        last = self.step == self.total
        preview = self.step == 1 or self.step % self.every == 0 or last
        if preview:
            self._write_preview(state.image)
        now = time.perf_counter()
        if preview or now - self.last_write >= 1 / WRITES_PER_SECOND:
            cancel = self._write(now)
        else:
            cancel = self.queue.cancel_requested(self.job_id)
        if cancel:
            raise Stopped()
        if self.parent is not None and os.getppid() != self.parent:
            raise Stopped()  # the server is gone: stop, keeping the image

    def on_end(self, run: RunInfo, final_image: Any) -> None:
        self._write(time.perf_counter())

    def _write(self, now: float) -> bool:
        self.last_write = now
        elapsed = now - (self.t0 or now)
        rate = round(self.step / elapsed, 3) if elapsed > 0 and self.step else None
        return self.queue.progress(
            self.job_id, self.step, self.total, self.history[-1] if self.history else None, rate,
            {k: round(float(v), 6) for k, v in self.losses.items()}, self.history, self.previews,
        )

    def _write_preview(self, image: Any) -> None:
        from pixforge.outputs import save_png

        save_png(self.run_dir / PREVIEW, image[:1, :3].detach())
        self.previews += 1


def run_job(pipeline: Any, queue: JobQueue, job: Job, parent: int | None = None) -> str:
    """Render (or animate) one claimed job and record how it ended; returns that state.

    A render that fails, for any reason, fails its job and the worker goes on. An interrupt that is not
    the job's cancel (the server stopping, Ctrl-C) fails the job and is raised again, so the worker ends.
    """
    from pixforge.errors import PixforgeError

    spec = job.spec
    run_dir = Path(job.run_dir)
    observer = StudioObserver(queue, job.id, run_dir, int(spec.get("total", 1)), parent)
    state, error = "completed", ""
    models_before = len(pipeline.cache)
    try:
        if job.kind == "animation":
            from pixforge.animation.frames import animate

            animate(spec.get("prompt"), spec.get("preset", "default"), overrides=spec.get("overrides", []),
                    out=run_dir, pipeline=pipeline, observers=[observer], **spec.get("values", {}))
        else:
            pipeline.render(
                spec.get("prompt"),
                spec.get("preset", "default"),
                overrides=spec.get("overrides", []),
                out=run_dir,
                observers=[observer],
                candidates=int(spec.get("candidates", 1)),
                **spec.get("values", {}),
            )
    except KeyboardInterrupt as stop:  # the engine kept the image (an animation its finished frames)
        if queue.cancel_requested(job.id):
            state = "cancelled"
        else:
            why = f": {stop}" if str(stop) else " (before its first step)"
            queue.finish(job.id, "failed", f"the server stopped during this render{why}")
            raise
    except PixforgeError as exc:  # a diverged loss, a bad file, a setting a component refuses
        state, error = "failed", str(exc)
    except Exception as exc:  # noqa: BLE001  a crashing component fails its job, never the worker
        state, error = "failed", f"{type(exc).__name__}: {exc}"
    queue.finish(job.id, state, error, loaded=len(pipeline.cache) - models_before)  # type: ignore[arg-type]
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
        pass
    # nothing is left to write (every queue write is committed): skip the interpreter's slow teardown of
    # torch, during which a late Ctrl-C would only print noise
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
