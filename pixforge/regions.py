"""Region prompts: a prompt that applies to part of the canvas, given as a named mask or a PNG.

Each step, every cutout is weighted for a region by how much of its box the mask covers (the mean of
the mask over the box, one batched ``roi_align`` for all boxes and regions), so a region's text steers
the views that lie inside it and leaves the others alone. The init image's pull is masked to what no
region covers, so with an init image the regions edit inside their masks and keep the rest.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator, model_validator

from .cutouts import CutoutSettings
from .errors import ConfigError, PixforgeWarning
from .files import printable
from .outputs import load_image
from .prompts import parse_one
from .settings import StrictModel


#: the named masks; anything else must be a .png file (white: inside the region, black: outside)
MASK_NAMES: tuple[str, ...] = ("left", "right", "top", "bottom", "centre", "border")
#: other spellings accepted for a name
MASK_ALIASES: dict[str, str] = {"center": "centre"}
#: side of the grid of samples ``roi_align`` averages per box (each sample itself averages a patch)
OVERLAP_GRID = 4
#: the smallest cutout side (a fraction of the canvas) above which regions are warned they can hardly differ
LARGEST_VIEW = 0.5


@dataclass(frozen=True)
class Region:
    """One region prompt, ready for a render: its text, weight, stop and mask ``[H, W]`` in 0..1."""

    text: str
    weight: float
    stop: float
    mask: torch.Tensor


def describe_masks() -> str:
    """The valid masks, as error messages list them."""
    return ", ".join(MASK_NAMES) + " or a .png file"


def check_mask_spec(spec: str) -> str:
    """A mask as a preset gives it → its canonical spelling (a name in lower case, or the PNG path as given);
    anything else is a ValueError naming it and what is valid."""
    text = spec.strip()
    name = MASK_ALIASES.get(text.lower(), text.lower())
    if name in MASK_NAMES:
        return name
    if text.lower().endswith(".png"):
        return text
    raise ValueError(f"mask '{spec}' is not valid; use {describe_masks()}")


def parse_region(text: str) -> dict[str, object]:
    """``MASK=TEXT[:weight[:stop]]`` (the CLI's ``--region``) → ``{mask, text, weight[, stop]}``."""
    if "=" not in text:
        raise ConfigError(
            f"region '{text}': expected MASK=TEXT[:weight] (e.g. left=a red circle:1); masks: {describe_masks()}"
        )
    mask, prompt = text.split("=", 1)
    try:
        mask = check_mask_spec(mask)
    except ValueError as exc:
        raise ConfigError(f"region '{text}': {exc}") from None
    parsed = parse_one(prompt)
    if parsed.schedule is not None:
        raise ConfigError(f"region '{text}': a region's weight is one number (TEXT:weight), not a schedule")
    region: dict[str, object] = {"mask": mask, "text": parsed.value, "weight": parsed.weight}
    if math.isfinite(parsed.stop):
        region["stop"] = parsed.stop
    return region


class RegionSpec(StrictModel):
    """A prompt for part of the canvas (``pixforge.regions``); also written ``"MASK=TEXT[:weight[:stop]]"``."""

    text: str = Field(min_length=1)
    weight: float = Field(1.0, allow_inf_nan=False)
    #: stop pulling a view once its distance is below this (as ``text:weight:stop``); None: never stop
    stop: float | None = Field(None, allow_inf_nan=False)
    #: left, right, top, bottom, centre, border, or a .png file (white: the region)
    mask: str

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        return parse_region(value) if isinstance(value, str) else value

    @field_validator("mask")
    @classmethod
    def _mask(cls, value: str) -> str:
        return check_mask_spec(value)


def named_mask(name: str, height: int, width: int) -> torch.Tensor:
    """A named mask ``[height, width]`` of 0s and 1s: a half of the canvas, its middle half in each
    direction (``centre``, a quarter of the area) or everything else (``border``)."""
    ys = (torch.arange(height, dtype=torch.float32) + 0.5).view(-1, 1) / height
    xs = (torch.arange(width, dtype=torch.float32) + 0.5).view(1, -1) / width
    ys, xs = ys.expand(height, width), xs.expand(height, width)
    middle = (xs > 0.25) & (xs < 0.75) & (ys > 0.25) & (ys < 0.75)
    masks = {
        "left": xs < 0.5, "right": xs > 0.5, "top": ys < 0.5, "bottom": ys > 0.5,
        "centre": middle, "border": ~middle,
    }
    if name not in masks:
        raise ConfigError(f"mask '{name}' is not valid; use {describe_masks()}")
    return masks[name].float()


def png_mask(path: str, height: int, width: int) -> torch.Tensor:
    """A mask picture (read safely: a regular file within the pixel limit) as its grey levels ``[height,
    width]`` in 0..1, resized to the canvas; a missing, unreadable or all-black file is a ConfigError."""
    import numpy as np

    picture = load_image(path, "region mask").convert("L")
    grey = torch.from_numpy(np.asarray(picture, dtype="float32") / 255.0)
    if grey.shape != (height, width):
        grey = F.interpolate(grey[None, None], size=(height, width), mode="bilinear", antialias=True,
                             align_corners=False)[0, 0]
    if float(grey.max()) < 0.5:
        raise ConfigError(
            f"region mask '{printable(Path(path))}' has no white pixel (white marks the region, black the rest)"
        )
    return grey.clamp(0.0, 1.0)


def load_mask(spec: str, height: int, width: int) -> torch.Tensor:
    """A mask spec (a name or a PNG path) at canvas size, ``[height, width]`` in 0..1."""
    try:
        name = check_mask_spec(spec)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if name in MASK_NAMES:
        return named_mask(name, height, width)
    return png_mask(name, height, width)


def build_regions(
    specs: Sequence[RegionSpec], height: int, width: int, device: torch.device, cutouts: CutoutSettings | None = None
) -> list[Region]:
    """The regions of a render (its validated ``prompts.regions``), masks loaded at canvas size.

    Warns when the cutouts are so large that every view covers much of every region (the regions then
    can hardly differ): measured with ``bench/regions.py``, left/right regions work with random cutouts of at
    least 0.2 of the side and fail with the default preset's pooled and 0.8-side views.
    """
    regions = [
        Region(spec.text, spec.weight, -math.inf if spec.stop is None else spec.stop,
               load_mask(spec.mask, height, width).to(device))
        for spec in specs
    ]
    if regions and cutouts is not None and (cutouts.min_size > LARGEST_VIEW or cutouts.mode != "random"):
        warnings.warn(
            f"prompts.regions: cutouts mode '{cutouts.mode}' with min_size {cutouts.min_size} gives views that cover "
            "most of the canvas (pooled ones all of it), so each region's text reaches little; use --preset regions "
            "(or --set cutouts.mode=random --set cutouts.min_size=0.2)",
            PixforgeWarning,
            stacklevel=3,
        )
    return regions


def box_overlap(masks: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """The share of each box each mask covers: masks ``[R, H, W]``, boxes ``[N, 5]`` rows of ``(image,
    x0, y0, x1, y1)`` in canvas pixels (as the cutouts give them) → ``[N, R]`` in 0..1.

    One ``roi_align`` call for every box and mask (the image index is ignored: all images share the masks).
    """
    from torchvision.ops import roi_align  # torchvision imports torch._dynamo: only when cutting

    rois = boxes.to(device=masks.device, dtype=masks.dtype).clone()
    rois[:, 0] = 0
    pooled = roi_align(masks.unsqueeze(0), rois, output_size=(OVERLAP_GRID, OVERLAP_GRID), spatial_scale=1.0,
                       sampling_ratio=-1, aligned=True)
    return pooled.mean(dim=(-2, -1)).clamp(0.0, 1.0)


def outside_regions(regions: list[Region]) -> torch.Tensor | None:
    """Where no region reaches, ``[H, W]`` in 0..1 (one minus the regions' union); None without regions."""
    if not regions:
        return None
    return 1.0 - torch.stack([r.mask for r in regions]).amax(dim=0)
