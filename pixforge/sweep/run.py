"""Running a sweep: check every job first, skip the finished ones, run the rest, write the summaries.

Re-running a sweep is safe: finished renders are skipped, cut-off ones resume from their checkpoint, and
failed ones are tried again. A run folder that holds a different render (the spec changed) is an error
rather than something silently kept or overwritten.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ConfigError, PixforgeError
from ..pipeline import Pipeline
from .executors import Executor, SequentialExecutor, run_jobs
from .job import JobResult, read_record, skipped
from .plan import Job, canonical
from .summary import write_summaries

#: the seed of a job whose preset and sweep give none, so a sweep is reproducible and its variations comparable
DEFAULT_SEED = 0


@dataclass
class SweepReport:
    """Every job's result in sweep order, and the summary files."""

    out: Path
    results: list[JobResult]
    summaries: dict[str, Path]

    def count(self, *statuses: str) -> int:
        return sum(r.status in statuses for r in self.results)

    @property
    def ok(self) -> bool:
        return self.count("completed") == len(self.results)


def default_out(spec_path: Path | None, prompts_file: Path | None) -> Path:
    """``pixforge-out/sweep-NAME``: fixed for a given file, so running the same command again resumes."""
    source = spec_path or prompts_file
    return Path("pixforge-out") / f"sweep-{source.stem if source else 'prompts'}"


def prepare(pipeline: Pipeline, jobs: Sequence[Job]) -> list[Job]:
    """Resolve every job's settings before anything renders, so a typo fails the sweep at once.

    A job with no seed anywhere gets ``DEFAULT_SEED``. A run folder whose ``job.json`` records another
    render is refused.
    """
    checked = []
    for job in jobs:
        values = dict(job.values)
        try:
            config = pipeline.resolve(values.pop("prompt", None), job.preset, **values)
        except PixforgeError as exc:
            raise ConfigError(f"sweep render {job.name}: {exc}") from None
        if config.seed is None:
            job = replace(job, values={**job.values, "seed": DEFAULT_SEED})
        record = read_record(job.run_dir)
        if record is not None and canonical(record.get("identity")) != job.identity():
            raise ConfigError(
                f"{job.run_dir} holds a different render (did the sweep or its --set change?); "
                "use another --out or delete that folder"
            )
        checked.append(job)
    return checked


def run_sweep(
    jobs: Sequence[Job],
    out: Path,
    executor: Executor | None = None,
    pipeline: Pipeline | None = None,
    on_result: Callable[[JobResult], None] | None = None,
) -> SweepReport:
    """Run ``jobs`` (sequentially unless an executor is given) and write the summaries into ``out``.

    ``on_result`` sees each result as it arrives (skipped ones first). On Ctrl-C the summaries still list
    what finished, with the rest as ``not run``, and the interrupt goes on up.
    """
    pipeline = pipeline or Pipeline()
    jobs = prepare(pipeline, jobs)
    executor = executor or SequentialExecutor(pipeline)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[int, JobResult] = {}

    def collect(result: JobResult) -> None:
        results[result.index] = result
        if on_result is not None:
            on_result(result)

    todo = []
    for job in jobs:
        done = skipped(job)
        if done is not None:
            collect(done)
        else:
            todo.append(job)
    try:
        for result in run_jobs(executor, todo):
            collect(result)
    finally:
        ordered = [
            results.get(job.index)
            or JobResult(job.index, job.name, str(job.run_dir), "pending", "not run", variation=job.variation)
            for job in jobs
        ]
        summaries = write_summaries(out, jobs, ordered)
    return SweepReport(out, ordered, summaries)
