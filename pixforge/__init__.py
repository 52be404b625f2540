"""pixforge: CLIP-guided generative art with plugins for every part of the loop."""

from __future__ import annotations

__version__ = "0.1.0"

from .components import (  # noqa: E402
    Augmentation,
    BuildContext,
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
from .config import RenderConfig, resolve_config  # noqa: E402
from .engine import RenderDiverged, RenderInterrupted, RenderResult  # noqa: E402
from .errors import ConfigError, PixforgeError, PluginError  # noqa: E402
from .hookspecs import hookimpl  # noqa: E402
from .pipeline import Pipeline, render  # noqa: E402
from .settings import StrictModel  # noqa: E402

__all__ = [
    "Augmentation",
    "BuildContext",
    "ConfigError",
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
    "__version__",
    "hookimpl",
    "render",
    "resolve_config",
]
