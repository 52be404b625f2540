"""How every ``pixforge`` command speaks on stderr: one ``pixforge: error:`` or ``pixforge: warning:`` line.

Plugins that add commands use these too, so a user sees one voice whichever command failed.
"""

from __future__ import annotations

from typing import NoReturn

import typer


def error_line(message: str) -> None:
    """Print ``pixforge: error: MESSAGE`` on stderr."""
    typer.echo(f"pixforge: error: {message}", err=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print the error line and end the command with exit status ``code``."""
    error_line(message)
    raise typer.Exit(code)


def warn(message: str) -> None:
    """Print ``pixforge: warning: MESSAGE`` on stderr."""
    typer.echo(f"pixforge: warning: {message}", err=True)
