"""Optimisers by name, with learning-rate drops at given fractions of the run."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from pydantic import Field, field_validator

from .errors import ConfigError, suggest
from .settings import StrictModel

OPTIMISERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "radam": torch.optim.RAdam,
    "adagrad": torch.optim.Adagrad,
    "adamax": torch.optim.Adamax,
    "rmsprop": torch.optim.RMSprop,
}


class OptimizerSettings(StrictModel):
    """Which optimiser, its learning rate, and when the rate drops."""

    name: str = "adam"
    lr: float = Field(0.1, gt=0)
    #: fractions of the run (0..1) at which the learning rate is multiplied by ``drop_factor``
    drops: list[float] = Field(default_factory=lambda: [0.75])
    drop_factor: float = Field(0.1, gt=0)
    #: extra keyword arguments for the torch optimiser (e.g. betas, momentum, weight_decay)
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        if name.lower() not in OPTIMISERS:
            raise ValueError(f"unknown optimiser '{name}'; {suggest(name.lower(), OPTIMISERS)}")
        return name.lower()

    @field_validator("drops")
    @classmethod
    def _fractions(cls, drops: list[float]) -> list[float]:
        for drop in drops:
            if not 0 < drop < 1:
                raise ValueError(f"learning-rate drop {drop} must be a fraction of the run between 0 and 1")
        return sorted(drops)


def drop_steps(settings: OptimizerSettings, total_steps: int) -> list[int]:
    """The steps at which the rate drops."""
    return sorted({max(1, round(fraction * total_steps)) for fraction in settings.drops})


def make_optimizer(
    settings: OptimizerSettings, params: Iterable[torch.Tensor], total_steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """Build the optimiser and its step schedule; bad optimiser options become a ConfigError."""
    params = list(params)
    if not params:
        raise ConfigError("the generator has no parameters to optimise")
    try:
        optimizer = OPTIMISERS[settings.name](params, lr=settings.lr, **settings.options)
    except TypeError as exc:
        raise ConfigError(f"optimizer.options for '{settings.name}': {exc}") from None
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=drop_steps(settings, total_steps), gamma=settings.drop_factor
    )
    return optimizer, scheduler
