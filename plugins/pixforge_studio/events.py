"""Server-sent events of one job: progress as it changes, a preview when a new one is written, the end.

The stream reads the queue a few times a second (the workers write there), so it needs nothing from the
worker but the table, and a browser's ``EventSource`` or ``curl -N`` can follow it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from .queue import FINISHED, JobQueue

#: how often the stream reads the queue, in seconds
POLL = 0.1
#: a comment line this often keeps proxies and browsers from closing an idle stream
KEEPALIVE = 15.0


def sse(event: str, data: dict[str, Any]) -> str:
    """One event in the text/event-stream format."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def progress_of(job: Any) -> dict[str, Any]:
    return {
        "id": job.id, "status": job.state, "step": job.step, "total": job.total, "loss": job.loss,
        "rate": job.rate, "losses": job.losses, "previews": job.previews,
    }


async def job_events(
    queue: JobQueue, job_id: str, disconnected: Callable[[], Awaitable[bool]], poll: float = POLL
) -> AsyncIterator[str]:
    """``progress`` events (step, total, loss, rate, losses), ``preview`` events (an image URL), and one
    ``end`` event with the whole job when it finishes; the stream then closes."""
    last: tuple[str, int] | None = None
    shown_preview = 0
    quiet_since = time.monotonic()
    while True:
        job = await asyncio.to_thread(queue.get, job_id)
        if job is None:
            yield sse("end", {"id": job_id, "status": "unknown", "error": f"no render '{job_id}'"})
            return
        if (job.state, job.step) != last:
            last = (job.state, job.step)
            quiet_since = time.monotonic()
            yield sse("progress", progress_of(job))
        if job.previews > shown_preview:
            shown_preview = job.previews
            yield sse("preview", {"id": job.id, "step": job.step, "url": f"/api/renders/{job.id}/image?v={job.previews}"})
        if job.state in FINISHED:
            yield sse("end", job.public())
            return
        if time.monotonic() - quiet_since > KEEPALIVE:
            quiet_since = time.monotonic()
            yield ": keepalive\n\n"
        if await disconnected():
            return
        await asyncio.sleep(poll)
