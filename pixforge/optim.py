"""Optimisers by name, with learning-rate drops at given fractions of the run, over named parameter groups."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
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
    #: learning rate by parameter group, over the group's own (``Generator.parameter_groups``: the strokes
    #: generator's points, width and colour, say); a generator with one group calls it ``parameters``
    groups: dict[str, float] = Field(default_factory=dict)

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

    @field_validator("groups")
    @classmethod
    def _rates(cls, groups: dict[str, float]) -> dict[str, float]:
        for name, rate in groups.items():
            if not rate > 0:
                raise ValueError(f"the learning rate of group '{name}' must be above 0, got {rate}")
        return groups


@dataclass
class ParamGroup:
    """Tensors the optimiser updates with one learning rate: ``lr``, or the settings' ``lr`` when None.

    Parameters in different units want different rates (CLIPDraw: points 1.0 in pixels, widths 0.1,
    colours 0.01); ``optimizer.groups`` overrides a group's rate by name.
    """

    name: str
    params: list[torch.Tensor]
    lr: float | None = None


def drop_steps(settings: OptimizerSettings, total_steps: int) -> list[int]:
    """The steps at which the rate drops."""
    return sorted({max(1, round(fraction * total_steps)) for fraction in settings.drops})


def torch_groups(settings: OptimizerSettings, groups: list[ParamGroup]) -> list[dict[str, Any]]:
    """The groups as torch takes them, each at its rate; a rate in ``settings.groups`` for a group the generator
    does not have is a ConfigError naming the ones it has."""
    names = [group.name for group in groups]
    for name in settings.groups:
        if name not in names:
            raise ConfigError(f"optimizer.groups: the generator has no parameter group '{name}'; {suggest(name, names)}")
    return [
        {"params": group.params, "lr": settings.groups.get(group.name, group.lr if group.lr is not None else settings.lr)}
        for group in groups
        if group.params
    ]


def make_optimizer(
    settings: OptimizerSettings, params: Iterable[torch.Tensor] | Iterable[ParamGroup], total_steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """Build the optimiser and its step schedule over tensors (one group, ``parameters``) or named groups;
    bad optimiser options become a ConfigError."""
    items = list(params)
    groups = [i for i in items if isinstance(i, ParamGroup)] if items and isinstance(items[0], ParamGroup) else [
        ParamGroup("parameters", list(items))]  # type: ignore[arg-type]
    param_groups = torch_groups(settings, groups)
    if not param_groups:
        raise ConfigError("the generator has no parameters to optimise")
    try:
        optimizer = OPTIMISERS[settings.name](param_groups, lr=settings.lr, **settings.options)
    except TypeError as exc:
        raise ConfigError(f"optimizer.options for '{settings.name}': {exc}") from None
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=drop_steps(settings, total_steps), gamma=settings.drop_factor
    )
    return optimizer, scheduler
