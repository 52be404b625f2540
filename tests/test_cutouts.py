"""Cutouts: shapes, the cut_pow distribution, pooled mode, gradients and seeding."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pixforge.cutouts import (
    CutoutMode,
    CutoutSettings,
    crop_boxes,
    make_cutouts,
    sample_boxes,
    sample_crop_sides,
    split_count,
)
from pixforge.errors import ConfigError
from pixforge.settings import validate

MODES: list[CutoutMode] = ["random", "pooled", "mixed"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("height,width", [(32, 32), (24, 56), (64, 40)])
def test_shape_for_square_and_non_square_canvases(mode: CutoutMode, height: int, width: int) -> None:
    image = torch.rand(2, 3, height, width)
    out = make_cutouts(image, 16, CutoutSettings(count=5, mode=mode))
    assert out.shape == (10, 3, 16, 16)
    assert out.dtype == image.dtype


def test_cutouts_are_image_major() -> None:
    image = torch.stack([torch.zeros(3, 20, 30), torch.ones(3, 20, 30)])
    out = make_cutouts(image, 8, CutoutSettings(count=4, mode="mixed"))
    per_image = out.view(2, 4, 3, 8, 8)
    assert torch.allclose(per_image[0], torch.zeros(()))
    assert torch.allclose(per_image[1], torch.ones(()))


def test_split_count() -> None:
    assert split_count(CutoutSettings(count=7, mode="random")) == (0, 7)
    assert split_count(CutoutSettings(count=7, mode="pooled")) == (7, 0)
    assert split_count(CutoutSettings(count=7, mode="mixed")) == (3, 4)
    assert split_count(CutoutSettings(count=1, mode="mixed")) == (0, 1)


def test_cut_pow_moves_the_crop_size_distribution() -> None:
    torch.manual_seed(0)
    means = []
    for cut_pow in (0.5, 1.0, 2.0, 4.0):
        sides = sample_crop_sides(20000, CutoutSettings(cut_pow=cut_pow, min_size=0.2))
        # E[u**k] = 1 / (k + 1) for u ~ U[0, 1)
        expected = 0.2 + 0.8 / (cut_pow + 1)
        assert float(sides.mean()) == pytest.approx(expected, abs=0.01)
        means.append(float(sides.mean()))
    assert means == sorted(means, reverse=True)


def test_boxes_are_squares_inside_the_canvas_and_at_least_min_size() -> None:
    torch.manual_seed(0)
    height, width = 30, 70
    settings = CutoutSettings(min_size=0.3, cut_pow=2.0)
    boxes = sample_boxes(3, 200, height, width, settings)
    assert boxes.shape == (600, 5)
    index, x0, y0, x1, y1 = boxes.unbind(1)
    assert torch.equal(index, torch.arange(3, dtype=boxes.dtype).repeat_interleave(200))
    side = x1 - x0
    assert torch.allclose(side, y1 - y0)
    assert float(side.min()) >= 0.3 * height - 1e-9
    assert float(side.max()) <= height + 1e-9
    assert float(x0.min()) >= 0 and float(y0.min()) >= 0
    assert float(x1.max()) <= width + 1e-9 and float(y1.max()) <= height + 1e-9
    # uniform position: crops reach both ends of the long side
    assert float(x0.min()) < 5 and float(x1.max()) > width - 5


def test_mean_crop_side_through_make_cutouts_path() -> None:
    """The boxes make_cutouts uses shrink as cut_pow grows (same seed, same draws)."""
    sides = []
    for cut_pow in (0.5, 3.0):
        torch.manual_seed(1)
        boxes = sample_boxes(1, 500, 40, 40, CutoutSettings(cut_pow=cut_pow))
        sides.append(float((boxes[:, 3] - boxes[:, 1]).mean()))
    assert sides[1] < sides[0] - 5


def test_crop_boxes_resamples_the_box_exactly() -> None:
    image = torch.rand(2, 3, 40, 48)
    boxes = torch.tensor([[1, 5, 7, 21, 23], [0, 0, 0, 40, 40]], dtype=torch.float64)
    out = crop_boxes(image, boxes, 16)
    assert torch.allclose(out[0], image[1, :, 7:23, 5:21], atol=1e-6)
    half = crop_boxes(image, boxes[1:], 20)
    assert torch.allclose(half[0], F.avg_pool2d(image[:1, :, :, :40], 2)[0], atol=1e-6)


def test_pooled_mode_is_avg_plus_max_pooling_of_the_whole_canvas() -> None:
    image = torch.rand(2, 3, 36, 52)
    out = make_cutouts(image, 12, CutoutSettings(count=3, mode="pooled"))
    expected = (F.adaptive_avg_pool2d(image, 12) + F.adaptive_max_pool2d(image, 12)) / 2
    assert torch.allclose(out.view(2, 3, 3, 12, 12), expected.unsqueeze(1).expand(2, 3, 3, 12, 12))


def test_mixed_mode_puts_pooled_cutouts_first() -> None:
    image = torch.rand(1, 3, 40, 40)
    torch.manual_seed(0)
    out = make_cutouts(image, 10, CutoutSettings(count=4, mode="mixed"))
    pooled = (F.adaptive_avg_pool2d(image, 10) + F.adaptive_max_pool2d(image, 10)) / 2
    assert torch.allclose(out[0], pooled[0]) and torch.allclose(out[1], pooled[0])
    assert not torch.allclose(out[2], pooled[0])


@pytest.mark.parametrize("mode", MODES)
def test_gradient_reaches_the_image(mode: CutoutMode) -> None:
    image = torch.rand(2, 3, 32, 48, requires_grad=True)
    make_cutouts(image, 16, CutoutSettings(count=4, mode=mode)).square().sum().backward()
    assert image.grad is not None
    assert torch.isfinite(image.grad).all()
    assert float(image.grad[0].abs().sum()) > 0 and float(image.grad[1].abs().sum()) > 0


@pytest.mark.parametrize("mode", MODES)
def test_same_seed_same_cutouts(mode: CutoutMode) -> None:
    image = torch.rand(2, 3, 40, 56)
    settings = CutoutSettings(count=6, mode=mode, cut_pow=1.5)
    torch.manual_seed(123)
    first = make_cutouts(image, 16, settings)
    torch.manual_seed(123)
    second = make_cutouts(image, 16, settings)
    assert torch.equal(first, second)
    if mode != "pooled":
        torch.manual_seed(124)
        assert not torch.equal(first, make_cutouts(image, 16, settings))


def test_cutouts_larger_than_the_canvas_upsample() -> None:
    out = make_cutouts(torch.rand(1, 3, 20, 24), 32, CutoutSettings(count=3, mode="mixed"))
    assert out.shape == (3, 3, 32, 32)
    assert torch.isfinite(out).all()


def test_settings_are_strict() -> None:
    with pytest.raises(ConfigError, match="bogus"):
        validate(CutoutSettings, {"bogus": 1}, "cutouts")
    for bad in ({"count": 0}, {"cut_pow": 0}, {"min_size": 1.5}, {"mode": "grid"}):
        with pytest.raises(ConfigError):
            validate(CutoutSettings, bad, "cutouts")
    assert validate(CutoutSettings, {"count": 8, "mode": "mixed"}, "cutouts").count == 8


def test_rejects_a_single_image_without_batch_dim() -> None:
    with pytest.raises(ValueError, match="B, C, H, W"):
        make_cutouts(torch.rand(3, 32, 32), 16, CutoutSettings())
