"""First-party plugin ``search``: zero-shot classification and text/image search of image folders.

It embeds with the same ``clip`` perceptor, model names and loaded models as rendering: pass the
``Pipeline`` that rendered and nothing is loaded twice. Commands: ``pixforge classify``, ``pixforge
index``, ``pixforge search``.
"""

from __future__ import annotations

from .classify import Classification, classify
from .commands import register_commands
from .index import FORMAT_VERSION, ImageIndex
from .indexer import IndexReport, build_index
from .models import DEFAULT_MODEL
from .search import Hit, Searcher, SearchResult, search
from .sheet import contact_sheet

__all__ = [
    "DEFAULT_MODEL",
    "FORMAT_VERSION",
    "Classification",
    "Hit",
    "ImageIndex",
    "IndexReport",
    "SearchResult",
    "Searcher",
    "build_index",
    "classify",
    "contact_sheet",
    "register_commands",
    "search",
]
