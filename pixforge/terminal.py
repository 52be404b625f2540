"""Progress bars for a person at a terminal, made in one place: always on stderr (stdout carries results,
such as the path of the final image) and, unless asked otherwise, only when stderr is a terminal."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.progress import Progress


def wants_bar(enabled: bool | None = None) -> bool:
    """``enabled`` as given; None: whether stderr is a terminal (no bars in logs, CI or pipes)."""
    return sys.stderr.isatty() if enabled is None else enabled


def stderr_progress(*columns: Any, transient: bool = False) -> Progress:
    """A rich ``Progress`` with these columns, drawn on stderr."""
    from rich.console import Console
    from rich.progress import Progress

    return Progress(*columns, console=Console(stderr=True), transient=transient)
