"""The first-party filters: palette specs and the palette filter, the tile roll, the wallpaper symmetries."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pixforge.errors import ConfigError
from pixforge.testing import FilterContract, build_component, seeded, tiny_context
from pixforge_filters.palette import PaletteFilter, nearest_colours
from pixforge_filters.palettes import kmeans, parse_palette
from pixforge_filters.tile import RELATIVE_FLOOR, TileFilter, seam_difference
from pixforge_losses.smoothness import total_variation
from pixforge_filters.wallpaper import GROUPS, WallpaperFilter


def colours_of(path) -> set[tuple[int, ...]]:
    """The distinct RGB colours of a PNG."""
    return {tuple(row) for row in np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3).tolist()}


class TestPaletteRamp(FilterContract):
    component = PaletteFilter
    settings = {"colors": "black->red\\4,#102030", "sharpness": 3.0}


class TestWallpaperP2(FilterContract):
    component = WallpaperFilter
    settings = {"symmetry": "p2", "cells": 2}


class TestTileHalfShift(FilterContract):
    component = TileFilter
    settings = {"shift": 0.5}


# -- palette specs ------------------------------------------------------------------------------------


def test_names_hex_and_ramps() -> None:
    palette = parse_palette("red,#102030,white,#fff")  # white twice: kept once
    assert torch.allclose(palette, torch.tensor([[1, 0, 0], [16 / 255, 32 / 255, 48 / 255], [1, 1, 1]]))
    ramp = parse_palette("black->red\\3")
    assert torch.allclose(ramp, torch.tensor([[0, 0, 0], [0.5, 0, 0], [1, 0, 0]]))
    three = parse_palette(["black->white->black\\5"])
    assert len(three) == 3  # 0, .5, 1, .5, 0: duplicates dropped


def test_image_palette_is_seeded_kmeans(tmp_path) -> None:
    picture = Image.new("RGB", (20, 10), (250, 10, 10))
    picture.paste((10, 10, 240), (10, 0, 20, 10))
    path = tmp_path / "two.png"
    picture.save(path)
    palette = parse_palette(f"{path}:2")
    assert sorted(map(tuple, (palette * 255).round().int().tolist())) == [(10, 10, 240), (250, 10, 10)]
    points = torch.rand(500, 3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(kmeans(points, 6, seed=3), kmeans(points, 6, seed=3))
    assert len(kmeans(points, 6, seed=3)) == 6


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("redd,blue", r"unknown colour name 'redd'.*'red'"),
        ("#12345", r"bad hex colour '#12345'.*#rrggbb"),
        ("black->red", r"ramp 'black->red' needs a count"),
        ("black->\\4", r"two or more colours"),
        ("black->red\\1", r"count from 2"),
        ("nowhere.png:6", r"image 'nowhere.png' does not exist"),
        ("photo.txt:6", r"not an image file"),
        ("", r"empty"),
    ],
)
def test_bad_specs_are_one_line_naming_the_value(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_palette(spec)
    assert "\n" not in str(caught.value)


def test_bad_spec_fails_when_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="unknown colour name 'purpel'"):
        build_component(PaletteFilter, {"colors": "purpel"})


# -- the palette filter -------------------------------------------------------------------------------


def test_palette_output_is_only_palette_colours_with_gradient() -> None:
    flt = build_component(PaletteFilter, {"colors": "black,white,red"})
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    out = flt(image)
    colours = {tuple(c) for c in out.detach().permute(0, 2, 3, 1).reshape(-1, 3).tolist()}
    assert colours <= {(0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (1.0, 0.0, 0.0)}
    _, hard = nearest_colours(image.detach(), flt.colours)
    assert torch.equal(out.detach(), hard)
    out.sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_palette_loss_is_zero_inside_the_palette() -> None:
    flt = build_component(PaletteFilter, {"colors": "black,white"})
    inside = torch.zeros(1, 3, 8, 8)
    inside[..., :4] = 1
    assert flt.loss(inside, flt(inside)).item() == 0
    grey = torch.full((1, 3, 8, 8), 0.5)
    assert flt.loss(grey, flt(grey)).item() == pytest.approx(0.75)


# -- tile ---------------------------------------------------------------------------------------------


def test_tile_rolls_by_a_seeded_offset_and_measures_the_seam() -> None:
    flt = build_component(TileFilter, {})
    image = torch.arange(6 * 8, dtype=torch.float32).view(1, 1, 6, 8).expand(1, 3, 6, 8) / 48
    with seeded(2):
        first = flt(image)
    with seeded(2):
        again = flt(image)
    assert torch.equal(first, again) and sorted(first.flatten().tolist()) == sorted(image.flatten().tolist())
    ring = torch.ones(1, 3, 4, 4)
    assert seam_difference(ring).item() == 0
    ring[..., :, -1] = 0
    assert seam_difference(ring).item() > 0
    assert TileFilter.view_only and TileFilter.seamless


def test_a_relative_tile_loss_holds_a_flat_picture_to_its_own_scale() -> None:
    absolute = build_component(TileFilter, {})
    relative = build_component(TileFilter, {"scale": "relative"})
    steps = torch.linspace(0, 0.7, 8).view(1, 1, 1, 8).expand(1, 3, 8, 8)  # a ramp: its wrap edge jumps 0.7
    faint = steps * 0.1  # the same picture at a tenth of the contrast
    for picture in (steps, faint):
        assert relative.loss(picture, picture).item() == pytest.approx(
            (seam_difference(picture) / (total_variation(picture) / 2)).item(), rel=1e-5)
    # the absolute term shrinks with the contrast; the relative one does not
    assert absolute.loss(faint, faint).item() == pytest.approx(absolute.loss(steps, steps).item() / 10, rel=1e-4)
    assert relative.loss(faint, faint).item() == pytest.approx(relative.loss(steps, steps).item(), rel=1e-4)
    flat = torch.full((1, 3, 8, 8), 0.5)
    flat[..., -1] += 1 / 255  # no contrast inside: divided by the floor, not by zero
    assert torch.isfinite(relative.loss(flat, flat))
    assert relative.loss(flat, flat).item() == pytest.approx((seam_difference(flat) / RELATIVE_FLOOR).item(), rel=1e-4)
    picture = steps.clone().requires_grad_(True)
    relative.loss(picture, picture).backward()
    assert picture.grad is not None and picture.grad[..., 1:-1].abs().sum() == 0  # only the wrap edges are pulled
    with pytest.raises(ConfigError, match="scale"):
        build_component(TileFilter, {"scale": "loud"})


# -- wallpaper ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("symmetry", sorted(GROUPS))
def test_each_symmetry_gives_an_invariant_picture(symmetry: str) -> None:
    flt = build_component(WallpaperFilter, {"symmetry": symmetry}, tiny_context(16, 16))
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    once = flt(image)
    assert torch.allclose(flt(once), once, atol=1e-6)  # a projection: symmetric pictures stay as they are


def test_wallpaper_symmetries_hold() -> None:
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    mirrored = build_component(WallpaperFilter, {"symmetry": "mirror_x"}, tiny_context(16, 16))(image)
    assert torch.allclose(mirrored, mirrored.flip(-1))
    p4 = build_component(WallpaperFilter, {"symmetry": "p4"}, tiny_context(16, 16))(image)
    cell = p4[..., :8, :8]
    assert torch.allclose(p4, cell.repeat(1, 1, 2, 2)) and torch.allclose(cell, torch.rot90(cell, 1, (-2, -1)))
    assert WallpaperFilter.seamless_for(WallpaperFilter.Settings(symmetry="p4"))
    assert not WallpaperFilter.seamless_for(WallpaperFilter.Settings(symmetry="mirror_x"))


def test_wallpaper_refuses_canvases_it_cannot_use() -> None:
    with pytest.raises(ConfigError, match="90° turns need square cells.*40x24"):
        build_component(WallpaperFilter, {"symmetry": "rot4"}, tiny_context(40, 24))
    with pytest.raises(ConfigError, match="does not divide into 3x3 cells"):
        build_component(WallpaperFilter, {"symmetry": "p2", "cells": 3}, tiny_context(40, 24))


# -- the keywords and flags ---------------------------------------------------------------------------


def test_palette_and_tile_keywords_become_filter_specs() -> None:
    from pixforge import Pipeline

    pipe = Pipeline()
    config = pipe.resolve("x", "default", palette="red,blue", tile=True)
    assert [(s.name, s.settings.get("colors")) for s in config.filters] == [("palette", "red,blue"), ("tile", None)]
    preset = {"extends": "default", "filters": [{"name": "tile"}, {"name": "palette", "settings": {"sharpness": 2}}]}
    changed = pipe.resolve("x", preset, palette="black->white\\4", tile=False)
    assert [(s.name, s.settings["colors"], s.settings["sharpness"]) for s in changed.filters] == [
        ("palette", "black->white\\4", 2.0)
    ]
    assert pipe.resolve("x", "default", wallpaper="p4m").filters[0].settings["symmetry"] == "p4m"
    with pytest.raises(ConfigError, match="filter 'tile': got 'yes'; give True, False or a mapping"):
        pipe.resolve("x", "default", tile="yes")


def test_filter_settings_may_sit_beside_the_name() -> None:
    from pixforge import Pipeline

    pipe = Pipeline()
    flat = {"extends": "default", "filters": [{"name": "palette", "colors": "red,blue", "weight": 2},
                                              {"name": "wallpaper", "symmetry": "p4m"}]}
    config = pipe.resolve("x", flat)
    assert [(s.name, s.weight, s.settings.get("colors") or s.settings["symmetry"]) for s in config.filters] == [
        ("palette", 2.0, "red,blue"), ("wallpaper", 1.0, "p4m")]
    assert pipe.resolve("x", flat, palette="white,black").filters[0].settings["colors"] == "white,black"
    with pytest.raises(ConfigError, match="filters 'palette' settings: unknown key 'colours'; did you mean 'colors'"):
        pipe.resolve("x", {"extends": "default", "filters": [{"name": "palette", "colours": "red"}]})


def test_cli_palette_mistakes_are_one_line(tmp_path) -> None:
    from typer.testing import CliRunner

    from pixforge.cli import app

    for spec, message in [("redd,blue", "unknown colour name 'redd'; did you mean 'red'?"),
                          ("black->red", "needs a count"), (f"{tmp_path}/none.png:4", "does not exist")]:
        result = CliRunner().invoke(app, ["render", "a red circle", "--palette", spec, "--out", str(tmp_path / "r")])
        assert result.exit_code == 1 and message in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_a_palette_render_keeps_only_palette_colours_and_a_tile_render_completes(tmp_path) -> None:
    from pixforge import Pipeline
    from pixforge.testing import DummyPlugin

    pipe = Pipeline(plugins=[DummyPlugin()])
    preset = {"generator": {"name": "dummy"}, "perceptors": [{"name": "dummy", "settings": {"size": 16, "dim": 8}}],
              "losses": [{"name": "clip_prompt"}], "cutouts": {"count": 2}, "size": [24, 16], "steps": 3}
    result = pipe.render("a red circle", preset, out=tmp_path / "p", seed=1, palette="red,#102030,white")
    colours = colours_of(result.final_path)
    assert colours <= {(255, 0, 0), (16, 32, 48), (255, 255, 255)} and "palette" in result.losses[-1]
    tiled = pipe.render("a red circle", preset, out=tmp_path / "t", seed=1, tile=True)
    assert tiled.status == "completed" and "tile" in tiled.losses[-1]
    assert tiled.settings["filters"] == [
        {"name": "tile", "weight": 1.0, "settings": {"shift": 1.0, "scale": "absolute"}}]


def test_cli_tile_and_palette_render_end_to_end_and_replay_to_the_same_bytes(tmp_path) -> None:
    from typer.testing import CliRunner

    from pixforge.cli import app

    args = ["render", "a red circle on a blue background", "--tile", "--palette", "red,blue,white", "--seed", "4",
            "--steps", "2", "--size", "32", "--set", "cutouts.count=2", "-q"]
    first = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "b")])
    assert again.exit_code == 0, again.output
    final = tmp_path / "a" / "final.png"
    assert final.read_bytes() == (tmp_path / "b" / "final.png").read_bytes()
    assert colours_of(final) <= {(255, 0, 0), (0, 0, 255), (255, 255, 255)}
    settings = (tmp_path / "a" / "settings.yaml").read_text()
    assert "name: palette" in settings and "name: tile" in settings
    replay = CliRunner().invoke(app, ["render", "--from", str(final), "--out", str(tmp_path / "c"), "-q"])
    assert replay.exit_code == 0, replay.output
    assert (tmp_path / "c" / "final.png").read_bytes() == final.read_bytes()


def test_cli_wallpaper_flag_renders_a_mirrored_picture_and_refuses_an_unknown_symmetry(tmp_path) -> None:
    from typer.testing import CliRunner

    from pixforge.cli import app

    args = ["render", "a red circle on a blue background", "--seed", "2", "--steps", "2", "--size", "32",
            "--set", "cutouts.count=2", "-q"]
    done = CliRunner().invoke(app, [*args, "--wallpaper", "mirror_x", "--out", str(tmp_path / "a")])
    assert done.exit_code == 0, done.output
    pixels = np.asarray(Image.open(tmp_path / "a" / "final.png"), dtype=np.int16)
    assert np.abs(pixels - pixels[:, ::-1]).max() <= 1  # the left half mirrors the right
    assert "symmetry: mirror_x" in (tmp_path / "a" / "settings.yaml").read_text()
    bad = CliRunner().invoke(app, [*args, "--wallpaper", "p5", "--out", str(tmp_path / "b")])
    assert bad.exit_code != 0
    line = bad.output.strip().splitlines()[-1]
    assert "p5" in line and "p4m" in line and "Traceback" not in bad.output


def test_set_names_a_filter_as_the_flags_do() -> None:
    from pixforge import Pipeline

    pipe = Pipeline()
    config = pipe.resolve("a red circle", overrides=["palette=red,blue", "tile=true", "wallpaper=rot2"])
    assert [f.name for f in config.filters] == ["palette", "tile", "wallpaper"]
    assert config.filters[0].settings["colors"] == "red,blue" and config.filters[2].settings["symmetry"] == "rot2"
    assert [f.name for f in pipe.resolve("a red circle", overrides=["tile=true", "tile=false"]).filters] == []
    with pytest.raises(ConfigError, match="'p9'"):
        pipe.resolve("a red circle", overrides=["wallpaper=p9"])


def test_the_tile_scale_and_weight_can_be_set_from_the_command_line() -> None:
    from pixforge import Pipeline

    pipe = Pipeline()
    config = pipe.resolve(preset="dvae", overrides=["tile={scale: relative}", "filters.0.weight=0.1"])
    assert [(f.name, f.weight, f.settings["scale"]) for f in config.filters] == [("tile", 0.1, "relative")]
    together = pipe.resolve(preset="dvae", overrides=["tile={scale: relative, weight: 0.1}"])
    assert [(f.name, f.weight, f.settings["scale"]) for f in together.filters] == [("tile", 0.1, "relative")]
    keyword = pipe.resolve(preset="dvae", tile={"scale": "relative", "weight": 0.1})
    assert keyword.filters == together.filters
    with pytest.raises(ConfigError, match="scale"):
        pipe.resolve(preset="dvae", overrides=["tile={scale: loud}"])
