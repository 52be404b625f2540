"""pixforge: CLIP-guided generative art with plugins for every part of the loop.

The public names are imported on first use (PEP 562): ``import pixforge``, ``from pixforge import hookimpl``
and the command line's ``--help`` load neither torch nor the plugins' models.
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import TYPE_CHECKING, Any

from .version import __version__

# MKL (inside torch's CPU library) sums in an order set by the thread count unless its strict reproducible
# mode is on, and it reads this before its first call only: importing pixforge before any torch arithmetic
# makes a seed give the same bytes on any thread count (pixforge.numerics). A user's own setting is kept.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

#: public name → the module of pixforge that defines it
_EXPORTS: dict[str, str] = {
    "Augmentation": "components",
    "BuildContext": "components",
    "ConfigError": "errors",
    "Filter": "components",
    "Generator": "components",
    "Loss": "components",
    "ModelCache": "components",
    "Observer": "components",
    "ParamGroup": "optim",
    "Perceptor": "components",
    "PerceptorSlot": "components",
    "Pipeline": "pipeline",
    "PixforgeError": "errors",
    "PluginError": "errors",
    "RenderConfig": "config",
    "RenderDiverged": "results",
    "RenderInterrupted": "results",
    "RenderResult": "results",
    "RunContext": "components",
    "RunInfo": "components",
    "StepState": "components",
    "StrictModel": "settings",
    "animate": "animation.frames",
    "hookimpl": "hookspecs",
    "render": "pipeline",
    "resolve_config": "resolve",
    "stylize": "animation.stylize",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pixforge' has no attribute '{name}'")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from .animation.frames import animate
    from .animation.stylize import stylize
    from .components import (
        Augmentation,
        BuildContext,
        Filter,
        Generator,
        Loss,
        ModelCache,
        Observer,
        Perceptor,
        PerceptorSlot,
        RunContext,
        RunInfo,
        StepState,
    )
    from .animation.frames import animate
    from .animation.stylize import stylize
    from .config import RenderConfig
    from .optim import ParamGroup
    from .errors import ConfigError, PixforgeError, PluginError
    from .hookspecs import hookimpl
    from .pipeline import Pipeline, render
    from .resolve import resolve_config
    from .results import RenderDiverged, RenderInterrupted, RenderResult
    from .settings import StrictModel
