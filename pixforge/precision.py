"""The precision settings components share, as the one table of dtypes: ``fp32``/``fp16``/``bf16`` load the
weights in that dtype; ``amp_bf16``/``amp_fp16`` keep float32 weights and run under ``torch.autocast``, so only
the arithmetic inside the context is lower precision."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

#: each plain precision's weight dtype
WEIGHT_DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
#: each mixed precision's autocast dtype
AUTOCAST_DTYPES: dict[str, torch.dtype] = {"amp_bf16": torch.bfloat16, "amp_fp16": torch.float16}


def weights_precision(precision: str) -> str:
    """The plain precision the weights are loaded in: ``fp32`` for the autocast precisions."""
    return "fp32" if precision in AUTOCAST_DTYPES else precision


def weight_dtype(precision: str) -> torch.dtype:
    """The dtype of the weights (and of a model's input) at ``precision``."""
    return WEIGHT_DTYPES[weights_precision(precision)]


def autocast_for(precision: str, device: torch.device) -> AbstractContextManager[object]:
    """``torch.autocast`` on ``device`` for an ``amp_*`` precision; a context that does nothing for any other."""
    dtype = AUTOCAST_DTYPES.get(precision)
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()
