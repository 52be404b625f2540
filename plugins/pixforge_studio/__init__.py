"""First-party plugin ``studio``: ``pixforge serve``, a local web page and JSON API over a render queue.

Renders run in worker processes fed by a SQLite queue in the runs folder (models stay loaded across
jobs); the page and the API watch them (server-sent events), cancel them, browse the runs folder and
search an index made by ``pixforge index`` (the ``search`` plugin). Importing this package is light:
FastAPI, uvicorn and torch load only when ``serve`` runs.
"""

from __future__ import annotations

from .commands import register_commands

__all__ = ["register_commands"]
