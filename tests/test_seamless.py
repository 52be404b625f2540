"""Seamless generators (``--tile``): the dvae's decoder (and the vqgan's with ``wrap: convolutions``) pads
circularly, so rolling the latent by one cell rolls the picture by one cell's pixels exactly, and the cached
original model is left as it was; the vqgan by default wraps its latent instead (margin cells copied from the
opposite edges), nearly periodic with the model as trained."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from pixforge.seamless import circular_copy, wrap_upsample
from pixforge.testing import build_component, seeded, tiny_context
from pixforge_dvae.generator import DVAEGenerator
from pixforge_dvae.seamless import CircularConv2d
from pixforge_vqgan.generator import VQGANGenerator


def test_circular_copy_switches_padded_convolutions_only() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 1), nn.Conv2d(4, 3, 3, padding="same"))
    twin = circular_copy(model)
    assert [m.padding_mode for m in twin] == ["circular", "zeros", "circular"]
    assert [m.padding_mode for m in model] == ["zeros", "zeros", "zeros"]
    x = torch.rand(1, 3, 8, 8)
    assert torch.allclose(twin(torch.roll(x, 3, dims=-1)), torch.roll(twin(x), 3, dims=-1), atol=1e-6)


@pytest.mark.parametrize(("cls", "settings"), [(VQGANGenerator, {"wrap": "convolutions"}), (DVAEGenerator, {})],
                         ids=["vqgan", "dvae"])
def test_seamless_decoder_rolls_with_its_latent(cls: type, settings: dict) -> None:
    plain_context = tiny_context(32, 32)
    context = replace(plain_context, seamless=True)
    with seeded(0):
        generator = build_component(cls, settings, context)
        plain = build_component(cls, settings, replace(plain_context, cache=context.cache))
    latent = generator.latent()
    assert tuple(latent.shape[-2:]) == (4, 4)  # no margin beyond the canvas
    with torch.no_grad():
        before = generator()
        latent.copy_(torch.roll(latent, 1, dims=-1))
        after = generator()
    assert torch.allclose(after, torch.roll(before, 8, dims=-1), atol=1e-4)
    # the shared original keeps zero padding for renders that are not tiles
    original = plain.vq if cls is VQGANGenerator else plain.dvae
    tiled = generator.vq if cls is VQGANGenerator else generator.dvae
    assert original is not tiled and len(context.cache) == 2
    assert not any(isinstance(m, CircularConv2d) or getattr(m, "padding_mode", "zeros") == "circular"
                   for m in original.modules())
    assert any(isinstance(m, CircularConv2d) or getattr(m, "padding_mode", "zeros") == "circular"
               for m in tiled.modules())


def test_vqgan_wraps_its_latent_by_default() -> None:
    """The margin cells repeat the opposite edges' cells: the latent is the canvas's own cells, the decoder is
    the shared original (no copy), rolling the latent by a cell rolls the picture nearly exactly, and the wrap
    edges meet far more closely than those of the same cells decoded without the wrap."""
    from pixforge_filters.tile import seam_difference

    plain_context = tiny_context(64, 64)
    context = replace(plain_context, seamless=True)
    with seeded(0):
        generator = build_component(VQGANGenerator, {}, context)
        unwrapped = build_component(VQGANGenerator, {"margin": 0}, replace(plain_context, cache=context.cache))
    assert generator.vq is unwrapped.vq and len(context.cache) == 1
    assert not any(getattr(m, "padding_mode", "zeros") == "circular" for m in generator.vq.modules())
    latent = generator.latent()
    assert tuple(latent.shape[-2:]) == (8, 8)
    with torch.no_grad():
        unwrapped.latent().copy_(latent)
        before, apart = generator(), unwrapped()
        latent.copy_(torch.roll(latent, 1, dims=-1))
        after = generator()
    assert (after - torch.roll(before, 8, dims=-1)).abs().mean() < 0.02
    assert seam_difference(before) < 0.5 * seam_difference(apart)


def test_vqgan_tile_starts_nearer_its_picture_than_with_circular_convolutions() -> None:
    """From an image, a tile wrapped in the latent encodes the picture repeated over the margin and keeps the
    canvas's cells. The shipped tiny decoder, trained with zero padding, draws that start far nearer the picture
    than a copy of it whose every convolution pads circularly (which turned a layout to noise)."""
    from pixforge_zoo.world import Scene, render_batch

    picture = render_batch([Scene("circle", "red", "blue", "medium", "centre")])
    context = replace(tiny_context(64, 64), seamless=True)
    errors = {}
    for wrap in ("latent", "convolutions"):
        with seeded(0):
            generator = build_component(VQGANGenerator, {"wrap": wrap}, context)
        generator.init(picture)
        assert tuple(generator.latent().shape[-2:]) == (8, 8)
        with torch.no_grad():
            errors[wrap] = (generator() - picture).abs().mean()
    assert errors["latent"] < 0.75 * errors["convolutions"]


def test_wrap_upsample_is_bilinear_inside_and_periodic_at_the_edges() -> None:
    cells = torch.rand(1, 3, 4, 6, generator=torch.Generator().manual_seed(0))
    wrapped = wrap_upsample(cells, (16, 24))
    plain = torch.nn.functional.interpolate(cells, size=(16, 24), mode="bilinear", align_corners=False)
    assert torch.allclose(wrapped[..., 2:-2, 2:-2], plain[..., 2:-2, 2:-2], atol=1e-5)
    rolled = wrap_upsample(torch.roll(cells, (1, 1), dims=(-2, -1)), (16, 24))
    assert torch.allclose(rolled, torch.roll(wrapped, (4, 4), dims=(-2, -1)), atol=1e-5)


def test_seamless_pixel_generator_wraps_its_bilinear_upsampling() -> None:
    from pixforge_pixel.generator import PixelGenerator

    settings = {"grid": [8, 8], "upsample": "bilinear"}
    with seeded(0):
        generator = build_component(PixelGenerator, settings, replace(tiny_context(32, 32), seamless=True))
    with torch.no_grad():
        before = generator()
        generator.logits.copy_(torch.roll(generator.logits, 1, dims=-1))
        after = generator()
    assert torch.allclose(after, torch.roll(before, 4, dims=-1), atol=1e-5)
