"""Typer options that read the same in every ``pixforge`` command (plugins' commands use them too)."""

from __future__ import annotations

from typing import Any

import typer


def flag(*names: str, help: str) -> Any:  # noqa: A002 - typer's own keyword
    """An on/off option, shown in ``--help`` as a plain flag (typer would print a ``<bool>`` type beside it)."""
    return typer.Option(*names, help=help, metavar="")
