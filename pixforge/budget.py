"""A rough memory estimate of a render, checked before the first step so a hopeless one is refused in a line.

Allowed settings can still ask for far more memory than the machine has (``--size 8192x8192``,
``cutouts.count=100000``); the operating system would then kill the process without a word, or torch
would fail deep in a step. The estimate is deliberately generous (it errs towards letting a render run):
it only has to tell "fits" from "cannot possibly fit", and name the setting to lower.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from .errors import ConfigError

#: bytes a step keeps per cutout pixel (augmentations and the perceptor's activations); the canvas's share
#: is the generator's own ``bytes_per_pixel``
CUTOUT_BYTES_PER_PIXEL = 128
GIB = 1024**3


def available_bytes(device: torch.device) -> int | None:
    """Free memory on ``device`` (CPU: MemAvailable of /proc/meminfo), or None where it cannot be told."""
    if device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except Exception:  # noqa: BLE001 - no estimate is better than a crash here
            return None
    if device.type != "cpu":
        return None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def estimate_bytes(
    width: int, height: int, cutouts: int, input_sizes: Sequence[int], bytes_per_pixel: int, samples: int = 1
) -> dict[str, int]:
    """Bytes a step of this render needs, by the setting that drives them (``size``, ``cutouts.count``)."""
    canvas = width * height * bytes_per_pixel * samples
    views = sum(cutouts * side * side * CUTOUT_BYTES_PER_PIXEL for side in set(input_sizes)) * samples
    return {"size": canvas, "cutouts.count": views}


def check_fits(
    width: int, height: int, cutouts: int, input_sizes: Sequence[int], device: torch.device,
    bytes_per_pixel: int = 1024, samples: int = 1,
) -> None:
    """Refuse a render whose estimate is over the memory free on its device, naming the setting to lower."""
    free = available_bytes(device)
    if free is None:
        return
    parts = estimate_bytes(width, height, cutouts, input_sizes, bytes_per_pixel, samples)
    need = sum(parts.values())
    if need <= free:
        return
    biggest = max(parts, key=lambda key: parts[key])
    what = f"a {width}x{height} canvas" if biggest == "size" else f"{cutouts} cutouts a step"
    flag = "--size" if biggest == "size" else "--set cutouts.count=N"
    raise ConfigError(
        f"this render needs about {need / GIB:.1f} GiB for {what}, but {device.type} has {free / GIB:.1f} GiB "
        f"free; lower {biggest} ({flag})"
    )
