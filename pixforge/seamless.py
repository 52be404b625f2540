"""Seamless decoding: a copy of a model whose convolutions pad circularly, so its picture wraps around.

A tile (``--tile``) is judged across its wrap edges; a decoder that pads with zeros draws a border there
that no optimisation removes. Generators call ``circular_copy`` when ``BuildContext.seamless`` is set and
keep the copy in the model cache beside the original, which stays as it was for other renders.
"""

from __future__ import annotations

import copy

from torch import nn


def circular_copy(model: nn.Module, classes: dict[type, type] | None = None) -> nn.Module:
    """A deep copy of ``model`` in which every zero-padded ``nn.Conv2d`` pads circularly instead.

    ``classes`` maps other convolution classes (a package's own ``Conv2d``) to circular subclasses of
    them, which the copy's modules of that class become.
    """
    twin = copy.deepcopy(model)
    swaps = classes or {}
    for module in twin.modules():
        if isinstance(module, nn.Conv2d) and module.padding_mode == "zeros" and _pads(module.padding):
            module.padding_mode = "circular"
        elif type(module) in swaps:
            module.__class__ = swaps[type(module)]
    return twin


def _pads(padding: object) -> bool:
    if isinstance(padding, str):
        return padding == "same"
    return any(int(side) > 0 for side in padding)  # type: ignore[union-attr]
