"""The server's worker processes: started with the server, watched, replaced when one dies, stopped with it.

A worker that dies in the middle of a render (killed, out of memory, a crash in native code) fails the
job it held, with its exit code; the server goes on serving and a fresh worker takes the next job.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .queue import JobQueue
from .worker import worker_main

#: seconds between checks that the workers are alive
WATCH = 0.5
#: a worker that dies sooner than this after starting is restarted after a growing pause (up to RETRY_MAX)
QUICK_DEATH = 5.0
RETRY_MAX = 30.0


class WorkerPool:
    """N worker processes (spawned, each with its own Pipeline) fed by one queue."""

    def __init__(self, queue: JobQueue, base_dir: Path, count: int, threads: int) -> None:
        self.queue = queue
        self.base_dir = base_dir
        self.count = count
        self.threads = threads
        self.context = mp.get_context("spawn")
        self.stop_event = self.context.Event()
        self.processes: list[Any] = []
        self.started_at: list[float] = []
        self.restarts = [0] * count
        self.pause = [0.0] * count
        self.closing = threading.Event()
        self.watcher = threading.Thread(target=self._watch, name="pixforge-studio-watch", daemon=True)

    def start(self) -> None:
        for slot in range(self.count):
            self.processes.append(None)
            self.started_at.append(0.0)
            self._spawn(slot)
        self.watcher.start()

    def _spawn(self, slot: int) -> None:
        process = self.context.Process(
            target=worker_main,
            args=(str(self.queue.path), str(self.base_dir), self.threads, os.getpid(), self.stop_event),
            name=f"pixforge-studio-worker-{slot}",
            daemon=True,
        )
        process.start()
        self.processes[slot] = process
        self.started_at[slot] = time.monotonic()

    def _watch(self) -> None:
        while not self.closing.wait(WATCH):
            for slot, process in enumerate(self.processes):
                if process.is_alive() or self.closing.is_set():
                    continue
                why = f"the worker process died (exit code {process.exitcode}) during this render"
                for job_id in self.queue.fail_worker_jobs(process.pid, why):
                    print(f"pixforge studio: job {job_id}: {why}", file=sys.stderr)
                lived = time.monotonic() - self.started_at[slot]
                self.pause[slot] = min(RETRY_MAX, max(1.0, self.pause[slot] * 2)) if lived < QUICK_DEATH else 0.0
                if self.closing.wait(self.pause[slot]):
                    return
                self.restarts[slot] += 1
                self._spawn(slot)

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"pid": p.pid, "alive": p.is_alive(), "restarts": self.restarts[slot]}
            for slot, p in enumerate(self.processes)
            if p is not None
        ]

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every worker: a render under way stops as on Ctrl-C (its image kept), then the process ends."""
        self.closing.set()
        self.stop_event.set()  # an idle worker ends at once; a rendering one gets Ctrl-C
        idle_deadline = time.monotonic() + 1.0
        for process in self.processes:
            if process is not None:
                process.join(max(0.0, idle_deadline - time.monotonic()))
        for process in self.processes:
            if process is not None and process.is_alive():
                try:
                    os.kill(process.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        for process in self.processes:
            if process is None:
                continue
            process.join(max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(5)
            self.queue.fail_worker_jobs(process.pid, "the server stopped while this render ran; the image so far is kept")
