"""Running an open_clip image tower faster when gradients flow back to its input.

open_clip keeps its transformer batch-first, so ``nn.MultiheadAttention`` transposes its input to
sequence-first views and projects them with ``linear`` on non-contiguous tensors. With autograd on,
torch then computes that projection as a batched matmul against a broadcast weight, about twice as slow
as one matrix product. Run sequence-first (what open_clip's ``batch_first=False`` does: one contiguous
transpose at the start) and it is one product again: ViT-B-32's forward + backward for 16 cutouts is
about 10 % faster on a CPU, with the same numbers. Without autograd (searching, classifying) the
batch-first layout keeps torch's fused inference path, so the switch applies only while gradients flow.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


def _attention_stacks(model: nn.Module) -> list[nn.Module]:
    """The image tower's batch-first transformer, if it is open_clip's plain one (MultiheadAttention blocks)."""
    transformer = getattr(getattr(model, "visual", None), "transformer", None)
    blocks = getattr(transformer, "resblocks", None)
    if transformer is None or blocks is None or getattr(transformer, "batch_first", False) is not True:
        return []
    if not all(isinstance(getattr(block, "attn", None), nn.MultiheadAttention) for block in blocks):
        return []
    return [transformer, *(block.attn for block in blocks)]


@contextmanager
def sequence_first_attention(model: nn.Module, enabled: bool = True) -> Iterator[None]:
    """Within the block, the image tower runs sequence-first; its layout is restored afterwards."""
    modules = _attention_stacks(model) if enabled else []
    for module in modules:
        module.batch_first = False
    try:
        yield
    finally:
        for module in modules:
            module.batch_first = True
