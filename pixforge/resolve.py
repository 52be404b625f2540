"""Presets found through the plugins, and resolved against their components into one validated RenderConfig.

A preset is a name (shipped, or from a plugin's folder) or a YAML file; ``extends:`` chains are merged,
then Python values and ``--set`` overrides apply, and every component's settings are validated by its own
``Settings`` model (``pixforge.config`` holds the plain schema, YAML and override parts).
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from typing import Any

from .config import PRESET_SUFFIXES, ComponentSpec, RenderConfig, read_yaml
from .errors import ConfigError, PixforgeError, suggest
from .filter_values import expand_filter_values
from .kinds import KINDS
from .overrides import Where, apply_override, blame, deep_merge, parse_override
from .plugins import Registry
from .settings import StrictModel, validate
from .trust import grant_trust

# --- finding presets ------------------------------------------------------------------------------


def builtin_preset_dirs() -> list[Path]:
    """The folders of the presets shipped with pixforge (the top-level ``presets/`` of the repo)."""
    spec = importlib.util.find_spec("pixforge_presets")
    if spec is None or spec.submodule_search_locations is None:
        return []
    return [Path(p) for p in spec.submodule_search_locations if Path(p).is_dir()]


def preset_dirs(registry: Registry) -> list[Path]:
    return builtin_preset_dirs() + list(registry.preset_dirs)


def available_presets(registry: Registry) -> dict[str, Path]:
    """Preset name → file; a plugin's folder may add presets but not replace a shipped one."""
    found: dict[str, Path] = {}
    for folder in preset_dirs(registry):
        for path in sorted(folder.iterdir()):
            if path.suffix in PRESET_SUFFIXES and path.stem not in found:
                found[path.stem] = path
    return found


def find_preset(name_or_path: str | Path, registry: Registry) -> Path:
    """A preset name or a path to a YAML file → the file; unknown names get a suggestion."""
    candidate = Path(name_or_path).expanduser()
    if candidate.suffix in PRESET_SUFFIXES or candidate.parent != Path("."):
        if not candidate.is_file():
            raise ConfigError(f"preset file '{name_or_path}' does not exist")
        return candidate
    presets = available_presets(registry)
    if str(name_or_path) not in presets:
        raise ConfigError(f"unknown preset '{name_or_path}'; {suggest(str(name_or_path), presets)}")
    return presets[str(name_or_path)]


def load_preset_data(name_or_path: str | Path, registry: Registry, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A preset's settings with its ``extends:`` chain merged in (the preset itself wins)."""
    path = find_preset(name_or_path, registry).resolve()
    if path in _chain:
        cycle = " → ".join(p.stem for p in (*_chain, path))
        raise ConfigError(f"{path}: 'extends' makes a cycle ({cycle})")
    data = read_yaml(path)
    data.pop("description", None)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: 'extends' must name one preset, got {parent!r}")
    base = load_preset_data(_relative(parent, path), registry, (*_chain, path))
    return deep_merge(base, data)


def _relative(parent: str, child: Path) -> str | Path:
    """``extends: other.yaml`` is read relative to the preset that says it."""
    if parent.endswith(PRESET_SUFFIXES) and not Path(parent).is_absolute():
        return child.parent / parent
    return parent


def preset_description(path: Path) -> str:
    try:
        return str(read_yaml(path).get("description", "")).strip()
    except ConfigError as exc:
        return f"(broken: {exc})"


# --- resolving ------------------------------------------------------------------------------------


def resolve_config(
    registry: Registry,
    preset: str | Path | dict[str, Any] = "default",
    overrides: list[str] | None = None,
    values: dict[str, Any] | None = None,
    trust_checkpoint: bool = False,
) -> RenderConfig:
    """Preset + ``values`` (Python keyword overrides, dotted keys allowed) + ``--set`` overrides → a
    RenderConfig whose component settings are validated and filled with their defaults.

    ``trust_checkpoint`` (the user's ``--trust-checkpoint``) sets it on every component that has it.
    """
    if isinstance(preset, dict):
        data, where = copy.deepcopy(preset), "settings"
        data.pop("description", None)
        if "extends" in data:
            data = deep_merge(load_preset_data(data.pop("extends"), registry), data)
    else:
        where = f"preset '{preset}'"
        data = load_preset_data(preset, registry)
    lists = [kind.field for kind in KINDS if kind.many]
    changes: list[tuple[Where, str]] = []  # what each override changed, so an error names the override
    filters = {name: entry.cls for name, entry in registry.components.get("filter", {}).items()}
    values = expand_filter_values(data, values or {}, filters, RenderConfig.model_fields)
    for key, value in values.items():
        source = f"setting '{key}'"
        changes.append((apply_override(data, key.split("."), value, source, lists), source))
    for text in overrides or []:
        path, value = parse_override(text)
        source = f"--set '{text}'"
        if len(path) == 1 and path[0] in filters and path[0] not in RenderConfig.model_fields:
            # a filter named as a key, as the keywords and flags do: --set palette=red,blue, --set tile=true
            expand_filter_values(data, {path[0]: value}, filters, RenderConfig.model_fields)
            continue
        changes.append((apply_override(data, path, value, source, lists), source))
    if "generator" not in data:
        raise ConfigError(f"{where}: no generator chosen (add generator: {{name: pixel}})")
    if trust_checkpoint:
        groups = [(kind.name, kind.field) for kind in KINDS]
        grant_trust(data, groups, lambda kind, name: _setting_names(registry, kind, name))
    config = validate(RenderConfig, data, lambda loc: blame(changes, loc) or where)
    if config.precision is not None:
        spread_precision(config, registry)
    return fill_component_settings(config, registry, changes)


def spread_precision(config: RenderConfig, registry: Registry) -> None:
    """The render's ``precision`` set on every component (and the layout's generator) that has the setting:
    one switch instead of one ``--set`` per component, over whatever each spec said."""
    specs = [(kind.name, spec) for kind in KINDS for spec in kind.specs(config)]
    if config.layout is not None:
        specs.append(("generator", config.layout.generator))
    for kind, spec in specs:
        if "precision" in _setting_names(registry, kind, spec.name):
            spec.settings = {**spec.settings, "precision": config.precision}


def _setting_names(registry: Registry, kind: str, name: str) -> list[str]:
    try:
        return list(registry.get(kind, name).Settings.model_fields)
    except PixforgeError:
        return []  # an unknown name is reported with its suggestion by the validation below


def fill_component_settings(
    config: RenderConfig, registry: Registry, changes: list[tuple[Where, str]] = ()
) -> RenderConfig:
    """Validate every component's settings against its own model, once: each spec carries the typed
    Settings to ``Pipeline.build`` and stores their plain form, defaults filled in."""
    for kind in KINDS:
        for index, spec in enumerate(kind.specs(config)):
            _fill(registry, kind.name, spec, [kind.field, index] if kind.many else [kind.field], kind.field, changes)
    if config.layout is not None:  # the layout's generator, checked as the render's own is
        _fill(registry, "generator", config.layout.generator, ["layout", "generator"], "layout generator", changes)
    return config


def _fill(
    registry: Registry, kind: str, spec: ComponentSpec, inside: list[str | int], what: str,
    changes: list[tuple[Where, str]],
) -> None:
    """Validate one spec's settings (its name first), blaming the override that set them when one did."""
    try:
        cls = registry.get(kind, spec.name)
    except PixforgeError as exc:
        source = blame(changes, (*inside, "name"))
        raise type(exc)(f"{source}: {exc}" if source else str(exc)) from None
    label = f"{what} '{spec.name}' settings"
    inside = [*inside, "settings"]
    named = lambda loc: _blamed(blame(changes, (*inside, *loc)), label)  # noqa: E731
    spec.carry(validate(cls.Settings, spec.settings, named))


def _blamed(source: str | None, label: str) -> str:
    return f"{source}: {label}" if source else label


def component_settings(registry: Registry, kind: str, spec: ComponentSpec) -> StrictModel:
    """The typed Settings of one component spec: those resolution carried, else validated now."""
    cls = registry.get(kind, spec.name)
    typed = spec.typed()
    if isinstance(typed, cls.Settings):
        return typed
    return validate(cls.Settings, spec.settings, f"{kind} '{spec.name}' settings")
