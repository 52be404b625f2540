"""Folder locks: one writer per run folder or index at a time, released by the OS if the writer dies.

The locks are ``filelock`` file locks (``flock`` on POSIX), so a writer killed with ``kill -9`` never leaves
a stale lock behind: the next writer simply takes it. A second writer is refused at once (a render) or
waits a while (an index update), never left to mix its files with the first one's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import ConfigError
from .files import printable

#: the lock file inside a locked folder
LOCK_NAME = ".pixforge.lock"


@contextmanager
def folder_lock(folder: Path, what: str, wait: float = 0.0, hint: str = "") -> Iterator[None]:
    """Hold ``folder``'s writer lock for the block; another holder means a ConfigError after ``wait`` s."""
    lock = FileLock(str(folder / LOCK_NAME), timeout=wait, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise ConfigError(
            f"{what} '{printable(folder)}' is in use by another pixforge process (lock {LOCK_NAME}){hint}"
        ) from None
    try:
        yield
    finally:
        lock.release()


def run_folder_lock(run_dir: Path) -> AbstractContextManager[None]:
    """The lock a render holds on its run folder while it writes there."""
    return folder_lock(run_dir, "run folder", hint="; give another --out, or wait for that render to end")
