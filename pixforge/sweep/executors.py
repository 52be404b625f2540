"""Where a sweep's jobs run: here one after another, in N worker processes, or on a Ray cluster.

Every executor keeps one Pipeline per worker, so models load once per worker and not once per render,
and yields each job's result as soon as it is done (in completion order).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from ..errors import ConfigError
from ..outputs import atomic_write_bytes
from ..pipeline import Pipeline
from .job import JobResult, failed, run_job
from .plan import Job


class Executor(Protocol):
    """Runs jobs and yields their results as they finish."""

    def run(self, jobs: Sequence[Job]) -> Iterator[JobResult]: ...


class SequentialExecutor:
    """One job after another in this process, all through one Pipeline."""

    def __init__(self, pipeline: Pipeline | None = None) -> None:
        self.pipeline = pipeline

    def run(self, jobs: Sequence[Job]) -> Iterator[JobResult]:
        pipeline = self.pipeline or Pipeline()
        for job in jobs:
            yield run_job(pipeline, job)


# -- worker processes ------------------------------------------------------------------------------


@dataclass
class _WorkerState:
    pipeline: Pipeline
    device: str | None


#: set only inside a pool's worker processes, by the pool initializer; always None in the parent
_worker: _WorkerState | None = None


def _start_worker(counter: Any, threads: int | None) -> None:
    """Pool initializer: number this worker, pin it to a GPU where several exist, build its Pipeline."""
    global _worker  # noqa: PLW0603 - per-process state of a pool worker, never the parent's
    import torch

    with counter.get_lock():
        index = counter.value
        counter.value += 1
    gpus = torch.cuda.device_count()
    if threads:
        torch.set_num_threads(threads)
    _worker = _WorkerState(Pipeline(), f"cuda:{index % gpus}" if gpus > 1 else None)


def _work(job: Job) -> JobResult:
    if _worker is None:
        raise RuntimeError("pixforge sweep worker used before its initializer ran")
    return run_job(_worker.pipeline, job, _worker.device)


class ProcessExecutor:
    """``workers`` spawned processes, each with its own Pipeline and (where several GPUs exist) its own GPU."""

    def __init__(self, workers: int, threads: int | None = None) -> None:
        if workers < 1:
            raise ConfigError(f"--workers must be 1 or more, got {workers}")
        self.workers = workers
        #: torch threads per worker; by default the CPU cores shared out, so workers do not oversubscribe
        self.threads = threads if threads is not None else max(1, (os.cpu_count() or 1) // workers)

    def run(self, jobs: Sequence[Job]) -> Iterator[JobResult]:
        if not jobs:
            return
        context = multiprocessing.get_context("spawn")
        counter = context.Value("i", 0)
        pool = ProcessPoolExecutor(
            max_workers=min(self.workers, len(jobs)),
            mp_context=context,
            initializer=_start_worker,
            initargs=(counter, self.threads),
        )
        pending: dict[Future[JobResult], Job] = {pool.submit(_work, job): job for job in jobs}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    job = pending.pop(future)
                    try:
                        yield future.result()
                    except Exception as exc:  # noqa: BLE001 - a dead worker fails its jobs, not the sweep
                        yield failed(job, f"worker process failed: {type(exc).__name__}: {exc}")
        finally:
            # after Ctrl-C (the workers got it too) do not wait for renders still queued
            pool.shutdown(wait=not pending, cancel_futures=True)


# -- Ray -------------------------------------------------------------------------------------------


class RayWorker:
    """A Ray actor's state: one Pipeline, so its models load once for all the renders it runs."""

    def __init__(self) -> None:
        self.pipeline = Pipeline()

    def run(self, job: Job) -> JobResult:
        return run_job(self.pipeline, job)

    def run_gathered(self, job: Job, files: dict[str, bytes]) -> tuple[JobResult, dict[str, bytes]]:
        """Run in a scratch folder on the worker's machine and send the run folder's files back."""
        scratch = Path(tempfile.mkdtemp(prefix="pixforge-sweep-"))
        try:
            local = replace(job, run_dir=scratch / job.name)
            write_files(local.run_dir, files)
            result = run_job(self.pipeline, local)
            return result, read_files(local.run_dir)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def read_files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path (a checkpoint to resume from travels this way too)."""
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    """Write files sent back by a worker, each atomically."""
    for relative, data in files.items():
        atomic_write_bytes(folder / relative, data)


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray: pip install 'pixforge[ray]'") from None
    return ray


class RayExecutor:
    """One Ray task per render on actors that each hold a Pipeline (one GPU each where the cluster has GPUs).

    ``address``: ``local`` starts a Ray instance on this machine (``num_cpus`` of it), anything else is
    passed to ``ray.init`` (``auto``, ``host:port``, ``ray://…``). With ``gather`` the run folders are made
    on the workers and copied back here; without it the sweep's folder must be on a path every node shares.
    Either way, files a spec names (presets, init images) must be readable on the workers.
    An already running Ray (``ray.init`` by the caller) is used as it is and left running.
    """

    def __init__(
        self, address: str = "local", actors: int | None = None, gather: bool = False, num_cpus: int | None = None
    ) -> None:
        self.address = address
        self.actors = actors
        self.gather = gather
        self.num_cpus = num_cpus

    def run(self, jobs: Sequence[Job]) -> Iterator[JobResult]:
        if not jobs:
            return
        ray = import_ray()
        started = not ray.is_initialized()
        if started:
            self._connect(ray)
        try:
            yield from self._run(ray, jobs)
        finally:
            if started:
                ray.shutdown()

    def _connect(self, ray: Any) -> None:
        import logging

        try:
            if self.address in ("", "local"):
                ray.init(num_cpus=self.num_cpus, include_dashboard=False, logging_level=logging.WARNING)
            else:
                ray.init(address=self.address, logging_level=logging.WARNING)
        except ConnectionError as exc:
            raise ConfigError(f"--ray '{self.address}': cannot connect ({exc})") from None

    def _run(self, ray: Any, jobs: Sequence[Job]) -> Iterator[JobResult]:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        count = self.actors or gpus or max(1, int(resources.get("CPU", 1)))
        actor_class = ray.remote(num_cpus=1, num_gpus=1 if gpus else 0)(RayWorker)
        idle = [actor_class.remote() for _ in range(min(count, len(jobs)))]
        queue = deque(jobs)
        pending: dict[Any, tuple[Any, Job]] = {}
        while queue or pending:
            while idle and queue:
                job = queue.popleft()
                actor = idle.pop()
                pending[self._submit(actor, job)] = (actor, job)
            ready, _ = ray.wait(list(pending), num_returns=1)
            actor, job = pending.pop(ready[0])
            try:
                yield self._collect(ray, ready[0], job)
                idle.append(actor)
            except ray.exceptions.RayActorError as exc:
                yield failed(job, f"Ray worker died: {exc}")
                idle.append(actor_class.remote())
            except ray.exceptions.RayError as exc:
                yield failed(job, f"Ray task failed: {exc}")
                idle.append(actor)

    def _submit(self, actor: Any, job: Job) -> Any:
        if self.gather:
            return actor.run_gathered.remote(job, read_files(job.run_dir))
        # on a shared path the folder must not depend on the worker's working folder
        return actor.run.remote(replace(job, run_dir=job.run_dir.absolute()))

    def _collect(self, ray: Any, ref: Any, job: Job) -> JobResult:
        if self.gather:
            result, files = ray.get(ref)
            write_files(job.run_dir, files)
        else:
            result = ray.get(ref)
        return replace(result, run_dir=str(job.run_dir))
