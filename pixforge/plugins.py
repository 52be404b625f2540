"""The plugin manager: first-party and third-party plugins load the same way, from the ``pixforge``
entry-point group, into a Registry of components.

``PIXFORGE_LOAD_PLUGINS=a,b`` restricts which third-party packages load (set but empty: none);
``PIXFORGE_TRACE_PLUGINS=1`` prints every hook call.

Plugins load once per command: the command line makes one manager, and inside ``loaded_once(manager)``
every ``default_registry()`` (so every ``Pipeline()`` a command makes) shares it and its one registry.
Importing a plugin must stay cheap (no torch at module level): ``pixforge --help`` imports them all.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from .errors import PluginError, suggest
from .registration import Claims, call_each_plugin, require
from .weights import collect as collect_weights

if TYPE_CHECKING:
    from .kinds import ComponentKind
    from .weights import WeightEntry

ENTRY_POINT_GROUP = "pixforge"
FIRST_PARTY_DISTRIBUTION = "pixforge"

@dataclass(frozen=True)
class Entry:
    """A registered component class and the plugin that registered it."""

    name: str
    kind: str
    cls: type
    plugin: str


@dataclass
class Registry:
    """Everything the loaded plugins registered; built once per Pipeline, read-only afterwards."""

    manager: Manager
    components: dict[str, dict[str, Entry]] = field(default_factory=dict)
    preset_dirs: list[Path] = field(default_factory=list)
    #: name → trainer, from the ``register_trainers`` hook
    trainers: dict[str, Callable[..., Any]] = field(default_factory=dict)
    #: kind → name → loader, from the ``register_models`` hook
    models: dict[str, dict[str, Callable[..., Any]]] = field(default_factory=dict)
    #: name → named model weights, from the ``register_weights`` hook (see ``pixforge.weights``)
    weights: dict[str, WeightEntry] = field(default_factory=dict)

    def get(self, kind: str, name: str) -> type:
        """The component class of ``kind`` registered as ``name``, or a PluginError with a suggestion."""
        entries = self.components.get(kind, {})
        if name not in entries:
            raise PluginError(f"unknown {kind} '{name}'; {suggest(name, entries)}")
        return entries[name].cls

    def names(self, kind: str) -> list[str]:
        return sorted(self.components.get(kind, {}))

    def plugins(self) -> list[dict[str, Any]]:
        """One row per loaded plugin: its name, distribution and what it registered."""
        rows = []
        for plugin_name, module in self.manager.list_name_plugin():
            provides: dict[str, list[str]] = {}
            for kind, entries in self.components.items():
                names = sorted(e.name for e in entries.values() if e.plugin == plugin_name)
                if names:
                    provides[kind] = names
            rows.append(
                {
                    "name": plugin_name,
                    "module": getattr(module, "__name__", type(module).__name__),
                    "distribution": self.manager.distributions.get(plugin_name, ""),
                    "provides": provides,
                }
            )
        return sorted(rows, key=lambda r: r["name"])


class Manager(pluggy.PluginManager):
    """A pluggy manager that also remembers which distribution each plugin came from."""

    def __init__(self) -> None:
        super().__init__(ENTRY_POINT_GROUP)
        self.distributions: dict[str, str] = {}


def allowed_third_party(env: dict[str, str] | None = None) -> set[str] | None:
    """Names allowed by PIXFORGE_LOAD_PLUGINS, or None when the variable is unset (all load)."""
    env = os.environ if env is None else env
    raw = env.get("PIXFORGE_LOAD_PLUGINS")
    if raw is None:
        return None
    return {part.strip().lower() for part in raw.split(",") if part.strip()}


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-")


def _entry_points() -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=ENTRY_POINT_GROUP)


def load_entry_point_plugins(
    manager: Manager, allowed: set[str] | None
) -> list[tuple[str, ModuleType]]:
    """Import and register every entry point of the group; a failing import raises PluginError."""
    loaded = []
    seen: set[str] = set()
    for ep in sorted(_entry_points(), key=lambda e: e.name):
        dist_name = ep.dist.name if ep.dist is not None else ""
        first_party = _normalise(dist_name) == FIRST_PARTY_DISTRIBUTION
        if not first_party and allowed is not None:
            wanted = {_normalise(a) for a in allowed}
            if _normalise(dist_name) not in wanted and _normalise(ep.name) not in wanted:
                continue
        if ep.name in seen:
            continue
        seen.add(ep.name)
        try:
            module = ep.load()
        except Exception as exc:  # a broken plugin must be named, never dropped silently
            raise PluginError(
                f"plugin '{ep.name}' from package '{dist_name or '?'}' failed to load "
                f"({type(exc).__name__}: {exc}); fix or uninstall it, or leave it out with "
                f"PIXFORGE_LOAD_PLUGINS"
            ) from exc
        if manager.is_registered(module):
            continue
        manager.register(module, name=ep.name)
        manager.distributions[ep.name] = dist_name
        loaded.append((ep.name, module))
    return loaded


def make_manager(extra_plugins: Iterable[Any] = (), load_entry_points: bool = True) -> Manager:
    """A fresh plugin manager with the hook specs, the entry-point plugins and any ``extra_plugins``."""
    manager = Manager()
    manager.add_hookspecs(hookspecs)
    if os.environ.get("PIXFORGE_TRACE_PLUGINS"):
        manager.trace.root.setwriter(lambda message: print(message, end="", file=sys.stderr))
        manager.enable_tracing()
    if load_entry_points:
        load_entry_point_plugins(manager, allowed_third_party())
    for plugin in extra_plugins:
        manager.register(plugin)
    return manager


def build_registry(manager: Manager) -> Registry:
    """Ask every plugin to register its components, preset folders, named models, trainers and weights."""
    from .kinds import KINDS  # the component base classes import torch: only when a registry is built

    registry = Registry(manager=manager)
    for kind in KINDS:
        registry.components[kind.name] = _collect_components(manager, kind)
    call_each_plugin(manager, "register_preset_dirs", lambda plugin: lambda path: registry.preset_dirs.append(Path(path)))

    model_claims: dict[str, Claims] = {}

    def model_register(plugin: str) -> Callable[[str, str, Callable[..., Any]], None]:
        def register(kind: str, name: str, loader: Callable[..., Any]) -> None:
            model_claims.setdefault(kind, Claims(f"{kind} model")).claim(name, loader, plugin)
            registry.models.setdefault(kind, {})[name] = loader

        return register

    call_each_plugin(manager, "register_models", model_register)
    trainer_claims = Claims("trainer")

    def trainer_register(plugin: str) -> Callable[[str, Callable[..., Any]], None]:
        def register(name: str, trainer: Callable[..., Any]) -> None:
            trainer_claims.claim(name, trainer, plugin)
            registry.trainers[name] = trainer

        return register

    call_each_plugin(manager, "register_trainers", trainer_register)
    registry.weights = collect_weights(manager)
    return registry


def _collect_components(manager: Manager, kind: ComponentKind) -> dict[str, Entry]:
    """Every component of one kind the plugins register, checked against the kind's base class."""
    entries: dict[str, Entry] = {}
    claims = Claims(kind.name)

    def make_register(plugin: str) -> Callable[[str, type], None]:
        def register(name: str, cls: type) -> None:
            require(plugin, f"{kind.name} '{name}'", cls, kind.base, as_class=True)
            claims.claim(name, cls, plugin)
            entries[name] = Entry(name=name, kind=kind.name, cls=cls, plugin=plugin)

        return register

    call_each_plugin(manager, kind.hook, make_register)
    return entries


@dataclass
class _Loaded:
    """The plugins one command loaded, and the registry built from them on first use."""

    manager: Manager
    registry: Registry | None = None


_COMMAND: ContextVar[_Loaded | None] = ContextVar("pixforge_command_plugins", default=None)


@contextmanager
def loaded_once(manager: Manager) -> Iterator[Manager]:
    """Within the block, ``default_registry()`` (and so ``Pipeline()``) builds on ``manager`` and one registry.

    The command line runs each command inside it, so a command loads the plugins once however many
    pipelines it makes (``render``, ``classify`` after it, ``zoo train``'s trainer table…).
    """
    token = _COMMAND.set(_Loaded(manager))
    try:
        yield manager
    finally:
        _COMMAND.reset(token)


def default_registry(extra_plugins: Iterable[Any] = ()) -> Registry:
    """A registry of all installed plugins (filtered by PIXFORGE_LOAD_PLUGINS) plus ``extra_plugins``;
    inside ``loaded_once`` (and without extra plugins) the command's own."""
    extra = list(extra_plugins)
    loaded = _COMMAND.get()
    if loaded is None or extra:
        return build_registry(make_manager(extra))
    if loaded.registry is None:
        loaded.registry = build_registry(loaded.manager)
    return loaded.registry
