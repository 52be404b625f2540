"""The strokes generator: its contract, its rasteriser, per-group learning rates, and final.svg drawing the same picture."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

from pixforge import ConfigError, Pipeline
from pixforge.optim import OptimizerSettings, make_optimizer
from pixforge.outputs import load_image, pil_to_tensor
from pixforge.seeding import seeded
from pixforge.testing import GeneratorContract, tiny_context
from pixforge_strokes.generator import StrokesGenerator, StrokesSettings
from pixforge_strokes.raster import rasterise, sample_curves

from svgkit import rasterise_svg

VARIANTS = [
    {},
    {"colour": [0.0, 0.0, 0.0], "width": 1.5},
    {"segments": 3, "count": 12, "width": 4.0, "learn_width": False},
]


@pytest.mark.parametrize(("contract_component", "contract_settings"), [(StrokesGenerator, v) for v in VARIANTS])
class TestStrokesContract(GeneratorContract):
    pass


def _strokes(settings: dict, width: int = 48, height: int = 40, seed: int = 2) -> StrokesGenerator:
    with seeded(seed):
        return StrokesGenerator(StrokesSettings(**settings), tiny_context(width, height))


def test_a_straight_stroke_covers_its_line_and_nothing_else() -> None:
    points = torch.tensor([[[4.0, 16.0], [12.0, 16.0], [20.0, 16.0], [28.0, 16.0]]])
    image = rasterise(points, torch.tensor([4.0]), torch.tensor([[0.0, 0.0, 0.0, 1.0]]), torch.ones(3), 32, 32)
    assert image.shape == (1, 3, 32, 32)
    assert image[0, :, 15:17, 6:26].max() < 0.01  # the line's rows are black (its edge rows nearly)...
    assert image[0, :, 14, 6:26].max() < 0.15 and image[0, :, 17, 6:26].max() < 0.15
    assert image[0, :, :11].min() > 0.99 and image[0, :, 21:].min() > 0.99  # ...the rest stays white
    assert image[0, 0, 16, :1].min() > 0.99  # the cap ends at x = 4 - 2


def test_curves_pass_through_their_end_points() -> None:
    points = torch.tensor([[[1.0, 2.0], [5.0, 9.0], [7.0, -3.0], [10.0, 4.0], [12.0, 1.0], [15.0, 8.0], [20.0, 2.0]]])
    curve = sample_curves(points, 9)
    assert curve.shape == (1, 18, 2)
    assert torch.allclose(curve[0, 0], points[0, 0]) and torch.allclose(curve[0, 8], points[0, 3])
    assert torch.allclose(curve[0, 9], points[0, 3]) and torch.allclose(curve[0, -1], points[0, -1])


@pytest.mark.parametrize("settings", VARIANTS)
def test_final_svg_draws_the_same_picture(settings) -> None:
    """An SVG rasteriser written apart (de Casteljau, hard supersampled edges) sees what the generator drew."""
    generator = _strokes(settings)
    with torch.no_grad():
        drawn = generator()[0].permute(1, 2, 0).numpy()
    svg = generator.svg()
    error = np.abs(rasterise_svg(svg) - drawn).mean()
    assert error < 0.03, f"the SVG and the PNG differ by {error:.4f} a pixel"
    with torch.no_grad():
        generator.points += 1.0  # a picture one pixel off is told apart
    assert np.abs(rasterise_svg(generator.svg()) - drawn).mean() > 2 * error
    root = ET.fromstring(svg)
    assert (root.get("width"), root.get("height")) == ("48", "40")
    paths = root.findall("{http://www.w3.org/2000/svg}path")
    assert len(paths) == generator.settings.count and paths[0].get("d").startswith("M ")
    assert paths[0].get("d").count("C") == generator.settings.segments


def test_each_parameter_group_gets_clipdraws_rate_unless_the_settings_say_otherwise() -> None:
    generator = _strokes({})
    optimizer, _ = make_optimizer(OptimizerSettings(), generator.parameter_groups(), 10)
    assert [g["lr"] for g in optimizer.param_groups] == [1.0, 0.1, 0.01]
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(generator.parameters_to_optimize()) == 4
    optimizer, _ = make_optimizer(OptimizerSettings(groups={"width": 0.5}), generator.parameter_groups(), 10)
    assert [g["lr"] for g in optimizer.param_groups] == [1.0, 0.5, 0.01]
    fixed = _strokes({"colour": [0, 0, 0], "learn_width": False})
    optimizer, _ = make_optimizer(OptimizerSettings(), fixed.parameter_groups(), 10)
    assert [g["lr"] for g in optimizer.param_groups] == [1.0, 0.01]  # no width group; colour is the opacity alone
    with pytest.raises(ConfigError, match="no parameter group 'pointz'.*points"):
        make_optimizer(OptimizerSettings(groups={"pointz": 1.0}), generator.parameter_groups(), 10)


def test_a_generator_without_groups_has_one_called_parameters() -> None:
    tensor = torch.zeros(3, requires_grad=True)
    optimizer, _ = make_optimizer(OptimizerSettings(lr=0.2, groups={"parameters": 0.05}), [tensor], 10)
    assert [g["lr"] for g in optimizer.param_groups] == [0.05]


def test_an_init_image_colours_the_strokes() -> None:
    generator = _strokes({})
    red = torch.zeros(1, 3, 80, 96)
    red[:, 0] = 1.0
    for seed in range(5):  # first points anywhere, the canvas edge included
        with seeded(seed):
            generator.init(red)
        assert torch.allclose(generator.rgb, torch.tensor([1.0, 0.0, 0.0]).expand_as(generator.rgb))
    assert torch.allclose(generator.rgb, torch.tensor([1.0, 0.0, 0.0]).expand_as(generator.rgb))


@pytest.mark.parametrize(
    ("setting", "words"),
    [("generator.settings.width=20", "width 20.0 must lie between min_width 0.5 and max_width 4.0"),
     ("generator.settings.colour=[2, 0, 0]", "colour (2.0, 0.0, 0.0) must have channels between 0 and 1"),
     ("generator.settings.cuont=3", "unknown key 'cuont'; did you mean 'count'")],
)
def test_bad_settings_are_one_line(setting, words) -> None:
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")) as caught:
        Pipeline().resolve("a", "sketch", overrides=[setting])
    assert "\n" not in str(caught.value)


def _cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pixforge.cli", "render", "a black star", "-p", "sketch", "-q", "--seed", "1",
               "--set", "cutouts.count=4", "--set", "generator.settings.count=8", *args]
    return subprocess.run(command, capture_output=True, text=True)


def test_cli_sketch_writes_final_svg_beside_final_png(tmp_path) -> None:
    done = _cli("--steps", "3", "--size", "32", "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    png = pil_to_tensor(load_image(tmp_path / "run" / "final.png"))[0].permute(1, 2, 0).numpy()
    svg = (tmp_path / "run" / "final.svg").read_text()
    # the PNG is 8-bit and holds the picture after the last step, as the SVG does
    assert np.abs(rasterise_svg(svg) - png).mean() < 0.03
    assert png.min() < 0.5 and np.median(png) > 0.9  # black lines on white


def test_cli_staged_sketch_keeps_the_last_stages_svg(tmp_path) -> None:
    done = _cli("--stages", "32:2,48:2", "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    top = (tmp_path / "run" / "final.svg").read_text()
    assert top == (tmp_path / "run" / "stages" / "2-48x48" / "final.svg").read_text()
    assert 'width="48"' in top


def test_cli_candidates_keep_the_best_candidates_svg(tmp_path) -> None:
    done = _cli("--steps", "2", "--size", "32", "--candidates", "2", "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    run = tmp_path / "run"
    svgs = {path.read_text() for path in run.glob("candidates/*/final.svg")}
    assert len(svgs) == 2
    top = (run / "final.svg").read_text()
    assert top in svgs
    # the kept SVG belongs to the kept picture
    best = next(p.parent for p in run.glob("candidates/*/final.svg") if p.read_text() == top)
    assert (best / "final.png").read_bytes() == (run / "final.png").read_bytes()


def test_cli_bad_group_is_one_line(tmp_path) -> None:
    done = _cli("--steps", "2", "--size", "32", "--set", "optimizer.groups.pointz=1", "--out", str(tmp_path / "bad"))
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1
    assert "no parameter group 'pointz'; did you mean 'points'" in done.stderr


def test_transparent_strokes_have_their_coverage_as_alpha_and_an_svg_without_background() -> None:
    context = tiny_context(32, 32)
    with seeded(1):
        generator = StrokesGenerator(StrokesSettings(count=3, width=4.0),
                                     type(context)(**{**context.__dict__, "transparent": True}))
    image = generator()
    assert image.shape == (1, 4, 32, 32) and image.min() >= 0 and image.max() <= 1
    with seeded(1):
        opaque = StrokesGenerator(StrokesSettings(count=3, width=4.0, background=(0.2, 0.4, 0.6)), context)()
    # the transparent picture over the opaque one's background is the opaque picture
    over = image[:, :3] * image[:, 3:] + torch.tensor([0.2, 0.4, 0.6]).view(1, 3, 1, 1) * (1 - image[:, 3:])
    assert torch.allclose(over, opaque, atol=1e-3)
    assert image[:, 3].min() < 0.01 and image[:, 3].max() > 0.9
    svg = generator.svg()
    assert "<rect" not in svg and svg.count("<path") == 3
    premultiplied = torch.cat([image[0, :3] * image[0, 3:], image[0, 3:]]).permute(1, 2, 0).detach().numpy()
    assert np.abs(rasterise_svg(svg, rgba=True) - premultiplied).mean() < 0.03


def test_cli_transparent_sketch_writes_an_rgba_png_and_its_svg(tmp_path) -> None:
    from PIL import Image

    from pixforge.cli import main

    out = tmp_path / "run"
    with pytest.raises(SystemExit) as done:
        main(["render", "a black cross", "--preset", "sketch", "--transparent", "--steps", "2", "--size", "32",
              "--set", "cutouts.count=4", "--seed", "1", "--out", str(out), "-q"])
    assert done.value.code in (0, None)
    assert Image.open(out / "final.png").mode == "RGBA"
    assert "<rect" not in (out / "final.svg").read_text()
