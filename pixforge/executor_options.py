"""The ``--workers`` and ``--ray`` options of every command that runs on ``pixforge.executors`` (sweep, index),
so they read and behave the same everywhere; ``make_executor`` turns them into an executor."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

WorkersOption = Annotated[
    int, typer.Option("--workers", "-w", help="Run in N worker processes (one GPU each where several exist).")
]
RayOption = Annotated[
    Optional[str],  # noqa: UP045 - typer reads the annotation at runtime
    typer.Option("--ray", metavar="ADDRESS", help="Run on Ray: 'local' starts one here, else auto, host:port…"),
]
