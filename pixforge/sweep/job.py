"""One job of a sweep, run wherever an executor puts it: skip it if done, resume it if cut, else render it.

A job whose settings carry an ``animation:`` section (a preset's, or ``animation.*`` keys in the grid) is
animated instead (``pixforge.animation``), and continued from its last finished frame if it was cut.

Every exception of a render is caught and returned as a ``failed`` result, so one bad render never stops
the others. The run folder's ``job.json`` records which render the folder holds and how it ended.
"""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..animation.frames import PROGRESS, AnimationResult, animate
from ..candidates import clip_score
from ..devices import pick_device
from ..results import RenderDiverged, RenderResult
from ..errors import PixforgeError
from ..outputs import atomic_write_text
from ..trust import TRUST_KEYS
from ..pipeline import Pipeline
from ..resume import read_status
from ..run_folder import RunFolder
from ..seeding import resolve_seed
from .plan import Job

RECORD_NAME = "job.json"
#: outcomes that a re-run keeps: a diverged render would diverge again the same way
FINISHED = ("completed", "diverged")

#: "not run": the sweep stopped (Ctrl-C) before this job ran
Action = Literal["rendered", "resumed", "skipped", "not run"]


@dataclass
class JobResult:
    """How one job ended; plain data, so it crosses process and Ray boundaries."""

    index: int
    name: str
    run_dir: str
    status: str
    action: Action
    seed: int | None = None
    steps_done: int = 0
    loss: float | None = None
    score: float | None = None
    seconds: float = 0.0
    error: str = ""
    variation: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def failed(job: Job, error: str) -> JobResult:
    """The result of a job whose worker could not run it (a worker process or Ray actor died)."""
    return JobResult(job.index, job.name, str(job.run_dir), "failed", "rendered", error=error, variation=job.variation)


def read_record(run_dir: Path) -> dict[str, Any] | None:
    """The ``job.json`` of a run folder, or None if absent or unreadable."""
    try:
        return json.loads((run_dir / RECORD_NAME).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def write_record(job: Job, status: str, result: JobResult | None = None) -> None:
    record = {"identity": json.loads(job.identity()), "status": status}
    if result is not None:
        record["result"] = {k: v for k, v in result.to_json().items() if k not in ("run_dir", "action", "seconds")}
    atomic_write_text(job.run_dir / RECORD_NAME, json.dumps(record, indent=2))


def finished(job: Job) -> dict[str, Any] | None:
    """The stored result of a job that ended for good in an earlier run, else None."""
    record = read_record(job.run_dir)
    if record is None or record.get("status") not in FINISHED or "result" not in record:
        return None
    if not RunFolder(job.run_dir).final.is_file():
        return None
    return record["result"]


def skipped(job: Job) -> JobResult | None:
    """The result of a job that an earlier run finished (answered from its job.json), else None."""
    stored = finished(job)
    if stored is None:
        return None
    return JobResult(**{**stored, "run_dir": str(job.run_dir), "action": "skipped", "seconds": 0.0})


def can_resume(job: Job) -> bool:
    """A single render that was cut off after a checkpoint (candidates restart: they have no checkpoint)."""
    status = read_status(job.run_dir) or {}
    return (
        job.candidates == 1
        and status.get("status") not in FINISHED
        and RunFolder(job.run_dir).checkpoint.is_file()
        and RunFolder(job.run_dir).settings.is_file()
    )


def run_job(pipeline: Pipeline, job: Job, device: str | None = None) -> JobResult:
    """Run one job to its end; ``device`` (e.g. ``cuda:1``) pins a render whose settings say auto/cuda."""
    start = time.perf_counter()
    done = skipped(job)
    if done is not None:
        return done
    job.run_dir.mkdir(parents=True, exist_ok=True)
    animated = _is_animation(pipeline, job)
    action: Action = "resumed" if (can_resume_animation(job) if animated else can_resume(job)) else "rendered"
    write_record(job, "running")
    result = JobResult(job.index, job.name, str(job.run_dir), "failed", action, variation=job.variation)
    if job.values.get("seed") is not None:
        result.seed = resolve_seed(job.values["seed"])
    try:
        if animated:
            rendered = _animate(pipeline, job, device, resume=action == "resumed")
        elif action == "resumed":
            rendered = pipeline.resume(job.run_dir, trust_checkpoint=_trusted(job))
        else:
            rendered = _render(pipeline, job, device)
        _describe(result, rendered, pipeline)
    except RenderDiverged as exc:
        _describe(result, exc.result, None)
        result.error = str(exc)
    except PixforgeError as exc:
        result.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - a crash of one render must not stop the sweep
        result.error = f"{type(exc).__name__}: {exc} ({_where(exc)})"
    result.seconds = time.perf_counter() - start
    write_record(job, result.status, result)
    return result


def _trusted(job: Job) -> bool:
    """Whether the user's own ``--set`` gave this job trust (a sweep file cannot: ``pixforge.trust``)."""
    return any(key.rsplit(".", 1)[-1] in TRUST_KEYS and value is True for key, value in job.values.items())


def _where(exc: BaseException) -> str:
    """``file.py:LINE`` of the innermost frame, so a crash in the summary points at its source."""
    frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    return f"at {Path(frame[0].filename).name}:{frame[0].lineno}" if frame else "no traceback"


def _values(pipeline: Pipeline, job: Job, device: str | None) -> tuple[str | None, dict[str, Any]]:
    """The job's prompt and other values, with ``device`` pinned where its settings say auto/cuda."""
    values = dict(job.values)
    prompt = values.pop("prompt", None)
    if device is not None:
        configured = str(pipeline.resolve(prompt, job.preset, **values).device)
        if configured.split(":", 1)[0] in ("auto", "cuda"):
            values["device"] = device
    return prompt, values


def _render(pipeline: Pipeline, job: Job, device: str | None) -> RenderResult:
    prompt, values = _values(pipeline, job, device)
    return pipeline.render(prompt, job.preset, out=job.run_dir, candidates=job.candidates, **values)


def _is_animation(pipeline: Pipeline, job: Job) -> bool:
    """Whether the job's settings carry an ``animation:`` section (a bad setting is reported by the render)."""
    values = dict(job.values)
    prompt = values.pop("prompt", None)
    try:
        return pipeline.resolve(prompt, job.preset, **values).animation is not None
    except PixforgeError:
        return False


def can_resume_animation(job: Job) -> bool:
    """An animation cut off after it started: its progress file is there and it did not finish."""
    status = read_status(job.run_dir) or {}
    return (job.run_dir / PROGRESS).is_file() and status.get("status") not in FINISHED


def _animate(pipeline: Pipeline, job: Job, device: str | None, resume: bool) -> RenderResult:
    """Animate the job (or continue it) and describe it as a render: its last frame, frames as steps."""
    if resume:
        made: AnimationResult = animate(resume=job.run_dir, pipeline=pipeline)
    else:
        prompt, values = _values(pipeline, job, device)
        made = animate(prompt, job.preset, out=job.run_dir, pipeline=pipeline, **values)
    from ..outputs import load_image, pil_to_tensor

    image = load_image(made.final_path, "final frame")
    return RenderResult(image=image, tensor=pil_to_tensor(image), run_dir=made.run_dir, losses=[], seed=made.seed,
                        settings=made.settings, steps_done=len(made.frames))


def _describe(result: JobResult, rendered: RenderResult, pipeline: Pipeline | None) -> None:
    """Copy what the summary shows from a render, with its CLIP score against its own prompt."""
    result.status = rendered.status
    result.seed = rendered.seed
    result.steps_done = rendered.steps_done
    result.loss = rendered.losses[-1]["loss"] if rendered.losses else None
    ranking = rendered.extras.get("candidates")
    if ranking:
        result.score = ranking[0]["score"]
    elif pipeline is not None and rendered.status == "completed":
        result.score = _score(pipeline, rendered)


def _score(pipeline: Pipeline, rendered: RenderResult) -> float:
    config = pipeline.resolve(preset=rendered.settings)
    context = pipeline.context(config, pick_device(config.device))
    return clip_score(rendered.tensor, config, pipeline.perceptors_for(config, context))
