"""A dVAE whose convolutions pad circularly, for seamless tiles (``--tile``).

dall-e's ``Conv2d`` is its own module, not ``torch.nn.Conv2d``, and pads with zeros inside ``forward``;
``CircularConv2d`` is the same convolution after a circular pad, and ``circular_dvae`` a copy of a model
whose convolutions are those (``pixforge.seamless``); the cached original is left as it was.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from dall_e.utils import Conv2d
from torch import nn

from pixforge.seamless import circular_copy


class CircularConv2d(Conv2d):
    """dall-e's convolution with circular instead of zero padding (and its fp16 rule on CUDA kept)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_float16 and "cuda" in self.w.device.type:
            x, w, b = x.half(), self.w.half(), self.b.half()
        else:
            x, w, b = x.float(), self.w, self.b
        pad = (self.kw - 1) // 2
        if pad:
            x = F.pad(x, (pad, pad, pad, pad), mode="circular")
        return F.conv2d(x, w, b)


def circular_dvae(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose dall-e convolutions pad circularly."""
    return circular_copy(model, {Conv2d: CircularConv2d})
