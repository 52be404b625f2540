"""The ``posterize`` filter: a picture in its own few k-means colours, from Python, the CLI and replays."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import torch
from PIL import Image
from typer.testing import CliRunner

from pixforge.cli import app
from pixforge.testing import FilterContract, build_component
from pixforge_filters.posterize import PosterizeFilter, picture_centres


class TestPosterizeThree(FilterContract):
    component = PosterizeFilter
    settings = {"colors": 3}


class TestPosterizeSoft(FilterContract):
    component = PosterizeFilter
    settings = {"colors": 2, "gradient": "soft", "sharpness": 5.0}


def two_halves(batch: int = 1) -> torch.Tensor:
    """A noisy red left half and a noisy blue right half."""
    noise = torch.rand(batch, 3, 16, 16, generator=torch.Generator().manual_seed(3)) * 0.1
    image = noise.clone()
    image[:, 0, :, :8] += 0.85
    image[:, 2, :, 8:] += 0.85
    return image


def test_each_picture_keeps_only_its_own_colours_and_gradients_reach_every_pixel() -> None:
    flt = build_component(PosterizeFilter, {"colors": 2})
    image = torch.cat([two_halves(), 1 - two_halves()]).requires_grad_(True)
    out = flt(image)
    for index in range(2):
        colours = torch.unique(out[index].detach().flatten(1).T, dim=0)
        assert len(colours) == 2
        left, right = out[index, :, :, :8].detach(), out[index, :, :, 8:].detach()
        assert torch.unique(left.flatten(1).T, dim=0).shape[0] == 1  # each half one flat colour
        assert not torch.equal(left[:, 0, 0], right[:, 0, 0])
    out.sum().backward()
    assert torch.equal(image.grad, torch.ones_like(image))  # identity: straight through to every pixel


def test_the_loss_is_the_distance_to_the_pictures_own_centres() -> None:
    flt = build_component(PosterizeFilter, {"colors": 2})
    flat = torch.zeros(1, 3, 8, 8)
    flat[:, 1, :, :4] = 1
    assert flt.loss(flat, flt(flat)).item() == 0  # two flat colours already
    assert flt.loss(two_halves(), flt(two_halves())).item() > 0


def test_a_flat_start_splits_with_the_identity_gradient_and_not_with_the_soft_one() -> None:
    grey = torch.full((1, 3, 8, 8), 0.5, requires_grad=True)
    push = torch.linspace(-1, 1, 64).reshape(1, 1, 8, 8).expand(1, 3, 8, 8)
    for gradient, moves in (("identity", True), ("soft", False)):
        grey.grad = None
        (build_component(PosterizeFilter, {"colors": 2, "gradient": gradient})(grey) * push).sum().backward()
        assert bool(grey.grad.abs().sum() > 0) is moves


def test_centres_are_the_same_bits_on_one_and_two_threads() -> None:
    code = (
        "import sys, torch; torch.set_num_threads(int(sys.argv[1]));"
        "from pixforge_filters.posterize import picture_centres;"
        "x = torch.rand(3, 96, 96, generator=torch.Generator().manual_seed(5));"
        "print(picture_centres(x, 5, 8).numpy().tobytes().hex())"
    )
    outputs = {subprocess.run([sys.executable, "-c", code, str(n)], capture_output=True, text=True,
                              check=True).stdout for n in (1, 2)}
    assert len(outputs) == 1
    assert picture_centres(torch.rand(3, 4, 4), 5, 2).shape == (5, 3)


def test_python_keyword_and_cli_render_posterized_and_replay_to_the_same_bytes(tmp_path) -> None:
    from pixforge import Pipeline
    from pixforge.testing import DummyPlugin

    preset = {"generator": {"name": "dummy"}, "perceptors": [{"name": "dummy", "settings": {"size": 16, "dim": 8}}],
              "losses": [{"name": "clip_prompt"}], "cutouts": {"count": 2}, "size": [24, 16], "steps": 3}
    result = Pipeline(plugins=[DummyPlugin()]).render("a red circle", preset, out=tmp_path / "p", seed=1, posterize=3)
    pixels = np.asarray(Image.open(result.final_path).convert("RGB")).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) <= 3 and "posterize" in result.losses[-1]
    [spec] = result.settings["filters"]
    assert spec["name"] == "posterize" and spec["settings"]["colors"] == 3

    args = ["render", "a red circle on a blue background", "--set", "posterize=2", "--seed", "3", "--steps", "2",
            "--size", "32", "--set", "cutouts.count=2", "-q"]
    first = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    final = tmp_path / "a" / "final.png"
    assert len(np.unique(np.asarray(Image.open(final).convert("RGB")).reshape(-1, 3), axis=0)) <= 2
    replay = CliRunner().invoke(app, ["render", "--from", str(final), "--out", str(tmp_path / "b"), "-q"])
    assert replay.exit_code == 0, replay.output
    assert (tmp_path / "b" / "final.png").read_bytes() == final.read_bytes()


def test_a_bad_colour_count_is_one_line_naming_it(tmp_path) -> None:
    bad = CliRunner().invoke(app, ["render", "a red circle", "--set", "posterize=1", "--steps", "1", "--size", "32",
                                   "--out", str(tmp_path / "x"), "-q"])
    assert bad.exit_code != 0 and "Traceback" not in bad.output
    line = bad.output.strip().splitlines()[-1]
    assert "posterize" in line and "colors" in line and "2" in line
