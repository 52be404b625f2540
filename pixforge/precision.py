"""Mixed precision that components share: which ``precision`` settings run under ``torch.autocast``, in
which dtype. Their weights stay float32; only the arithmetic inside the context is lower precision."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

#: each mixed precision's autocast dtype
AUTOCAST_DTYPES: dict[str, torch.dtype] = {"amp_bf16": torch.bfloat16, "amp_fp16": torch.float16}


def autocast_for(precision: str, device: torch.device) -> AbstractContextManager[object]:
    """``torch.autocast`` on ``device`` for an ``amp_*`` precision; a context that does nothing for any other."""
    dtype = AUTOCAST_DTYPES.get(precision)
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()
