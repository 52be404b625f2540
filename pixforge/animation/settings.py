"""The ``animation:`` section of a preset: frames, motion (numbers or schedules over the frames), infill,
video, and what ``stylize`` adds (blend, temporal loss, moving average)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from ..settings import StrictModel
from .schedules import Schedule, parse_schedule

#: the motion settings, each a number or a schedule of the frame index ``t``
MOTION = ("zoom", "rotate", "translate_x", "translate_y")


class AnimationSettings(StrictModel):
    """How ``pixforge animate`` and ``pixforge stylize`` move through frames."""

    #: frames to make (``stylize`` makes as many as its input has, whatever this says)
    frames: int = Field(default=10, ge=1, le=100_000)
    #: optimisation steps of each frame after the first (the first takes the render's ``steps``)
    steps_per_frame: int = Field(default=10, ge=1)
    #: scale per frame about the centre (above 1 zooms in)
    zoom: float | str = 1.0
    #: degrees per frame, counter-clockwise
    rotate: float | str = 0.0
    #: pixels per frame, rightwards
    translate_x: float | str = 0.0
    #: pixels per frame, downwards
    translate_y: float | str = 0.0
    #: what fills the canvas where the warp uncovers it: wrap around, mirror, smear the edge, or black
    infill: Literal["wrap", "mirror", "smear", "black"] = "mirror"
    fps: int = Field(default=12, ge=1, le=120)
    #: write video.mp4 from the frames
    video: bool = True
    #: write video.gif from the frames
    gif: bool = False
    #: stylize: how much of the previous output is blended into each input frame to start from (0: none)
    blend: float = Field(default=0.5, ge=0.0, le=1.0)
    #: stylize: weight of the temporal loss (MSE to the previous output frame; 0: off); 10 with ``ema`` 0.7
    #: brought the flicker of bench/flicker.py from 4.6x the input's (neither) to about 1.1x
    temporal: float = Field(default=10.0, ge=0.0)
    #: stylize: moving-average decay of the generator's parameters from frame to frame (0: off)
    ema: float = Field(default=0.7, ge=0.0, lt=1.0)

    @field_validator(*MOTION, mode="before")
    @classmethod
    def _schedule(cls, value: Any, info: Any) -> Any:
        parse_schedule(value, f"animation.{info.field_name}")  # raises a one-line ConfigError naming the key
        return value

    def schedule(self, name: str) -> Schedule:
        """One motion setting as a Schedule of the frame index."""
        return parse_schedule(getattr(self, name), f"animation.{name}")
