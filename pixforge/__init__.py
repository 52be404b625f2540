"""pixforge: CLIP-guided generative art with plugins for every part of the loop."""

from __future__ import annotations

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
from .config import RenderConfig
from .errors import ConfigError, PixforgeError, PluginError
from .hookspecs import hookimpl
from .pipeline import Pipeline, render
from .resolve import resolve_config
from .results import RenderDiverged, RenderInterrupted, RenderResult
from .settings import StrictModel
from .version import __version__

__all__ = [
    "Augmentation",
    "BuildContext",
    "ConfigError",
    "Filter",
    "Generator",
    "Loss",
    "ModelCache",
    "Observer",
    "Perceptor",
    "PerceptorSlot",
    "Pipeline",
    "PixforgeError",
    "PluginError",
    "RenderConfig",
    "RenderDiverged",
    "RenderInterrupted",
    "RenderResult",
    "RunContext",
    "RunInfo",
    "StepState",
    "StrictModel",
    "animate",
    "__version__",
    "hookimpl",
    "render",
    "resolve_config",
    "stylize",
]
