"""The ``pixforge serve`` command. Its heavy modules (FastAPI, uvicorn, torch) load inside the command."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from pixforge.console import fail
from pixforge.files import printable
from pixforge.hookspecs import hookimpl

#: what ``pixforge serve`` needs beyond pixforge's own dependencies
NEEDS = {"fastapi": "fastapi", "uvicorn": "uvicorn", "multipart": "python-multipart"}


def missing_dependencies() -> list[str]:
    """The studio's packages that are not installed (by their pip names)."""
    import importlib.util

    return [package for module, package in NEEDS.items() if importlib.util.find_spec(module) is None]


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; anything but 127.0.0.1/localhost needs --token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 7860,
    runs: Annotated[Path, typer.Option(help="The runs folder: renders, the queue and uploads live here.")] = Path("pixforge-out"),
    workers: Annotated[int, typer.Option(min=0, max=64, help="Worker processes that render (0: queue only).")] = 1,
    threads: Annotated[Optional[int], typer.Option(min=1, help="Torch threads per worker (default: cores / workers).")] = None,
    token: Annotated[Optional[str], typer.Option(help="Requests to /api/ must carry it (Bearer header or ?token=).")] = None,
    inputs: Annotated[
        Optional[Path], typer.Option(help="A folder requests may name files in (init images, search indexes).")
    ] = None,
) -> None:
    """Serve the studio: a web page and JSON API to render, watch, browse and search (OpenAPI at /docs)."""
    missing = missing_dependencies()
    if missing:
        fail(f"pixforge serve needs {', '.join(missing)}: pip install 'pixforge[studio]'")
    from .security import needs_token

    refusal = needs_token(host, token)
    if refusal:
        fail(refusal)
    if inputs is not None and not inputs.is_dir():
        fail(f"--inputs '{printable(inputs)}' is not a folder")
    if runs.exists() and not runs.is_dir():
        fail(f"--runs '{printable(runs)}' is not a folder")
    runs.mkdir(parents=True, exist_ok=True)
    per_worker = threads or max(1, (os.cpu_count() or 1) // max(1, workers))
    run_server(host, port, runs, workers, per_worker, token, inputs)


def run_server(
    host: str, port: int, runs: Path, workers: int, threads: int, token: str | None, inputs: Path | None
) -> None:
    """Build the app and run it under uvicorn until Ctrl-C (the workers stop with it)."""
    import torch
    import uvicorn

    from pixforge.errors import PixforgeError

    from .app import StudioConfig, create_app, server_lock

    torch.set_num_threads(threads)  # the server's own torch work: embedding search queries
    app = create_app(StudioConfig(runs=runs, inputs=inputs, workers=workers, threads=threads, token=token, host=host))
    shown = f"[{host}]" if ":" in host else host
    typer.echo(
        f"pixforge studio: http://{shown}:{port}/  (runs folder {printable(runs.resolve())}, "
        f"{workers} worker{'s' if workers != 1 else ''} x {threads} thread{'s' if threads != 1 else ''})",
        err=True,
    )
    # uvicorn shuts down cleanly on SIGTERM, then raises the signal again: let that end the command with 0
    signal.signal(signal.SIGTERM, _stopped)
    try:
        lock = server_lock(runs.resolve())
        with lock:
            uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    except PixforgeError as exc:
        fail(str(exc))


def _stopped(signum: int, frame: Any) -> None:
    raise SystemExit(0)


@hookimpl
def register_commands(cli: Any) -> None:
    cli.command("serve")(serve)
