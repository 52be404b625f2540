"""The analytic shape-and-colour judge and the fixed prompt sets it is applied to."""

from __future__ import annotations

import collections

import pytest
import torch

from pixforge_zoo import world
from pixforge_zoo.prompt_sets import held_out_prompts, tuning_prompts
from pixforge_zoo.shape_judge import largest_region, shape_check


@pytest.fixture(scope="module")
def scenes_and_images():
    gen = torch.Generator().manual_seed(11)
    scenes = world.sample_scenes(48, gen)
    return scenes, world.render_batch(scenes, 128, gen)


def test_world_images_pass_with_their_own_caption(scenes_and_images):
    scenes, images = scenes_and_images
    verdicts = [shape_check(image, s.shape, s.color, s.background) for image, s in zip(images, scenes)]
    assert all(v.passed for v in verdicts), [v.reason for v in verdicts if not v.passed]


def test_any_other_shape_or_colour_fails(scenes_and_images):
    scenes, images = scenes_and_images
    for image, s in list(zip(images, scenes))[:12]:
        for shape in world.SHAPES:
            if shape != s.shape:
                assert not shape_check(image, shape, s.color, s.background).passed, (s, shape)
        other = next(c for c in world.COLORS if c not in (s.color, s.background))
        assert not shape_check(image, s.shape, other, s.background).passed
        assert not shape_check(image, s.shape, s.color, other).passed


def test_blobs_scatter_and_flat_images_fail():
    flat = world.color_tensor("blue")[:, None, None].expand(3, 64, 64)
    assert shape_check(flat, "circle", "red", "blue").reason.startswith("only")
    spots = flat.clone()
    red = world.color_tensor("red")[:, None]
    for y, x in ((8, 8), (8, 48), (48, 8), (48, 48), (28, 28)):
        spots[:, y : y + 6, x : x + 6] = red[:, :, None]
    assert "scattered" in shape_check(spots, "circle", "red", "blue").reason


def test_largest_region_uses_eight_connectivity():
    mask = torch.zeros(6, 6, dtype=torch.bool)
    mask[0, 0] = mask[1, 1] = mask[2, 2] = True  # a diagonal: one region
    mask[5, 0] = True
    assert int(largest_region(mask).sum()) == 3


def test_prompt_sets_cover_every_shape_and_do_not_overlap():
    held, tune = held_out_prompts(), tuning_prompts()
    assert len(held) == 60 and len(set(held)) == 60
    assert collections.Counter(p.shape for p in held) == {s: 10 for s in world.SHAPES}
    assert not set(held) & set(tune)
    assert len({(p.colour, p.background) for p in held}) >= 40
    assert held == held_out_prompts()  # fixed
    assert all(p.colour != p.background for p in held)
