"""Running a sweep's jobs on any ``pixforge.executors`` executor.

Where the workers see this machine's files, a job renders straight into its run folder. Where they do
not (Ray with ``--gather``), the run folder's files (a checkpoint to resume from) travel with the job,
the render runs in a scratch folder on the worker, and its files come back to be written here.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from ..executors import Executor, Outcome, ProcessExecutor, RayExecutor, SequentialExecutor
from ..locks import LOCK_NAME
from ..outputs import atomic_write_bytes
from ..pipeline import Pipeline
from .job import JobResult, failed, run_job
from .plan import Job

__all__ = ["Executor", "ProcessExecutor", "RayExecutor", "SequentialExecutor", "run_jobs"]


def run_job_gathered(pipeline: Pipeline, sent: tuple[Job, dict[str, bytes]], device: str | None) -> tuple[JobResult, dict[str, bytes]]:
    """Run a job in a scratch folder of the worker's machine, starting from ``sent`` files; return its files."""
    job, files = sent
    scratch = Path(tempfile.mkdtemp(prefix="pixforge-sweep-"))
    try:
        local = replace(job, run_dir=scratch / job.name)
        write_files(local.run_dir, files)
        result = run_job(pipeline, local, device)
        return result, read_files(local.run_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_jobs(executor: Executor, jobs: Sequence[Job]) -> Iterator[JobResult]:
    """Each job's result as it finishes; a job whose worker died is a failed result, not an exception."""
    if executor.shares_files:
        # the folder must not depend on a worker's working folder
        outcomes = executor.map(run_job, [replace(job, run_dir=job.run_dir.absolute()) for job in jobs])
    else:
        outcomes = executor.map(run_job_gathered, [(job, read_files(job.run_dir)) for job in jobs])
    for outcome in outcomes:
        job = jobs[outcome.index]
        if outcome.error is not None:
            yield failed(job, outcome.error)
            continue
        yield replace(_received(outcome, job, executor.shares_files), run_dir=str(job.run_dir))


def _received(outcome: Outcome[object], job: Job, shared: bool) -> JobResult:
    if shared:
        return outcome.value  # type: ignore[return-value]
    result, files = outcome.value  # type: ignore[misc]
    write_files(job.run_dir, files)
    return result


def read_files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path (a checkpoint to resume from travels this way too)."""
    if not folder.is_dir():
        return {}
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != LOCK_NAME  # a lock belongs to the folder it is in, it never travels
    }


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    """Write files sent back by a worker, each atomically."""
    for relative, data in files.items():
        atomic_write_bytes(folder / relative, data)
