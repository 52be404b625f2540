"""Thread-stable arithmetic: the same bits on 1 and 2 torch threads, and the same numbers as the plain operators."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pixforge.numerics import (
    attention,
    bilinear_resize,
    pointwise,
    pointwise_conv,
    stable_mean,
    stable_mse,
    stable_sum,
    use_thread_stable_blas,
)


def on_one_and_two_threads(compute: Callable[[], list[torch.Tensor]]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """``compute()`` on 1 torch thread, then on 2 (the thread count restored afterwards)."""
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append([t.detach().clone() for t in compute()])
        return results[0], results[1]
    finally:
        torch.set_num_threads(before)


def output_and_input_grad(op: Callable[[torch.Tensor], torch.Tensor], x0: torch.Tensor) -> Callable[[], list[torch.Tensor]]:
    """A thunk: ``op`` on a fresh copy of ``x0`` (same memory layout) and the gradient a fixed ramp sends back."""

    def run() -> list[torch.Tensor]:
        x = x0.clone().requires_grad_(True)
        out = op(x)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        return [out, x.grad]

    return run


def bitwise_equal(first: list[torch.Tensor], second: list[torch.Tensor]) -> bool:
    return all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_stable_mean_and_sum_keep_their_bits_where_torchs_own_do_not() -> None:
    torch.manual_seed(0)
    image = torch.randn(1, 3, 127, 128)  # the default's smoothness term: torch's mean moved bits here
    one, two = on_one_and_two_threads(lambda: [image.mean(), image.sum(dim=(1, 2, 3))])
    assert not bitwise_equal(one, two), "torch's own reductions became thread-stable: this module may be unneeded"
    one, two = on_one_and_two_threads(lambda: [stable_mean(image), stable_sum(image, dim=(1, 2, 3)),
                                               stable_mean(image, dim=1, keepdim=True)])
    assert bitwise_equal(one, two)
    torch.testing.assert_close(one[0], image.mean())
    torch.testing.assert_close(one[1], image.sum(dim=(1, 2, 3)))
    assert one[2].shape == (1, 1, 127, 128) and one[0].dtype == torch.float32


def test_stable_mse_is_mse_and_its_gradient_is_exact() -> None:
    torch.manual_seed(0)
    value, target = torch.rand(2, 3, 40, 40, requires_grad=True), torch.rand(2, 3, 40, 40)
    loss = stable_mse(value, target)
    torch.testing.assert_close(loss, F.mse_loss(value, target))
    loss.backward()
    torch.testing.assert_close(value.grad, 2 * (value - target).detach() / value.numel())


@pytest.mark.parametrize("batch, channels, size", [(1, 32, 36), (1, 64, 18), (3, 16, 8)])
def test_pointwise_conv_is_the_convolution_on_any_thread_count(batch: int, channels: int, size: int) -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(channels, 2 * channels, 1)
    x0 = torch.randn(batch, channels, size, size)

    one, two = on_one_and_two_threads(output_and_input_grad(lambda x: pointwise_conv(conv, x), x0))
    assert bitwise_equal(one, two)
    torch.testing.assert_close(one[0], conv(x0), atol=1e-5, rtol=1e-5)
    wide = nn.Conv2d(channels, channels, 3, padding=1)
    torch.testing.assert_close(pointwise_conv(wide, x0), wide(x0))  # not 1x1: the convolution itself


def test_pointwise_takes_channels_last_input_without_changing_the_numbers() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(256, 128, 1)
    x0 = torch.randn(8, 256, 2, 2).contiguous(memory_format=torch.channels_last)  # a ResNet tower's late stage

    one, two = on_one_and_two_threads(output_and_input_grad(lambda x: pointwise(x, conv.weight, conv.bias), x0))
    assert bitwise_equal(one, two)
    torch.testing.assert_close(one[0], conv(x0), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("shape, size", [((1, 3, 32, 32), (128, 128)), ((2, 4, 7, 5), (20, 33)), ((1, 3, 40, 40), (16, 16))])
def test_bilinear_resize_is_torchs_bilinear_on_any_thread_count(shape: tuple[int, ...], size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    x0 = torch.rand(*shape)

    one, two = on_one_and_two_threads(output_and_input_grad(lambda x: bilinear_resize(x, size), x0))
    assert bitwise_equal(one, two)
    plain = F.interpolate(x0, size=size, mode="bilinear", align_corners=False)
    torch.testing.assert_close(one[0], plain, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("tokens", [64, 324, 1296])
def test_attention_is_softmax_attention_on_any_thread_count_even_for_strided_inputs(tokens: int) -> None:
    torch.manual_seed(0)
    # [B, C, N] transposed, as a decoder's attention block makes them: strided, not contiguous
    q0, k0, v0 = (torch.randn(1, 32, tokens).transpose(1, 2) for _ in range(3))
    grad = torch.randn(1, tokens, 32)

    def forward_and_backward() -> list[torch.Tensor]:
        q, k, v = (x.clone().requires_grad_(True) for x in (q0, k0, v0))
        out = attention(q.transpose(1, 2).transpose(1, 2), k, v)
        out.backward(grad)
        return [out, q.grad, k.grad, v.grad]

    one, two = on_one_and_two_threads(forward_and_backward)
    assert bitwise_equal(one, two)
    explicit = torch.softmax(q0 @ k0.transpose(1, 2) * 32 ** -0.5, dim=-1) @ v0
    torch.testing.assert_close(one[0], explicit, atol=1e-5, rtol=1e-5)


@pytest.mark.skipif(not torch.backends.mkl.is_available(), reason="this torch has no MKL to put in strict mode")
def test_mkl_strict_mode_is_switched_on() -> None:
    assert use_thread_stable_blas() is True


#: renders the default preset (128 px, the layout and its search, the VQGAN, the pull) shortened, on N threads
RENDER = """
import json, sys, torch
torch.set_num_threads(int(sys.argv[1]))
import pixforge
pixforge.render("a red circle on a blue background", sys.argv[3], out=sys.argv[2], seed=3, **json.loads(sys.argv[4]))
"""

#: each preset shortened; between them they run every generator and perceptor path the bench found moving
#: bits: the default (layout search, VQGAN encode/decode, attention, the pull), draft (8 cutouts through the
#: ResNet tower's 1x1 convolutions), pixels (the bilinear upsample) and dvae (dall-e's 1x1 convolutions)
SHORT = {
    "default": {"steps": 6, "layout.steps": 6, "layout.generator.settings.proposals": 16},
    "draft": {"steps": 4, "layout.steps": 4, "layout.generator.settings.proposals": 16},
    "pixels": {"steps": 10},
    "dvae": {"steps": 6},
}


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(SHORT))
def test_a_render_gives_the_same_bytes_on_one_and_two_threads(tmp_path: Path, preset: str) -> None:
    """What a sweep worker (1 thread) and a shell (every core) render from one seed are the same file."""
    runs = []
    for threads in (1, 2):
        out = tmp_path / f"threads-{threads}"
        subprocess.run([sys.executable, "-c", RENDER, str(threads), str(out), preset, json.dumps(SHORT[preset])],
                       check=True, timeout=600)
        runs.append(out)
    names = ["final.png", "losses.csv"] + (["layout/final.png"] if (runs[0] / "layout").exists() else [])
    for name in names:
        assert (runs[0] / name).read_bytes() == (runs[1] / name).read_bytes(), name
    loss = [json.loads((run / "run.json").read_text()).get("loss") for run in runs]
    assert loss[0] == loss[1]
