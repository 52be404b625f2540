"""An example pixforge plugin: a generator made of sine waves, a brightness loss and a preset folder.

The package imports only pixforge's light parts: its components (and torch) load inside the hooks, so
``pixforge --help`` stays fast with the plugin installed; ``from pixforge_example import Waves`` still works.
"""

from __future__ import annotations

from pathlib import Path

from pixforge import hookimpl
from pixforge.lazy import lazy_exports

__all__ = ["Brightness", "BrightnessSettings", "Waves", "WavesSettings"]
__getattr__ = lazy_exports(__name__, {name: ".components" for name in __all__})


@hookimpl
def register_generators(register) -> None:
    from .components import Waves

    register("waves", Waves)


@hookimpl
def register_losses(register) -> None:
    from .components import Brightness

    register("brightness", Brightness)


@hookimpl
def register_preset_dirs(register) -> None:
    register(Path(__file__).parent / "presets")
