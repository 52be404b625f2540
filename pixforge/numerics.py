"""Arithmetic whose result does not depend on how many threads torch uses.

A render must give the same bytes on 1 thread and on 8 (a sweep worker runs with 1, a user's shell with all
cores). Torch splits some sums by thread count, so their rounding changes with it, and one changed bit
grows over the steps into another picture. Tracing every aten op of the shipped presets on 1 and 2 threads
(x86, MKL, torch 2.14) found these moving bits: a full ``mean`` over an image, MKL's GEMM on small batches,
oneDNN's 1x1 convolutions (forward in the VQGAN and dVAE, backward in the ResNet CLIP), the softmax
backward of a decoder's attention and the bilinear upsample. This module holds the replacements the
renderers use: means summed in float64 (a different order changes the float32 result only when the two
float64 sums straddle a float32 rounding step, about one in 10^7), 1x1 convolutions and bilinear resizes as
matrix products, fused attention, and MKL's strict reproducible mode (``bench/thread_bytes.py`` checks a
whole render)."""

from __future__ import annotations

import ctypes
import functools
import os
import sys
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from .errors import PixforgeWarning

#: MKL's ``MKL_CBWR_AUTO | MKL_CBWR_STRICT`` (mkl_service.h): the fastest code path for this CPU, with
#: results that do not depend on the number of threads
_MKL_CBWR_AUTO_STRICT = 2 | 0x10000


def stable_mean(values: torch.Tensor, dim: int | tuple[int, ...] | None = None, keepdim: bool = False) -> torch.Tensor:
    """``values.mean(dim)`` summed in float64, back in ``values``' dtype: the same bits on any thread count."""
    wide = values.double()
    mean = wide.mean() if dim is None else wide.mean(dim=dim, keepdim=keepdim)
    return mean.to(values.dtype)


def stable_sum(values: torch.Tensor, dim: int | tuple[int, ...] | None = None, keepdim: bool = False) -> torch.Tensor:
    """``values.sum(dim)`` summed in float64, back in ``values``' dtype (see ``stable_mean``)."""
    wide = values.double()
    total = wide.sum() if dim is None else wide.sum(dim=dim, keepdim=keepdim)
    return total.to(values.dtype)


def stable_mse(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``F.mse_loss(value, target)`` with its mean summed as ``stable_mean`` does."""
    return stable_mean((value - target).pow(2))


def pointwise(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """A 1x1 convolution of ``[B, C, H, W]`` by ``[O, C, 1, 1]`` weights as a matrix product (MKL's GEMM,
    thread-stable in strict mode); oneDNN's 1x1 kernels split their sums by thread count."""
    batch, channels, height, width = x.shape
    matrix = weight.reshape(weight.shape[0], channels).to(x.dtype)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        # channels-last (a ResNet tower's input): [B, H, W, C] rows times the matrix, and back, with no copy
        rows = F.linear(x.permute(0, 2, 3, 1), matrix, None if bias is None else bias.to(x.dtype))
        return rows.permute(0, 3, 1, 2)
    out = torch.matmul(matrix, x.reshape(batch, channels, -1))
    if bias is not None:
        out = out + bias.to(x.dtype).view(1, -1, 1)
    return out.view(batch, weight.shape[0], height, width)


def is_pointwise_conv(conv: object) -> bool:
    """Whether ``conv`` is a 1x1, stride-1, unpadded, ungrouped ``nn.Conv2d`` (what ``pointwise`` computes)."""
    return (
        isinstance(conv, nn.Conv2d)
        and conv.kernel_size == (1, 1)
        and conv.stride == (1, 1)
        and conv.padding in ((0, 0), "valid")
        and conv.groups == 1
        and conv.dilation == (1, 1)
    )


def pointwise_conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` through ``pointwise`` when ``is_pointwise_conv(conv)``; any other convolution as it is."""
    return pointwise(x, conv.weight, conv.bias) if is_pointwise_conv(conv) else conv(x)


def bilinear_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``F.interpolate(x, size, mode="bilinear", align_corners=False)`` (no antialias) as two matrix products
    with the same interpolation weights: torch's own kernel moves bits with the thread count."""
    rows = _linear_weights(x.shape[-2], size[0], x.dtype, x.device)
    columns = _linear_weights(x.shape[-1], size[1], x.dtype, x.device)
    return torch.matmul(torch.matmul(rows, x), columns.T)


def _linear_weights(cells: int, out: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``[out, cells]``: each output sample's two neighbours and weights, as torch's ``align_corners=False``
    linear resize places them (source = (i + 0.5) * cells / out - 0.5, clamped at 0 and at the last cell)."""
    source = ((torch.arange(out, dtype=torch.float64) + 0.5) * (cells / out) - 0.5).clamp(min=0.0)
    low = source.floor().long().clamp(max=cells - 1)
    high = (low + 1).clamp(max=cells - 1)
    lean = source - low
    weights = torch.zeros(out, cells, dtype=torch.float64)
    weights[torch.arange(out), low] += 1.0 - lean
    weights[torch.arange(out), high] += lean
    return weights.to(dtype=dtype, device=device)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Single-head softmax attention of ``[B, N, C]`` queries, keys and values, scaled by ``C ** -0.5``.

    Through ``F.scaled_dot_product_attention``, whose CPU kernel (forward and backward) gives the same bits on
    any thread count (its fused kernel); ``softmax`` of an explicit score matrix does not in its backward.
    """
    # contiguous: with strided inputs torch takes its composite path, a softmax whose backward is not stable
    q, k, v = (x.contiguous().unsqueeze(1) for x in (q, k, v))
    return fused_attention(q, k, v).squeeze(1)


def fused_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``F.scaled_dot_product_attention`` of ``[..., L, C]`` tensors; on the CPU the inputs are made contiguous
    first, and bfloat16 and float16 ones are attended in float32 with the result cast back.

    Both are speed, measured at ViT-B/32's size (16 views × 12 heads × 50 tokens × 64, forward and backward,
    2 threads, Intel Xeon with AMX): torch's fused CPU kernel takes 13.8 ms on the strided q/k/v views of one
    packed projection and 7.8 ms on contiguous copies (the same bits), and 22.6 ms in bfloat16 (what autocast
    gives it) against 8.9 ms through float32 (autocast is off inside).
    """
    if q.device.type != "cpu":
        return F.scaled_dot_product_attention(q, k, v)
    given = q.dtype
    dtype = torch.float32 if given in (torch.bfloat16, torch.float16) else given
    q, k, v = (x.to(dtype, memory_format=torch.contiguous_format) for x in (q, k, v))
    with torch.autocast("cpu", enabled=False):  # autocast would cast them back to bfloat16
        return F.scaled_dot_product_attention(q, k, v).to(given)


@functools.cache
def use_thread_stable_blas() -> bool:
    """MKL (inside torch's CPU library) in its strict reproducible mode: True where it is on.

    ``import pixforge`` asks for it through ``MKL_CBWR`` (MKL reads that before its first call); this sets it
    too, for a process that imported ``pixforge.numerics`` directly. Once MKL has run in another mode it
    cannot change: then one warning says the bytes hold on the same thread count only. False without a
    warning where torch has no MKL (ARM, most macOS builds). Measured cost on the default render: none.
    """
    for library in _torch_cpu_libraries():
        try:
            handle = ctypes.CDLL(library)
        except OSError:
            continue
        setter = getattr(handle, "mkl_serv_cbwr_set", None)
        if setter is None:
            return False
        setter.argtypes = [ctypes.c_int]
        setter.restype = ctypes.c_int
        if int(setter(_MKL_CBWR_AUTO_STRICT)) == 0:
            return True
        warnings.warn(
            "torch's MKL ran before pixforge was imported, outside its strict mode: a seed now gives the same "
            "bytes on the same thread count only; import pixforge first or set MKL_CBWR=AUTO,STRICT",
            PixforgeWarning,
            stacklevel=3,
        )
        return False
    return False


def _torch_cpu_libraries() -> list[str]:
    """Where torch's CPU library (which carries MKL, statically linked) may be, on this platform."""
    folder = os.path.join(os.path.dirname(torch.__file__), "lib")
    names = {"win32": ["torch_cpu.dll"], "darwin": ["libtorch_cpu.dylib"]}.get(sys.platform, ["libtorch_cpu.so"])
    return [os.path.join(folder, name) for name in names]
