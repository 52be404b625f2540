"""Token logits → token distributions the dVAE decoder can take, and the temperature schedule that anneals them.

Three relaxations of "pick one token per cell": ``softmax`` (a deterministic mixture), ``gumbel`` (a
Gumbel-softmax sample: a noisy, soft mixture) and ``gumbel_hard`` (a Gumbel sample snapped to one-hot,
with the soft sample's gradient: straight-through). Noise comes from torch's default generator, which
the pipeline seeds per render, so a render is reproducible.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

Relaxation = Literal["softmax", "gumbel", "gumbel_hard"]
Schedule = Literal["constant", "linear", "exponential"]
RELAXATIONS: tuple[str, ...] = ("softmax", "gumbel", "gumbel_hard")

#: keeps uniform noise away from 0 and 1, so the Gumbel sample stays finite
_EPS = 1e-10


def temperature_at(step: float, steps: float, start: float, end: float, schedule: Schedule) -> float:
    """The temperature at ``step``: ``start`` → ``end`` over ``steps`` steps, then held at ``end``.

    ``exponential`` moves by a constant factor per step (the usual Gumbel annealing); ``linear`` by a
    constant amount; ``constant`` stays at ``start``.
    """
    if start <= 0 or end <= 0:
        raise ValueError(f"temperatures must be positive, got {start} and {end}")
    if schedule == "constant" or steps <= 0:
        return start
    t = min(max(step / steps, 0.0), 1.0)
    if schedule == "linear":
        return start + (end - start) * t
    if schedule == "exponential":
        return start * math.exp(t * math.log(end / start))
    raise ValueError(f"unknown temperature schedule '{schedule}'")


def gumbel_noise(like: torch.Tensor) -> torch.Tensor:
    """Standard Gumbel noise shaped like ``like``, from torch's default generator."""
    uniform = torch.rand(like.shape, device=like.device, dtype=like.dtype)
    return -torch.log(-torch.log(uniform.clamp(_EPS, 1.0 - _EPS)))


def hard_one_hot(probs: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """The one-hot of each cell's most likely token, shaped and typed like ``probs``."""
    index = probs.argmax(dim=dim, keepdim=True)
    return torch.zeros_like(probs).scatter_(dim, index, 1.0)


def relax(
    logits: torch.Tensor, kind: Relaxation, temperature: float, noise: bool = True, dim: int = 1
) -> torch.Tensor:
    """Token distributions (summing to 1 along ``dim``) from ``logits``, with gradients to them.

    ``noise=False`` gives the noise-free view of the same relaxation: the plain softmax for ``gumbel``,
    the one-hot argmax for ``gumbel_hard`` (what a final picture shows).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if kind not in RELAXATIONS:
        raise ValueError(f"unknown relaxation '{kind}'; use one of {', '.join(RELAXATIONS)}")
    if kind != "softmax" and noise:
        logits = logits + gumbel_noise(logits)
    soft = F.softmax(logits / temperature, dim=dim)
    if kind != "gumbel_hard":
        return soft
    return soft + (hard_one_hot(soft, dim) - soft).detach()
