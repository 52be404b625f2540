"""One way to take what plugins register, behind every ``register`` callable a hook is given.

Each plugin's implementation is called on its own (through pluggy, so ``PIXFORGE_TRACE_PLUGINS`` prints
it like any other hook call) with a ``register`` that knows the plugin: what it registers is type-checked,
and a name two plugins claim for different things is a PluginError naming both plugins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

from .errors import PluginError


class Claims:
    """The names one family of registrations has taken (generators, clip models, trainers…), and by whom."""

    def __init__(self, what: str) -> None:
        #: how messages name the family: "loss", "clip model", "trainer"
        self.what = what
        self._owners: dict[str, tuple[str, Any]] = {}

    def claim(self, name: str, value: Any, plugin: str) -> None:
        """Take ``name`` for ``value`` on behalf of ``plugin``; the same value again is no conflict."""
        if name in self._owners:
            owner, held = self._owners[name]
            if held is not value:
                raise PluginError(
                    f"{self.what} '{name}' is registered twice: by plugin '{owner}' and by plugin '{plugin}'; "
                    "uninstall one or restrict PIXFORGE_LOAD_PLUGINS"
                )
        self._owners[name] = (plugin, value)


def require(plugin: str, label: str, value: Any, expected: type, *, as_class: bool) -> None:
    """A PluginError unless ``value`` is ``expected`` (an instance of it, or with ``as_class`` a subclass)."""
    if as_class:
        if not (isinstance(value, type) and issubclass(value, expected)):
            raise PluginError(
                f"plugin '{plugin}' registered {label} as {value!r}, which is not a subclass of pixforge.{expected.__name__}"
            )
    elif not isinstance(value, expected):
        raise PluginError(f"plugin '{plugin}' registered {label} as {value!r}, which is not a pixforge {expected.__name__}")


def call_each_plugin(
    manager: pluggy.PluginManager, hook_name: str, make_register: Callable[[str], Callable[..., None]]
) -> None:
    """Call ``hook_name`` once per plugin that implements it, with ``register=make_register(plugin_name)``."""
    impls = getattr(manager.hook, hook_name).get_hookimpls()
    for impl in impls:
        others = [other.plugin for other in impls if other.plugin is not impl.plugin]
        manager.subset_hook_caller(hook_name, others)(register=make_register(impl.plugin_name))
