"""Choosing the torch device a render runs on."""

from __future__ import annotations

import torch

from .errors import ConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def pick_device(name: str) -> torch.device:
    """``auto`` takes a GPU when there is one; asking for an absent one is a clear error."""
    name = (name or "auto").strip().lower()
    kind = name.split(":", 1)[0]
    if kind not in DEVICE_CHOICES:
        raise ConfigError(f"device '{name}' is not one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device '{name}' is not available here (no CUDA GPU found); use --device cpu")
        index = int(name.split(":", 1)[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"device '{name}' does not exist: {torch.cuda.device_count()} CUDA device(s) found")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device '{name}' is not available here (no Apple GPU found); use --device cpu")
    return torch.device(name)
