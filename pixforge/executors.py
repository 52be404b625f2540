"""Where batch work runs: here one item after another, in N worker processes, or on a Ray cluster.

The sweep runs renders through these and the search pack's ``index`` embeds image batches through the
same ones. A task is a module-level function ``task(pipeline, item, device)``: every worker keeps one
Pipeline, so models load once per worker and not once per item, and ``device`` pins a worker to its own
GPU where several exist (None elsewhere). Results come back as each item finishes (completion order),
tagged with the item's position; a task that raises, or a worker that dies, fails its item only.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from .errors import ConfigError, PixforgeError
from .pipeline import Pipeline

Item = TypeVar("Item")
Value = TypeVar("Value")

#: one unit of work, run with a worker's Pipeline and pinned device; module-level, so it pickles by name
Task = Callable[[Pipeline, Any, "str | None"], Any]


@dataclass(frozen=True)
class Outcome(Generic[Value]):
    """One item's end: its position among the items, and its value or why it has none."""

    index: int
    value: Value | None = None
    error: str | None = None


class Executor(Protocol):
    """Runs a task over items and yields each item's outcome as it finishes."""

    #: whether the workers see this machine's files (False: Ray with outputs gathered back)
    shares_files: bool

    def map(self, task: Task, items: Sequence[Any]) -> Iterator[Outcome[Any]]: ...


def _describe(exc: BaseException) -> str:
    if isinstance(exc, PixforgeError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class SequentialExecutor:
    """One item after another in this process, all through one Pipeline."""

    shares_files = True

    def __init__(self, pipeline: Pipeline | None = None) -> None:
        self.pipeline = pipeline

    def map(self, task: Task, items: Sequence[Any]) -> Iterator[Outcome[Any]]:
        pipeline = self.pipeline or Pipeline()
        for index, item in enumerate(items):
            try:
                value = task(pipeline, item, None)
            except Exception as exc:  # noqa: BLE001 - one failed item must not stop the others
                yield Outcome(index, error=_describe(exc))
            else:
                yield Outcome(index, value)


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


def _work(task: Task, item: Any) -> Any:
    if _worker is None:
        raise RuntimeError("pixforge worker used before its initializer ran")
    return task(_worker.pipeline, item, _worker.device)


class ProcessExecutor:
    """``workers`` spawned processes, each with its own Pipeline and (where several GPUs exist) its own GPU."""

    shares_files = True

    def __init__(self, workers: int, threads: int | None = None) -> None:
        if workers < 1:
            raise ConfigError(f"--workers must be 1 or more, got {workers}")
        self.workers = workers
        #: torch threads per worker; by default the CPU cores shared out, so workers do not oversubscribe
        self.threads = threads if threads is not None else max(1, (os.cpu_count() or 1) // workers)

    def map(self, task: Task, items: Sequence[Any]) -> Iterator[Outcome[Any]]:
        if not items:
            return
        context = multiprocessing.get_context("spawn")
        counter = context.Value("i", 0)
        pool = ProcessPoolExecutor(
            max_workers=min(self.workers, len(items)),
            mp_context=context,
            initializer=_start_worker,
            initargs=(counter, self.threads),
        )
        pending: dict[Future[Any], int] = {pool.submit(_work, task, item): i for i, item in enumerate(items)}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    index = pending.pop(future)
                    try:
                        yield Outcome(index, future.result())
                    except Exception as exc:  # noqa: BLE001 - a dead worker fails its items, not the batch
                        yield Outcome(index, error=f"worker process failed: {_describe(exc)}")
        finally:
            # after Ctrl-C (the workers got it too) do not wait for items still queued
            pool.shutdown(wait=not pending, cancel_futures=True)


# -- Ray -------------------------------------------------------------------------------------------


class RayWorker:
    """A Ray actor's state: one Pipeline, so its models load once for all the items it runs."""

    def __init__(self) -> None:
        self.pipeline = Pipeline()

    def call(self, task: Task, item: Any) -> Any:
        # Ray gives an actor with a GPU exactly that GPU: the render's own device setting finds it
        return task(self.pipeline, item, None)


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray: pip install 'pixforge[ray]'") from None
    return ray


class RayExecutor:
    """One Ray task per item on actors that each hold a Pipeline (one GPU each where the cluster has GPUs).

    ``address``: ``local`` starts a Ray instance on this machine (``num_cpus`` of it), anything else is
    passed to ``ray.init`` (``auto``, ``host:port``, ``ray://…``). ``gather`` says the workers do not see
    this machine's files, so a caller sends inputs and takes outputs back in the items and values.
    Either way, files the items name (presets, images) must be readable on the workers.
    An already running Ray (``ray.init`` by the caller) is used as it is and left running.
    """

    def __init__(
        self, address: str = "local", actors: int | None = None, gather: bool = False, num_cpus: int | None = None
    ) -> None:
        self.address = address
        self.actors = actors
        self.gather = gather
        self.num_cpus = num_cpus

    @property
    def shares_files(self) -> bool:
        return not self.gather

    def map(self, task: Task, items: Sequence[Any]) -> Iterator[Outcome[Any]]:
        if not items:
            return
        ray = import_ray()
        started = not ray.is_initialized()
        if started:
            self._connect(ray)
        try:
            yield from self._map(ray, task, items)
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

    def _map(self, ray: Any, task: Task, items: Sequence[Any]) -> Iterator[Outcome[Any]]:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        count = self.actors or gpus or max(1, int(resources.get("CPU", 1)))
        actor_class = ray.remote(num_cpus=1, num_gpus=1 if gpus else 0)(RayWorker)
        idle = [actor_class.remote() for _ in range(min(count, len(items)))]
        queue = deque(enumerate(items))
        pending: dict[Any, tuple[Any, int]] = {}
        while queue or pending:
            while idle and queue:
                index, item = queue.popleft()
                actor = idle.pop()
                pending[actor.call.remote(task, item)] = (actor, index)
            ready, _ = ray.wait(list(pending), num_returns=1)
            actor, index = pending.pop(ready[0])
            try:
                yield Outcome(index, ray.get(ready[0]))
                idle.append(actor)
            except ray.exceptions.RayActorError as exc:
                yield Outcome(index, error=f"Ray worker died: {exc}")
                idle.append(actor_class.remote())
            except ray.exceptions.RayTaskError as exc:
                yield Outcome(index, error=_describe(exc.cause) if exc.cause is not None else str(exc))
                idle.append(actor)
            except ray.exceptions.RayError as exc:
                yield Outcome(index, error=f"Ray task failed: {exc}")
                idle.append(actor)


def make_executor(workers: int = 1, ray: str | None = None, gather: bool = False) -> Executor | None:
    """The executor the ``--workers N`` / ``--ray ADDRESS`` / ``--gather`` options ask for (None: here, in order)."""
    if ray is not None and workers != 1:
        raise ConfigError("--workers and --ray do not go together (on Ray every worker is an actor)")
    if gather and ray is None:
        raise ConfigError("--gather goes with --ray (local workers share this machine's files)")
    if ray is not None:
        return RayExecutor(ray, gather=gather)
    if workers > 1:
        return ProcessExecutor(workers)
    if workers < 1:
        raise ConfigError(f"--workers must be 1 or more, got {workers}")
    return None
