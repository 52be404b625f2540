"""First-party observers that presets can switch on under ``observers:``."""

from __future__ import annotations

from pixforge.hookspecs import hookimpl
from pixforge.lazy import lazy_exports

__getattr__ = lazy_exports(__name__, {"LossLog": ".loss_log"})


@hookimpl
def register_observers(register) -> None:
    from .loss_log import LossLog

    register("loss_log", LossLog)
