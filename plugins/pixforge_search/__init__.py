"""First-party plugin ``search``: zero-shot classification and text/image search of image folders.

It embeds with the same ``clip`` perceptor, model names and loaded models as rendering: pass the
``Pipeline`` that rendered and nothing is loaded twice. Commands: ``pixforge classify``, ``pixforge
index``, ``pixforge search``.
"""

from __future__ import annotations

from pixforge.lazy import lazy_exports

from .commands import register_commands
from .names import DEFAULT_MODEL

__getattr__ = lazy_exports(
    __name__,
    {
        "Classification": ".classifier",
        "classify": ".classifier",
        "FORMAT_VERSION": ".index",
        "ImageIndex": ".index",
        "IndexReport": ".indexer",
        "build_index": ".indexer",
        "Hit": ".searcher",
        "Searcher": ".searcher",
        "SearchResult": ".searcher",
        "search": ".searcher",
        "contact_sheet": ".sheet",
    },
)

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
