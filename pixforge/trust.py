"""Trust to run code from a checkpoint comes only from the user's own command line, never with a file.

A full unpickle can run any code, so ``trust_checkpoint: true`` is honoured only when the user gives it
(``--trust-checkpoint`` or ``--set ...trust_checkpoint=true``) or a registry SHA-256 vouches for the file.
Everything read from a file someone else may have made (a PNG's settings, a preset, a sweep file, a run
folder's settings.yaml) passes through ``without_trust`` first, which drops those keys wherever they are.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Iterable
from typing import Any

from .errors import PixforgeWarning

#: setting names that let a component run code from a file; they never arrive with a file
TRUST_KEYS = frozenset({"trust_checkpoint"})
#: what the user types to give that trust (named in every refusal)
TRUST_FLAG = "--trust-checkpoint"


def _is_trust_key(key: object) -> bool:
    return isinstance(key, str) and any(part.strip() in TRUST_KEYS for part in key.split("."))


def _strip(node: Any, found: list[str], where: str) -> Any:
    if isinstance(node, dict):
        kept = {}
        for key, value in node.items():
            if _is_trust_key(key):
                if value not in (False, None, {}):  # a "false" is harmless and dropped without a word
                    found.append(f"{where}{key}")
                continue
            kept[key] = _strip(value, found, f"{where}{key}.")
        return kept
    if isinstance(node, list):
        return [_strip(item, found, f"{where}{number}.") for number, item in enumerate(node)]
    if isinstance(node, str) and "=" in node and _is_trust_key(node.split("=", 1)[0]):
        found.append(f"{where.rstrip('.')}: {node}")  # an override string inside a file
        return ""
    return node


def without_trust(data: Any, source: str) -> Any:
    """``data`` read from ``source`` with every trust key removed (a warning names what was dropped)."""
    found: list[str] = []
    cleaned = _strip(data, found, "")
    if found:
        warnings.warn(
            f"{source}: ignored {', '.join(found)}: trust to unpickle a checkpoint never comes with a file; "
            f"give {TRUST_FLAG} on your own command line if you trust it",
            PixforgeWarning,
            stacklevel=2,
        )
    return cleaned


def grant_trust(
    data: dict[str, Any], groups: Iterable[tuple[str, str]], fields_of: Callable[[str, str], Collection[str]]
) -> dict[str, Any]:
    """Set every trust key the render's components declare to true: the user gave ``--trust-checkpoint``.

    ``groups`` are the (component kind, settings key) pairs a render names components under
    (``("loss", "losses")``); ``fields_of(kind, name)`` gives the setting names of a component.
    """
    for kind, key in groups:
        specs = data.get(key)
        for spec in specs if isinstance(specs, list) else [specs]:
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                continue
            wanted = TRUST_KEYS & set(fields_of(kind, spec["name"]))
            if wanted:
                settings = spec.get("settings")
                spec["settings"] = {**(settings if isinstance(settings, dict) else {}), **dict.fromkeys(wanted, True)}
    return data

