"""The studio's job queue: one SQLite table in the runs folder, shared by the server and its worker processes.

A job is queued, claimed by one worker inside a write transaction (so two workers never take the same
job), then ends completed, failed or cancelled. The table lives on disk, so jobs that never ran are still
queued after the server restarts; a job left "running" by a server that stopped is marked failed.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

State = Literal["queued", "running", "completed", "failed", "cancelled"]
#: how many of a job's latest per-step losses the table keeps
HISTORY = 2000
#: states a job never leaves
FINISHED: frozenset[str] = frozenset({"completed", "failed", "cancelled"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    spec TEXT NOT NULL,
    run_dir TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    worker INTEGER,
    cancel INTEGER NOT NULL DEFAULT 0,
    step INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    loss REAL,
    rate REAL,
    losses TEXT NOT NULL DEFAULT '{}',
    history TEXT NOT NULL DEFAULT '[]',
    previews INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    loaded INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, seq);
"""


@dataclass
class Job:
    """One row of the jobs table."""

    id: str
    kind: str
    state: str
    spec: dict[str, Any]
    run_dir: str
    created: float
    started: float | None = None
    finished: float | None = None
    worker: int | None = None
    cancel: bool = False
    step: int = 0
    total: int = 0
    loss: float | None = None
    rate: float | None = None
    losses: dict[str, float] = field(default_factory=dict)
    history: list[float] = field(default_factory=list)
    previews: int = 0
    error: str = ""
    #: models the job's worker had to load (0: every one was still loaded from an earlier job)
    loaded: int | None = None

    @property
    def prompt(self) -> str | None:
        """The prompt asked for, or the replayed settings' one."""
        preset = self.spec.get("preset")
        return self.spec.get("prompt") or (preset.get("prompt") if isinstance(preset, dict) else None)

    def public(self) -> dict[str, Any]:
        """The job as the API shows it (GET /api/renders/{id})."""
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.state,
            "step": self.step,
            "total": self.total,
            "loss": self.loss,
            "rate": self.rate,
            "losses": self.losses,
            "history": self.history,
            "previews": self.previews,
            "error": self.error,
            "models_loaded": self.loaded,
            "worker": self.worker,
            "prompt": self.prompt,
            "preset": self.spec.get("preset") if isinstance(self.spec.get("preset"), str) else None,
            "run": Path(self.run_dir).name,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
        }


def _row_to_job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"], kind=row["kind"], state=row["state"], spec=json.loads(row["spec"]), run_dir=row["run_dir"],
        created=row["created"], started=row["started"], finished=row["finished"], worker=row["worker"],
        cancel=bool(row["cancel"]), step=row["step"], total=row["total"], loss=row["loss"], rate=row["rate"],
        losses=json.loads(row["losses"]), history=json.loads(row["history"]), previews=row["previews"],
        error=row["error"], loaded=row["loaded"],
    )


class JobQueue:
    """The jobs table of one runs folder; each process (and thread) opens its own connection."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            columns = {row["name"] for row in db.execute("PRAGMA table_info(jobs)")}
            if "loaded" not in columns:  # a queue made before jobs recorded their model loads
                db.execute("ALTER TABLE jobs ADD COLUMN loaded INTEGER")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=30000")
        try:
            yield db
        finally:
            db.close()

    # -- the server's side ------------------------------------------------------------------------

    def add(self, kind: str, spec: dict[str, Any], run_dir: Path) -> Job:
        """Queue a job; it runs after every job queued before it."""
        job_id = uuid.uuid4().hex[:12]
        with self._connect() as db:
            db.execute(
                "INSERT INTO jobs (id, kind, state, spec, run_dir, created) VALUES (?, ?, 'queued', ?, ?, ?)",
                (job_id, kind, json.dumps(spec), str(run_dir), time.time()),
            )
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str) -> Job | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _row_to_job(row) if row is not None else None

    def list(self, limit: int = 200) -> list[Job]:
        """The newest jobs first."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM jobs ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        return [_row_to_job(row) for row in rows]

    def by_run_dir(self) -> dict[str, Job]:
        """Jobs keyed by their run folder (the gallery joins them to the folders it finds)."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM jobs ORDER BY seq").fetchall()
        return {row["run_dir"]: _row_to_job(row) for row in rows}

    def counts(self) -> dict[str, int]:
        with self._connect() as db:
            rows = db.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state").fetchall()
        return {row["state"]: row["n"] for row in rows}

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a job: a queued one ends at once; a running one is flagged and its worker stops it at the
        next step, keeping the image (like Ctrl-C). A finished job is left as it is."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "UPDATE jobs SET state = 'cancelled', cancel = 1, finished = ? WHERE id = ? AND state = 'queued'",
                (time.time(), job_id),
            )
            db.execute("UPDATE jobs SET cancel = 1 WHERE id = ? AND state = 'running'", (job_id,))
            db.execute("COMMIT")
        return self.get(job_id)

    def recover(self) -> list[str]:
        """At server start: jobs a stopped server left running are failed (their image so far is kept)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            ids = [row["id"] for row in db.execute("SELECT id FROM jobs WHERE state = 'running'")]
            db.execute(
                "UPDATE jobs SET state = 'failed', finished = ?, "
                "error = 'the server stopped while this render ran; the image so far is kept' WHERE state = 'running'",
                (time.time(),),
            )
            db.execute("COMMIT")
        return ids

    def fail_worker_jobs(self, pid: int, why: str) -> list[str]:
        """A worker process died: whatever it was running is failed with ``why``."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            ids = [row["id"] for row in db.execute("SELECT id FROM jobs WHERE state = 'running' AND worker = ?", (pid,))]
            db.execute(
                "UPDATE jobs SET state = 'failed', finished = ?, error = ? WHERE state = 'running' AND worker = ?",
                (time.time(), why, pid),
            )
            db.execute("COMMIT")
        return ids

    # -- the worker's side ------------------------------------------------------------------------

    def claim(self, worker: int) -> Job | None:
        """Take the oldest queued job for ``worker`` (a pid), in one write transaction; None when none waits."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT seq FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                db.execute("COMMIT")
                return None
            db.execute(
                "UPDATE jobs SET state = 'running', worker = ?, started = ? WHERE seq = ?",
                (worker, time.time(), row["seq"]),
            )
            claimed = db.execute("SELECT * FROM jobs WHERE seq = ?", (row["seq"],)).fetchone()
            db.execute("COMMIT")
        return _row_to_job(claimed)

    def progress(
        self, job_id: str, step: int, total: int, loss: float | None, rate: float | None,
        losses: dict[str, float], history: list[float], previews: int,
    ) -> bool:
        """Record a running job's progress (the last HISTORY losses); returns whether it has been asked to cancel."""
        with self._connect() as db:
            db.execute(
                "UPDATE jobs SET step = ?, total = ?, loss = ?, rate = ?, losses = ?, history = ?, previews = ? "
                "WHERE id = ?",
                (step, total, loss, rate, json.dumps(losses), json.dumps(history[-HISTORY:]), previews, job_id),
            )
            row = db.execute("SELECT cancel FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row["cancel"])

    def cancel_requested(self, job_id: str) -> bool:
        with self._connect() as db:
            row = db.execute("SELECT cancel FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row["cancel"])

    def finish(self, job_id: str, state: State, error: str = "", loaded: int | None = None) -> None:
        """End a running job (only a running one: a job the server already failed stays failed)."""
        with self._connect() as db:
            db.execute(
                "UPDATE jobs SET state = ?, error = ?, finished = ?, loaded = ? WHERE id = ? AND state = 'running'",
                (state, error, time.time(), loaded, job_id),
            )
