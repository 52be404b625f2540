"""The ``pixel`` generator: grid layout, inits, value range, and that it can be optimised."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from pixforge.errors import ConfigError
from pixforge.outputs import tensor_to_pil
from pixforge.settings import validate
from pixforge.testing import GeneratorContract, build_component, seeded, smooth_image, tiny_context
from pixforge_pixel import PixelGenerator, PixelSettings


def pixel(width: int = 32, height: int = 32, **settings) -> PixelGenerator:
    return build_component(PixelGenerator, settings, tiny_context(width, height))


class TestPixelContract(GeneratorContract):
    component = PixelGenerator
    settings = {"grid": [10, 6], "upsample": "bilinear"}


def test_grid_is_columns_then_rows() -> None:
    generator = pixel(40, 24, grid=(8, 4))
    assert generator.logits.shape == (1, 3, 4, 8)
    assert generator().shape == (1, 3, 24, 40)


def test_nearest_upsampling_makes_flat_cells() -> None:
    image = pixel(32, 32, grid=(4, 4), upsample="nearest")()
    cell = image[..., :8, :8]
    assert torch.equal(cell, cell[..., :1, :1].expand_as(cell))
    assert not torch.equal(image[..., :8, :8], image[..., 8:16, :8])


def test_bilinear_upsampling_blends_cells() -> None:
    nearest = pixel(32, 32, grid=(4, 4), upsample="nearest")
    bilinear = pixel(32, 32, grid=(4, 4), upsample="bilinear")
    bilinear.logits.data.copy_(nearest.logits.data)
    assert not torch.equal(nearest(), bilinear())
    assert bilinear().unique().numel() > nearest().unique().numel()


def test_solid_init_is_the_colour() -> None:
    image = pixel(init="solid", color=(0.2, 0.4, 0.8))()
    assert torch.allclose(image, torch.tensor([0.2, 0.4, 0.8]).view(1, 3, 1, 1).expand_as(image), atol=1e-6)


def test_gradient_init_runs_top_to_bottom() -> None:
    image = pixel(16, 16, grid=(4, 8), init="gradient", color=(1.0, 0.5, 0.0), color_end=(0.0, 0.5, 1.0))()
    rows = image[0, 0, :, 0]
    assert rows[0] > 0.95 and rows[-1] < 0.05 and torch.all(rows[1:] <= rows[:-1])
    assert torch.allclose(image[0, 1], torch.full((16, 16), 0.5), atol=1e-6)
    assert torch.equal(image[..., :1], image[..., -1:])  # constant along each row


def test_random_init_follows_the_seed() -> None:
    with seeded(1):
        first = pixel()()
    with seeded(1):
        again = pixel()()
    with seeded(2):
        other = pixel()()
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.min() < 0.2 and first.max() > 0.8  # uniform colours, not all mid-grey


def test_init_with_a_tensor_reproduces_it_at_grid_resolution() -> None:
    target = smooth_image(8, 8)  # already grid-sized
    generator = pixel(32, 32, grid=(8, 8), upsample="nearest")
    generator.init(target)
    cells = generator()[..., ::4, ::4]
    assert torch.allclose(cells, target, atol=1e-5)


def test_init_downsamples_a_large_image_by_area() -> None:
    big = torch.zeros(1, 3, 32, 32)
    big[..., :, 16:] = 1.0  # left half black, right half white
    generator = pixel(32, 32, grid=(2, 2))
    generator.init(big)
    values = torch.sigmoid(generator.logits)[0, 0]
    assert torch.allclose(values, torch.tensor([[0.01, 0.99], [0.01, 0.99]]), atol=1e-5)


def test_init_from_an_image_file(tmp_path) -> None:
    path = tmp_path / "start.png"
    tensor_to_pil(smooth_image(16, 16)).save(path)
    generator = pixel(16, 16, grid=(16, 16), init="image", image=str(path))
    assert (generator() - smooth_image(16, 16)).abs().max() < 1 / 255 + 1e-4


def test_missing_image_file_names_the_path(tmp_path) -> None:
    missing = tmp_path / "nope.png"
    with pytest.raises(ConfigError, match="nope.png"):
        pixel(init="image", image=str(missing))


def test_unreadable_image_file_names_the_path(tmp_path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_text("not a picture")
    with pytest.raises(ConfigError, match="bad.png"):
        pixel(init="image", image=str(bad))


@pytest.mark.parametrize(
    ("settings", "needle"),
    [
        ({"init": "image"}, "needs 'image'"),
        ({"image": "x.png"}, "only used with init 'image'"),
        ({"color": (1.5, 0, 0)}, "between 0 and 1"),
        ({"grid": (0, 4)}, "grid"),
        ({"upsample": "cubic"}, "upsample"),
        ({"gird": (4, 4)}, "did you mean 'grid'"),
    ],
)
def test_bad_settings_are_config_errors(settings, needle) -> None:
    with pytest.raises(ConfigError, match=needle):
        validate(PixelSettings, settings, "generator 'pixel' settings")


def test_latent_is_the_grid() -> None:
    generator = pixel(grid=(4, 4))
    assert generator.latent() is generator.logits


def test_values_stay_in_range_and_adam_fits_a_target() -> None:
    target = smooth_image(16, 16)
    generator = pixel(16, 16, grid=(16, 16), init="solid")
    optimiser = torch.optim.Adam(generator.parameters_to_optimize(), lr=0.2)
    errors = []
    for _ in range(30):
        image = generator()
        loss = torch.nn.functional.mse_loss(image, target)
        errors.append(loss.item())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        assert image.min() >= 0 and image.max() <= 1
    assert errors[-1] < errors[0] / 10


def test_init_keeps_the_parameter_object() -> None:
    """The optimiser may already hold the parameter when init() runs."""
    generator = pixel()
    param = generator.logits
    generator.init(smooth_image())
    assert generator.logits is param and generator.parameters_to_optimize() == [param]


def test_registered_as_pixel() -> None:
    from pixforge.plugins import default_registry

    assert default_registry().get("generator", "pixel") is PixelGenerator


def test_saved_png_roundtrip_uses_pil(tmp_path) -> None:
    """Greyscale and RGBA files load as RGB."""
    path = tmp_path / "grey.png"
    Image.new("L", (8, 8), 128).save(path)
    image = pixel(8, 8, grid=(8, 8), init="image", image=str(path))()
    assert torch.allclose(image, torch.full_like(image, 128 / 255), atol=1e-4)
