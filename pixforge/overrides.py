"""``--set`` overrides: ``dotted.path=value``, ``list+=item`` and ``list-=item``, applied to plain settings data.

Inside a list of components a path part may be an index or a component name (``losses.smoothness.weight=2``,
``perceptors.0.settings.model=RN50``). ``losses+=init_image`` adds a component by name (or a whole spec:
``losses+={name: init_image, weight: 0.5}``), ``losses-=smoothness`` takes one out. Values are read as YAML.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from typing import Any

import yaml

from .errors import ConfigError, suggest

#: the last part of an override path that adds to a list (``losses+=x``) or removes from one (``losses-=x``)
APPEND, REMOVE = "+", "-"

#: a path as it was changed, list positions as numbers: ``["losses", 2, "weight"]``
Where = list[str | int]


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else (lists included) is replaced by ``over``.

    A component spec that names a different component (``name:``) replaces the old one whole, since the
    old component's settings mean nothing to the new one.
    """
    if "name" in over and base.get("name") != over["name"]:
        return copy.deepcopy(over)
    merged = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` → (["a","b","c"], value), the value read as YAML (numbers, lists, booleans).

    ``a.b+=value`` and ``a.b-=value`` add an item to the list ``a.b`` or remove one (by name or index): the
    path then ends with ``APPEND`` or ``REMOVE``.
    """
    if "=" not in text:
        hint = " (the canvas size is --size WxH)" if text.replace(" ", "").isdigit() else ""
        raise ConfigError(f"--set '{text}': expected dotted.path=value (e.g. --set steps=50){hint}")
    key, raw = text.split("=", 1)
    key = key.strip()
    op = key[-1] if key[-1:] in (APPEND, REMOVE) else ""
    path = [part.strip() for part in key.removesuffix(op).split(".")] if key.removesuffix(op) else [""]
    if not all(path):
        raise ConfigError(f"--set '{text}': empty part in the key '{key}'")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        raise ConfigError(f"--set '{text}': the value '{raw}' is not valid YAML") from None
    return ([*path, op] if op else path), value


def apply_override(
    data: dict[str, Any], path: list[str], value: Any, source: str, component_lists: Collection[str] = ()
) -> Where:
    """Set ``value`` at ``path`` in ``data``; returns the path it changed, list positions as numbers.

    A path ending in ``APPEND`` adds ``value`` to the list (a YAML list: each of its items; in one of the
    top-level ``component_lists`` a bare name stands for ``{name: NAME}``); one ending in ``REMOVE`` takes the
    item named or numbered ``value`` out.
    """
    if path[-1] in (APPEND, REMOVE):
        return _change_list(data, path, value, source, component_lists)
    node, where = _walk(data, path[:-1], source)
    last = path[-1]
    if isinstance(node, list):
        index = _list_index(node, last, path, source)
        node[index] = value
        return [*where, index]
    if isinstance(node, dict):
        if isinstance(value, dict) and isinstance(node.get(last), dict):
            node[last] = deep_merge(node[last], value)
        else:
            node[last] = value
        return [*where, last]
    raise ConfigError(f"{source}: '{'.'.join(path[:-1])}' is a value, not a group of settings")


def _change_list(data: dict[str, Any], path: list[str], value: Any, source: str, component_lists: Collection[str]) -> Where:
    keys, op = path[:-1], path[-1]
    parent, where = _walk(data, keys[:-1], source)
    last = keys[-1]
    if isinstance(parent, dict) and parent.get(last) is None and op == APPEND:
        parent[last] = []
    if isinstance(parent, list):
        step: str | int = _list_index(parent, last, keys, source)
        items = parent[step]
    else:
        step, items = last, parent.get(last) if isinstance(parent, dict) else None
    if not isinstance(items, list):
        raise ConfigError(f"{source}: '{'.'.join(keys)}' is not a list; += and -= change lists such as losses")
    if op == REMOVE:
        index = _list_index(items, str(value), [*keys, str(value)], source)
        del items[index]
        return [*where, step, index]
    components = len(keys) == 1 and last in component_lists
    added = value if isinstance(value, list) else [value]
    items.extend({"name": item} if components and isinstance(item, str) else item for item in added)
    return [*where, step, len(items) - 1]


def _walk(data: dict[str, Any], parts: list[str], source: str) -> tuple[Any, Where]:
    """The node at ``parts`` (missing groups made on the way) and the path to it, list positions as numbers."""
    node: Any = data
    where: Where = []
    for depth, part in enumerate(parts):
        if isinstance(node, list):
            index = _list_index(node, part, parts[: depth + 1], source)
            node, step = node[index], index
        elif isinstance(node, dict):
            if node.get(part) is None:
                node[part] = {}
            node, step = node[part], part
        else:
            raise ConfigError(f"{source}: '{'.'.join(parts[:depth])}' is a value, not a group of settings")
        where.append(step)
    return node, where


def _list_index(items: list[Any], part: str, so_far: list[str], source: str) -> int:
    if part.lstrip("-").isdigit():
        index = int(part)
        if not -len(items) <= index < len(items):
            raise ConfigError(f"{source}: index {index} is out of range ({len(items)} items)")
        return index % len(items)
    names = [item.get("name") for item in items if isinstance(item, dict)]
    if part in names:
        return names.index(part)
    raise ConfigError(f"{source}: no component '{part}' in '{'.'.join(so_far[:-1])}'; {suggest(part, [n for n in names if n])}")


def blame(changes: list[tuple[Where, str]], loc: tuple[Any, ...]) -> str | None:
    """The last override (its source, ``--set 'x=1'``) whose changed path and ``loc`` (a validation error's
    location) lie on one branch: the setting it wrote, or a group it replaced."""
    for where, source in reversed(changes):
        depth = min(len(where), len(loc))
        if depth and list(where[:depth]) == list(loc[:depth]):
            return source
    return None
