"""Filters named as keywords: ``render(..., palette="red,blue", tile=True)`` and the CLI's ``--palette``/``--tile``.

A keyword that is no RenderConfig field but names a registered filter adds that filter to ``filters`` (or
changes the one already there): True adds it with its settings as they are, False or None takes it out, a
mapping merges into its settings (its ``weight`` is the spec's loss weight, as beside a spec's name), and
any other value sets the filter's ``shorthand`` setting (the palette's ``colors``). What is written is a
plain filter spec, so settings.yaml and replays carry it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from .errors import ConfigError

#: the keys of a filter spec itself; any other key beside them is one of the filter's settings
SPEC_KEYS = ("name", "weight", "settings")


def expand_filter_values(
    data: dict[str, Any], values: dict[str, Any], filters: Mapping[str, type], fields: Collection[str]
) -> dict[str, Any]:
    """Apply the keywords of ``values`` that name one of ``filters`` (name → registered class) to
    ``data["filters"]``; the other values, returned, are left for the usual overrides."""
    rest: dict[str, Any] = {}
    for key, value in values.items():
        cls = None if key in fields else filters.get(key)
        if cls is None:
            rest[key] = value
            continue
        specs = data.get("filters") or []
        if not isinstance(specs, list):
            raise ConfigError(f"filters must be a list of filter specs, got {specs!r}")
        specs = [s for s in specs if not (isinstance(s, dict) and s.get("name") == key)] if value in (False, None) else specs
        if value not in (False, None):
            spec = next((s for s in specs if isinstance(s, dict) and s.get("name") == key), None)
            if spec is None:
                spec = {"name": key}
                specs.append(spec)
            flat = {k: spec.pop(k) for k in list(spec) if k not in SPEC_KEYS}  # {name: palette, colors: ...}
            given = _settings_of(key, cls, value)
            if "weight" in given:  # tile={scale: relative, weight: 0.1}: the spec's weight, as beside its name
                spec["weight"] = given.pop("weight")
            spec["settings"] = {**(spec.get("settings") or {}), **flat, **given}
        data["filters"] = specs
    return rest


def _settings_of(name: str, cls: type, value: Any) -> dict[str, Any]:
    if value is True:
        return {}
    if isinstance(value, dict):
        return dict(value)
    shorthand = getattr(cls, "shorthand", None)
    if shorthand is None:
        raise ConfigError(f"filter '{name}': got {value!r}; give True, False or a mapping of its settings")
    return {shorthand: value}
