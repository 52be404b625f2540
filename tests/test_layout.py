"""A layout first: the shapes generator's best of N by CLIP, that the render's own generator starts from."""

from __future__ import annotations

import re

import pytest
import torch
from typer.testing import CliRunner

from pixforge import Observer, Pipeline, PixforgeError, RenderInterrupted
from pixforge.cli import app
from pixforge.layout import layout_config, layout_dir
from pixforge.outputs import load_image, pil_to_tensor
from pixforge.resume import read_status

#: a small, quick render of the default preset: 32 px, 3 steps, a layout of 2 candidates of 3 steps
TINY = ["size=32", "steps=3", "cutouts.count=4", "checkpoint_every=1", "layout.steps=3", "layout.candidates=2"]


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return Pipeline()


def _png(path) -> torch.Tensor:
    return pil_to_tensor(load_image(path))


class Recorder(Observer):
    """Which run folders started, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[str] = []

    def on_start(self, run) -> None:
        self.started.append(str(run.run_dir))


class KillIn(Observer):
    """Ctrl-C at ``step`` (1-based) of the first render whose folder is ``folder``."""

    def __init__(self, folder, step: int) -> None:
        super().__init__()
        self.folder, self.step, self.here, self.fired = str(folder), step, "", False

    def on_start(self, run) -> None:
        self.here = str(run.run_dir)

    def on_step(self, state) -> None:
        if not self.fired and self.here == self.folder and state.step + 1 == self.step:
            self.fired = True
            raise KeyboardInterrupt


def test_the_default_preset_has_a_shapes_layout_and_others_opt_out(pipe) -> None:
    config = pipe.resolve("a red circle on a blue background")
    assert config.layout is not None and config.layout.generator.name == "shapes"
    assert config.layout.candidates > 1 and config.generator.name == "vqgan"
    dvae = pipe.resolve("a", "dvae")  # the dVAE refines the default's layout too
    assert dvae.layout == config.layout and dvae.generator.name == "dvae"
    for preset in ("pixels", "shapes", "regions"):
        assert pipe.resolve("a", preset).layout is None, preset
    assert pipe.resolve("a", overrides=["layout=null"]).layout is None


def test_layout_settings_run_the_renders_own_prompts_at_most_its_steps(pipe) -> None:
    config = pipe.resolve("a red circle on a blue background", overrides=["steps=7", "layout.steps=50"])
    settings = layout_config(config)
    assert settings.generator.name == "shapes" and settings.layout is None
    assert settings.steps == 7 and settings.prompt == config.prompt and settings.perceptors == config.perceptors
    staged = pipe.resolve("a", stages="32:5,64:9", overrides=["layout.steps=4"])
    assert layout_config(staged).size == (32, 32) and layout_config(staged).steps == 4


def test_a_render_starts_from_its_best_layout(pipe, tmp_path) -> None:
    seen = Recorder()
    result = pipe.render("a red circle on a blue background", overrides=TINY, seed=3, out=tmp_path / "run",
                         observers=[seen])
    layout = layout_dir(tmp_path / "run")
    assert result.extras["layout"] == str(layout)
    # the shapes generator draws the candidates as one batch of samples, each leaning to its own shape
    assert sorted(p.name for p in (layout / "candidates").iterdir()) == ["batch", "sample-0", "sample-1"]
    assert (layout / "candidates.png").is_file() and read_status(layout)["status"] == "completed"
    # the layout's render ran first, then the render itself, in its own folder
    assert seen.started == [str(layout / "candidates" / "batch"), str(tmp_path / "run")]
    best = _png(layout / "final.png")
    assert any(torch.equal(best, _png(layout / "candidates" / f"sample-{k}" / "final.png")) for k in (0, 1))
    # the render began from the layout: without it, the same seed gives another picture
    alone = pipe.render("a red circle on a blue background", overrides=[*TINY, "layout=null"], seed=3,
                        out=tmp_path / "alone")
    assert not torch.equal(result.tensor, alone.tensor)
    assert not (tmp_path / "alone" / "layout").exists()


def test_same_seed_same_bytes_and_an_init_image_wins(pipe, tmp_path) -> None:
    first = pipe.render("a green square on a white background", overrides=TINY, seed=5, out=tmp_path / "a")
    again = pipe.render("a green square on a white background", overrides=TINY, seed=5, out=tmp_path / "b")
    assert (tmp_path / "a" / "final.png").read_bytes() == (tmp_path / "b" / "final.png").read_bytes()
    assert torch.equal(first.tensor, again.tensor)
    init = tmp_path / "a" / "final.png"
    with_init = pipe.render("a green square on a white background", overrides=TINY, seed=5, out=tmp_path / "c",
                            init_image=str(init))
    assert not (tmp_path / "c" / "layout").exists() and "layout" not in with_init.extras


def test_a_stop_in_the_layout_resumes_to_the_same_bytes(pipe, tmp_path) -> None:
    whole = pipe.render("a blue ring on a yellow background", overrides=TINY, seed=8, out=tmp_path / "whole")
    with pytest.raises(RenderInterrupted) as stop:
        pipe.render("a blue ring on a yellow background", overrides=TINY, seed=8, out=tmp_path / "cut",
                    observers=[KillIn(layout_dir(tmp_path / "cut") / "candidates" / "batch", 2)])
    assert str(stop.value).endswith(f"--resume {tmp_path / 'cut'}")
    assert read_status(tmp_path / "cut")["status"] == "interrupted"
    assert (tmp_path / "cut" / "final.png").is_file()  # the picture so far is kept
    resumed = pipe.resume(tmp_path / "cut")
    assert torch.equal(resumed.tensor, whole.tensor)
    assert (tmp_path / "cut" / "final.png").read_bytes() == (tmp_path / "whole" / "final.png").read_bytes()


def test_a_stop_after_the_layout_resumes_from_the_checkpoint(pipe, tmp_path) -> None:
    whole = pipe.render("a blue ring on a yellow background", overrides=TINY, seed=8, out=tmp_path / "whole")
    with pytest.raises(RenderInterrupted):
        pipe.render("a blue ring on a yellow background", overrides=TINY, seed=8, out=tmp_path / "cut",
                    observers=[KillIn(tmp_path / "cut", 2)])
    assert (tmp_path / "cut" / "checkpoint.pt").is_file()
    seen = Recorder()
    resumed = pipe.resume(tmp_path / "cut", observers=[seen])
    assert torch.equal(resumed.tensor, whole.tensor)
    assert seen.started == [str(tmp_path / "cut")]  # the finished layout is not rendered again


def test_an_init_image_loss_on_the_start_keeps_to_the_layout_also_after_a_resume(pipe, tmp_path) -> None:
    keep = [*TINY, "losses-=init_image", "losses+={name: init_image, weight: 5.0, settings: {target: start}}"]
    whole = pipe.render("a blue ring on a yellow background", overrides=keep, seed=8, out=tmp_path / "whole")
    assert min(row["init_image"] for row in whole.losses) > 0  # the layout is the pull's target
    free = pipe.render("a blue ring on a yellow background", overrides=[*TINY, "losses-=init_image"], seed=8,
                       out=tmp_path / "free")
    layout = _png(tmp_path / "whole" / "layout" / "final.png")
    assert (whole.tensor - layout).pow(2).mean() < (free.tensor - layout).pow(2).mean()
    with pytest.raises(RenderInterrupted):
        pipe.render("a blue ring on a yellow background", overrides=keep, seed=8, out=tmp_path / "cut",
                    observers=[KillIn(tmp_path / "cut", 2)])
    resumed = pipe.resume(tmp_path / "cut")
    assert torch.equal(resumed.tensor, whole.tensor)


def test_a_staged_render_starts_its_first_stage_from_the_layout(pipe, tmp_path) -> None:
    result = pipe.render("a red cross on a white background", stages="32:2,48:2", seed=1, out=tmp_path / "run",
                         overrides=["cutouts.count=4", "layout.steps=2", "layout.candidates=2"])
    assert (layout_dir(tmp_path / "run") / "final.png").is_file()
    assert result.tensor.shape[-1] == 48 and not (tmp_path / "run" / "stages" / "1-32x32" / "layout").exists()


def test_bad_layout_settings_are_one_line(pipe) -> None:
    for override, words in (
        ("layout.generator.name=shapez", "unknown generator 'shapez'; did you mean 'shapes'?"),
        ("layout.candidates=0", "layout.candidates"),
        ("layout.generator.settings.edge=-1", "layout generator 'shapes' settings: bad value -1 for 'edge'"),
    ):
        with pytest.raises(PixforgeError, match=re.escape(words)) as caught:
            pipe.resolve("a", overrides=[override])
        assert "\n" not in str(caught.value)


def test_the_cli_renders_with_a_layout(tmp_path) -> None:
    out = tmp_path / "run"
    done = CliRunner().invoke(app, [
        "render", "a red circle on a blue background", "--seed", "2", "--steps", "2", "--size", "32",
        "--set", "layout.candidates=2", "--set", "layout.steps=2", "-q", "--out", str(out),
    ])
    assert done.exit_code == 0, done.output
    assert (out / "layout" / "final.png").is_file() and (out / "final.png").is_file()
    assert "layout" in (out / "settings.yaml").read_text()


def test_an_animations_first_frame_starts_from_the_layout(pipe, tmp_path) -> None:
    import pixforge

    small = {"size": 32, "steps": 2, "steps_per_frame": 2, "seed": 3}
    overrides = ["cutouts.count=2", "layout.steps=2", "layout.candidates=2"]
    pixforge.animate("a green ring", frames=2, overrides=overrides, out=tmp_path / "on", pipeline=pipe, video=False,
                     **small)
    pixforge.animate("a green ring", frames=2, overrides=[*overrides, "layout=null"], out=tmp_path / "off",
                     pipeline=pipe, video=False, **small)
    assert (layout_dir(tmp_path / "on") / "final.png").is_file() and not layout_dir(tmp_path / "off").exists()
    frames_on = sorted((tmp_path / "on").glob("frames/*.png"))
    frames_off = sorted((tmp_path / "off").glob("frames/*.png"))
    assert frames_on and len(frames_on) == len(frames_off)
    assert not torch.equal(_png(frames_on[0]), _png(frames_off[0]))


def test_a_wallpaper_group_gets_a_layout_of_one_cell_repeated(pipe, tmp_path) -> None:
    """p4m over 2 x 2 cells: the layout draws one cell with the group on it alone, and the render starts from
    that cell repeated 2 x 2; averaged over the cells, a whole-canvas layout faded to a flat ground."""
    from pixforge.layout import cell_layout, render_layout

    config = pipe.resolve("a red circle on a blue background", overrides=[*TINY, "size=64"],
                          wallpaper={"symmetry": "p4m", "cells": 2})
    settings, repeats = cell_layout(pipe, layout_config(config))
    assert repeats == 2 and settings.size == (32, 32)
    assert settings.filters[0].settings == {"symmetry": "p4m", "cells": 1}
    plain, one = cell_layout(pipe, layout_config(pipe.resolve("a", wallpaper="mirror_x")))
    assert one == 1 and plain.filters[0].settings["symmetry"] == "mirror_x"
    config.seed = 2
    start = render_layout(pipe, config, tmp_path / "run")
    cell = _png(layout_dir(tmp_path / "run") / "final.png")
    assert tuple(cell.shape[-2:]) == (32, 32) and torch.equal(start, cell.repeat(1, 1, 2, 2))
    # the cell keeps its primitive: the red circle stands out of the blue ground
    assert (start[0, 0] - start[0, 2]).amax() > 0.3 and (start[0, 2] - start[0, 0]).amax() > 0.3

