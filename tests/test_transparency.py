"""--transparent: generators with an alpha channel, random backgrounds, the alpha loss, an RGBA final.png."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from pixforge import Pipeline
from pixforge.cli import main
from pixforge.errors import ConfigError
from pixforge.outputs import SEED_KEY, SETTINGS_KEY, read_render_settings
from pixforge.testing import build_component, tiny_context
from pixforge.transparency import (
    AlphaMap,
    Transparency,
    TransparencySettings,
    alpha_loss,
    composite,
    random_background,
)
from pixforge_pixel.generator import PixelGenerator
from pixforge_vqgan.generator import VQGANGenerator

TINY = dict(steps=3, size=32, overrides=["cutouts.count=4"])


@pytest.mark.parametrize("kind", ["solid", "noise", "gradient"])
def test_backgrounds_are_seeded_pictures(kind: str) -> None:
    torch.manual_seed(3)
    first = random_background(2, 16, 24, [kind])
    torch.manual_seed(3)
    assert torch.equal(first, random_background(2, 16, 24, [kind]))
    assert first.shape == (2, 3, 16, 24) and first.min() >= 0 and first.max() <= 1
    assert not torch.equal(first[0], first[1])  # each image of a batch gets its own
    if kind == "solid":
        assert torch.equal(first[0], first[0, :, :1, :1].expand(3, 16, 24))


def test_composite_shows_the_picture_where_opaque_and_the_background_where_clear() -> None:
    colour, background = torch.full((1, 3, 4, 4), 0.9), torch.full((1, 3, 4, 4), 0.1)
    alpha = torch.zeros(1, 1, 4, 4)
    alpha[..., :2] = 1.0
    out = composite(colour, alpha, background)
    assert torch.allclose(out[..., :2], colour[..., :2]) and torch.allclose(out[..., 2:], background[..., 2:])


def test_alpha_loss_pulls_down_only_above_the_coverage() -> None:
    low = torch.full((1, 1, 8, 8), 0.3, requires_grad=True)
    assert alpha_loss(low, 0.5) == 0
    high = torch.full((1, 1, 8, 8), 0.9, requires_grad=True)
    value = alpha_loss(high, 0.5)
    value.backward()
    assert value.item() == pytest.approx(0.4) and (high.grad > 0).all()


def test_transparency_hands_an_opaque_image_through() -> None:
    off = Transparency()
    image = torch.rand(1, 3, 8, 8)
    colour, alpha = off.split(image)
    assert colour is image and alpha is None and off.backdrop(colour, None) is image and off.loss(None) == {}
    on = Transparency(TransparencySettings(enabled=True, coverage=0.25, weight=2.0))
    rgba = torch.rand(1, 4, 8, 8)
    colour, alpha = on.split(rgba)
    assert colour.shape == (1, 3, 8, 8) and alpha.shape == (1, 1, 8, 8)
    assert torch.equal(on.join(colour, alpha), rgba) and on.backdrop(colour, alpha).shape == (1, 3, 8, 8)
    assert on.loss(alpha)["alpha"] == pytest.approx(2.0 * max(0.0, float(alpha.mean()) - 0.25))


def test_alpha_map_starts_even_and_trains() -> None:
    alpha = AlphaMap(4, 4, 16, 16, start=0.5)
    out = alpha(2)
    assert out.shape == (2, 1, 16, 16) and torch.allclose(out, torch.full_like(out, 0.5))
    out.mean().backward()
    assert alpha.logits.grad is not None and alpha.logits.grad.abs().sum() > 0


@pytest.mark.parametrize("cls, settings", [(PixelGenerator, {"grid": [8, 8]}), (VQGANGenerator, {})])
def test_generators_render_alpha_when_transparent(cls: type, settings: dict) -> None:
    opaque = build_component(cls, settings, tiny_context(32, 32))
    assert opaque().shape[1] == 3
    context = tiny_context(32, 32)
    transparent = build_component(cls, settings, type(context)(**{**context.__dict__, "transparent": True}))
    image = transparent()
    assert image.shape == (1, 4, 32, 32) and image.min() >= 0 and image.max() <= 1
    alpha_params = [p for p in transparent.parameters_to_optimize() if p.shape[1] == 1]
    assert len(alpha_params) == 1
    image[:, 3].mean().backward()
    assert alpha_params[0].grad.abs().sum() > 0
    transparent.init(torch.rand(1, 3, 32, 32))
    assert torch.allclose(transparent()[:, 3], torch.full((1, 32, 32), 0.5))


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return Pipeline()


def test_transparent_render_writes_rgba_with_its_settings(pipe: Pipeline, tmp_path) -> None:
    result = pipe.render("a red circle", out=tmp_path / "t", seed=5, transparent=True, **TINY)
    assert result.tensor.shape == (1, 4, 32, 32) and result.image.mode == "RGBA"
    assert "alpha" in result.losses[0]
    saved = Image.open(result.final_path)
    assert saved.mode == "RGBA" and saved.text[SEED_KEY] == "5"
    assert yaml.safe_load(saved.text[SETTINGS_KEY])["transparency"]["enabled"] is True
    assert read_render_settings(result.final_path)["transparency"]["coverage"] == 0.5
    again = Pipeline().render(from_image=result.final_path, out=tmp_path / "again")
    assert again.final_path.read_bytes() == result.final_path.read_bytes()


def test_transparent_pixel_render_and_cli(tmp_path, capsys) -> None:
    out = tmp_path / "cli"
    with pytest.raises(SystemExit) as done:
        main(["render", "a red circle", "--preset", "pixels", "--transparent", "--steps", "3", "--size", "32",
              "--set", "cutouts.count=4", "--set", "transparency.coverage=0.3", "--seed", "2", "--out", str(out), "-q"])
    assert done.value.code in (0, None)
    saved = Image.open(out / "final.png")
    assert saved.mode == "RGBA" and "pixforge:settings" in saved.text
    assert "alpha" in (out / "losses.csv").read_text().splitlines()[0]


@pytest.mark.parametrize("args, needle", [
    (["--set", "transparency.coverage=2"], "transparency.coverage"),
    (["--candidates", "2"], "--candidates cannot rank --transparent renders"),
    (["--set", "transparency.backgrounds=[stripes]"], "'stripes'"),
])
def test_bad_transparent_input_is_one_line(tmp_path, capsys, args: list[str], needle: str) -> None:
    with pytest.raises(SystemExit) as done:
        main(["render", "a red circle", "--transparent", "--steps", "1", "--size", "32", "--out", str(tmp_path / "x"),
              "-q", *args])
    assert done.value.code == 1
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


def test_python_api_refuses_an_unsupported_generator(tmp_path) -> None:
    from pixforge.testing.dummies import DummyPlugin

    with pytest.raises(ConfigError, match="generator 'dummy' has no alpha channel"):
        Pipeline([DummyPlugin()]).render("a red circle", out=tmp_path / "s", transparent=True,
                                          overrides=["generator={name: dummy}", "cutouts.count=4"], steps=1, size=32)


def test_transparent_shapes_render_is_the_shape_alone(pipe: Pipeline, tmp_path) -> None:
    result = pipe.render("a red circle", preset="shapes", out=tmp_path / "s", seed=4, transparent=True, **TINY)
    assert result.tensor.shape == (1, 4, 32, 32) and result.image.mode == "RGBA"
    alpha = result.tensor[0, 3]
    assert alpha.max() > 0.5 and alpha.min() < 0.01  # the shape shows, the canvas around it is clear
    colour = result.tensor[0, :3]
    assert torch.allclose(colour, colour[:, :1, :1].expand_as(colour))  # one straight colour: the shape's


def test_transparent_dvae_render_is_rgba_and_refuses_a_batch(pipe: Pipeline, tmp_path) -> None:
    result = pipe.render("a red circle", preset="dvae", out=tmp_path / "d", seed=3, transparent=True, **TINY)
    assert result.image.mode == "RGBA" and "alpha" in result.losses[0]
    alpha = torch.from_numpy(np.asarray(result.image.getchannel("A"), dtype=np.float32))
    assert 0 < float(alpha.mean()) < 255
    with pytest.raises(ConfigError, match="generator 'dvae': --transparent renders one token grid, got batch 2"):
        pipe.render("a red circle", preset="dvae", out=tmp_path / "b", transparent=True,
                    overrides=["generator.settings.batch=2"], steps=1, size=32)


def test_view_only_filters_see_the_picture_over_its_background(pipe: Pipeline, tmp_path) -> None:
    from pixforge.filters import FilterChain, NamedFilter
    from pixforge_filters.tile import TileFilter

    chain = FilterChain([NamedFilter("tile", 1.0, build_component(TileFilter, {}, tiny_context(16, 16)))])
    image = torch.rand(1, 3, 16, 16)
    picture, view, terms = chain(image, backdrop=lambda p: torch.full_like(p, 0.25))
    assert torch.equal(picture, image) and torch.equal(view, torch.full_like(image, 0.25)) and "tile" in terms
    # end to end: a transparent, tiling render keeps its alpha
    result = pipe.render("a red circle", preset="pixels", out=tmp_path / "tile", seed=1, transparent=True,
                         overrides=["filters+=tile"], steps=2, size=32)
    assert result.image.mode == "RGBA" and {"tile", "alpha"} <= set(result.losses[0])


def test_frames_of_a_transparent_render_keep_their_alpha(pipe: Pipeline, tmp_path) -> None:
    result = pipe.render("a red circle", out=tmp_path / "f", seed=1, transparent=True, save_every=1, **TINY)
    frames = sorted((result.run_dir / "frames").glob("frame_*.png"))
    assert len(frames) == 3 and all(Image.open(f).mode == "RGBA" for f in frames)
    assert frames[-1].read_bytes() != b"" and Image.open(frames[-1]).getchannel("A").getextrema() != (255, 255)


def test_a_resumed_transparent_render_ends_with_the_same_bytes(tmp_path) -> None:
    from pixforge import Observer
    from pixforge.results import RenderInterrupted

    pipe = Pipeline()
    settings = dict(seed=1, steps=8, size=32, transparent=True, overrides=["cutouts.count=4", "checkpoint_every=3"])
    full = pipe.render("a red circle", out=tmp_path / "full", **settings)

    class Kill(Observer):
        def on_step(self, state):
            if state.step + 1 == 5:
                raise KeyboardInterrupt

    with pytest.raises((KeyboardInterrupt, RenderInterrupted)):
        pipe.render("a red circle", out=tmp_path / "cut", observers=[Kill()], **settings)
    resumed = pipe.resume(tmp_path / "cut")
    assert resumed.image.mode == "RGBA"
    assert resumed.final_path.read_bytes() == full.final_path.read_bytes()
