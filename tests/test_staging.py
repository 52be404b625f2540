"""Staged renders: stages from small to large, each starting from the last one's picture; resume keeps finished stages."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch

from pixforge import ConfigError, Observer, Pipeline, RenderInterrupted
from pixforge.outputs import load_image, pil_to_tensor, read_render_settings
from pixforge.resume import read_status
from pixforge.staging import stage_dir

TINY = ["cutouts.count=4", "checkpoint_every=2"]


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return Pipeline()


class KillAt(Observer):
    """Ctrl-C after ``step`` (1-based) of the stage whose folder name starts with ``prefix``."""

    def __init__(self, prefix: str, step: int) -> None:
        super().__init__()
        self.prefix, self.step, self.here = prefix, step, ""

    def on_start(self, run) -> None:
        self.here = run.run_dir.name

    def on_step(self, state) -> None:
        if self.here.startswith(self.prefix) and state.step + 1 == self.step:
            raise KeyboardInterrupt


def test_stages_parse_from_text_and_lists(pipe) -> None:
    config = pipe.resolve("a", stages="32:6, 48x40:4")
    assert [(s.size, s.steps) for s in config.stages] == [((32, 32), 6), ((48, 40), 4)]
    same = pipe.resolve("a", stages=[{"size": 32, "steps": 6}, {"size": [48, 40], "steps": 4}])
    assert same.stages == config.stages


@pytest.mark.parametrize(
    ("stages", "words"),
    [
        ("64:8,32:4", "stage 2 (32x32) is smaller than stage 1 (64x64)"),
        ("64-8", "must look like SIZE:STEPS"),
        ("64:0", "stages.0.steps"),
        ("4:5", "between 8 and 8192"),
        ([{"size": 32}], "missing required key 'stages.0.steps'"),
    ],
)
def test_bad_stages_are_one_line(pipe, stages, words) -> None:
    with pytest.raises(ConfigError, match=re.escape(words)) as caught:
        pipe.resolve("a", stages=stages)
    assert "\n" not in str(caught.value)


def test_a_staged_render_ends_at_the_last_size_with_every_stage_kept(pipe, tmp_path) -> None:
    result = pipe.render("a red circle", out=tmp_path / "run", seed=3, stages="32:4,48:3", overrides=TINY)
    assert result.image.size == (48, 48) and result.steps_done == 7 and result.status == "completed"
    assert [row["step"] for row in result.losses] == list(range(1, 8))
    assert read_status(tmp_path / "run") == {"status": "completed", "steps_done": 7, "total_steps": 7, "message": ""}
    for index, (size, steps) in enumerate([(32, 4), (48, 3)], start=1):
        folder = tmp_path / "run" / "stages" / f"{index}-{size}x{size}"
        assert load_image(folder / "final.png").size == (size, size)
        assert read_status(folder)["steps_done"] == steps
    # the top final.png is the last stage's picture and replays the whole staged render
    top, last = (pil_to_tensor(load_image(p)) for p in (result.final_path, tmp_path / "run/stages/2-48x48/final.png"))
    assert torch.equal(top, last)
    replay = read_render_settings(result.final_path)
    assert replay["stages"] == [{"size": [32, 32], "steps": 4}, {"size": [48, 48], "steps": 3}]
    assert replay["size"] == [48, 48] and replay["steps"] == 7


def test_each_stage_starts_from_the_last_stage_upsampled(pipe, tmp_path) -> None:
    """With a learning rate too small to move anything, stage 2 ends where stage 1 ended, only larger."""
    overrides = [*TINY, "generator={name: pixel, settings: {grid: [16, 16]}}", "optimizer.lr=1e-9"]
    result = pipe.render("a red circle", out=tmp_path / "run", seed=4, stages="16:2,32:1", overrides=overrides)
    first = pil_to_tensor(load_image(tmp_path / "run/stages/1-16x16/final.png"))
    config = pipe.resolve("a red circle", size=32, overrides=overrides)
    generator = pipe.build_component("generator", config.generator, pipe.context(config, torch.device("cpu")))
    generator.from_image(first)
    with torch.no_grad():
        expected = generator()
    assert (pil_to_tensor(result.image) - expected).abs().max() <= 1 / 255
    fresh = pipe.render("a red circle", out=tmp_path / "fresh", seed=4, size=32, steps=1,
                        overrides=[*overrides, "layout=null"])
    assert (pil_to_tensor(fresh.image) - expected).abs().mean() > 0.05  # a render that starts afresh differs


def test_an_rgba_start_sets_the_generators_alpha_map(pipe) -> None:
    config = pipe.resolve("a red circle", size=32, overrides=["generator={name: pixel, settings: {grid: [8, 8]}}",
                                                              "transparency.enabled=true"])
    generator = pipe.build_component("generator", config.generator, pipe.context(config, torch.device("cpu")))
    start = torch.rand(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    start[:, 3] = 0.1
    start[:, 3, :, 8:] = 0.9  # clear on the left, opaque on the right
    generator.from_image(start)
    with torch.no_grad():
        alpha = generator()[0, 3]
    assert alpha[:, :12].max() < 0.2 and alpha[:, 20:].min() > 0.8


def test_a_transparent_staged_render_starts_each_stage_from_the_last_alpha(pipe, tmp_path) -> None:
    import numpy as np

    overrides = [*TINY, "generator={name: pixel, settings: {grid: [8, 8]}}", "optimizer.lr=0.3"]
    result = pipe.render("a red circle", out=tmp_path / "run", seed=2, stages="16:6,32:1", transparent=True,
                         overrides=overrides)
    first = load_image(tmp_path / "run/stages/1-16x16/final.png")
    first_alpha = torch.from_numpy(np.asarray(first.getchannel("A"), dtype=np.float32) / 255)
    second_alpha = torch.from_numpy(np.asarray(result.image.getchannel("A"), dtype=np.float32) / 255)
    assert result.image.mode == "RGBA" and float(first_alpha.std()) > 0.02  # stage 1 shaped its alpha
    up = torch.nn.functional.interpolate(first_alpha[None, None], size=(32, 32), mode="bilinear")[0, 0]
    # one step later the second stage's alpha still follows the first's (it used to restart flat at 0.5)
    correlation = torch.corrcoef(torch.stack([up.flatten(), second_alpha.flatten()]))[0, 1]
    assert float(correlation) > 0.8


@pytest.mark.parametrize(("prefix", "step"), [("1-", 3), ("2-", 3)])
def test_a_killed_staged_render_resumes_in_its_stage_with_the_same_bytes(pipe, tmp_path, prefix, step) -> None:
    kwargs = {"seed": 5, "stages": "32:4,48:4", "overrides": TINY}
    full = pipe.render("a blue star", out=tmp_path / "full", **kwargs)
    with pytest.raises(RenderInterrupted, match="continue with: pixforge render --resume") as stop:
        pipe.render("a blue star", out=tmp_path / "cut", observers=[KillAt(prefix, step)], **kwargs)
    assert str(tmp_path / "cut") in str(stop.value) and "stages" not in str(stop.value).split("--resume")[1]
    assert read_status(tmp_path / "cut")["status"] == "interrupted"
    resumed = pipe.resume(tmp_path / "cut")
    assert resumed.status == "completed" and resumed.steps_done == 8
    assert resumed.final_path.read_bytes() == full.final_path.read_bytes()
    config = pipe.resolve("a", stages="32:4,48:4")
    for index, stage in enumerate(config.stages, start=1):
        assert stage_dir(tmp_path / "cut", index, stage).joinpath("final.png").read_bytes() == stage_dir(
            tmp_path / "full", index, stage).joinpath("final.png").read_bytes()


def test_cli_staged_render_and_its_bad_input(tmp_path) -> None:
    cli = [sys.executable, "-m", "pixforge.cli", "render", "a red circle", "-q", "--set", "cutouts.count=4"]
    done = subprocess.run([*cli, "--stages", "32:2,40:2", "--seed", "1", "--out", str(tmp_path / "run")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "4 steps" in done.stdout and load_image(tmp_path / "run" / "final.png").size == (40, 40)
    for bad, words in ((["--stages", "32:2,16:2"], "smaller than stage 1"), (["--stages", "32:2", "--steps", "5"],
                       "leave out --steps and --size")):
        failed = subprocess.run([*cli, *bad, "--out", str(tmp_path / "bad")], capture_output=True, text=True)
        assert failed.returncode == 1 and words in failed.stderr and len(failed.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_kill_9_in_the_second_stage_then_resume_gives_identical_bytes(tmp_path) -> None:
    import os
    import signal
    import time

    args = ["render", "a blue star", "-q", "--seed", "6", "--stages", "32:6,48:8", "--set", "cutouts.count=4",
            "--set", "checkpoint_every=2"]
    cli = [sys.executable, "-m", "pixforge.cli"]
    subprocess.run([*cli, *args, "--out", str(tmp_path / "full")], check=True, capture_output=True)
    out = tmp_path / "cut"
    process = subprocess.Popen([*cli, *args, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = out / "stages" / "2-48x48" / "losses.csv"
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if log.is_file() and len(log.read_text().splitlines()) - 1 >= 5:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert (out / "stages" / "2-48x48" / "checkpoint.pt").is_file() and not (out / "final.png").exists()
    done = subprocess.run([*cli, "render", "--resume", str(out), "-q"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (out / "final.png").read_bytes() == (tmp_path / "full" / "final.png").read_bytes()
    assert read_status(out)["status"] == "completed"
