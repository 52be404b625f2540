"""A byte progress bar for downloads (bytes, rate, ETA) on stderr, shown only to a person at a terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..terminal import stderr_progress, wants_bar


@contextmanager
def byte_progress(
    label: str, total: int | None, done: int = 0, enabled: bool | None = None
) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n_bytes)``; draws a rich bar when ``enabled`` (default: stderr is a terminal)."""
    if not wants_bar(enabled):
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with stderr_progress(*columns) as bar:
        task = bar.add_task(label, total=total, completed=done)
        yield lambda n: bar.advance(task, n)
