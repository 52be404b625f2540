"""Schedules, scenes, ``animate`` (seeded, resumable after kill -9), ``stylize`` and their CLI errors."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from pixforge.animation.schedules import parse_schedule
from pixforge.animation.warp import warp
from pixforge.errors import ConfigError
from pixforge.prompts import parse_prompts

#: the smallest animation that runs every stage: 32 px, two cutouts, two steps a frame
SMALL = {"size": 32, "steps": 2, "steps_per_frame": 2, "seed": 3}
OVERRIDES = ["cutouts.count=2"]
CLI_SMALL = ["--size", "32", "--steps", "2", "--steps-per-frame", "2", "--seed", "3", "--set", "cutouts.count=2", "-q"]


# -- schedules ---------------------------------------------------------------------------------


def test_keyframes_interpolate_linearly_and_hold_at_the_ends() -> None:
    schedule = parse_schedule("0: (1.0), 40: (0.2)")
    assert [schedule(t) for t in (-5, 0, 20, 40, 100)] == pytest.approx([1.0, 1.0, 0.6, 0.2, 0.2])
    steps = parse_schedule("10: (0), 20: (t/10)")  # a key's value may itself be an expression of t
    assert steps(15) == pytest.approx(0.5 * 0 + 0.5 * 1.5)


def test_expressions_of_t_use_the_allowed_functions() -> None:
    schedule = parse_schedule("1 + 0.01*sin(t/5)")
    assert schedule(10) == pytest.approx(1 + 0.01 * math.sin(2))
    assert parse_schedule("max(0, floor(t) - pi) ** 2")(5) == pytest.approx((5 - math.pi) ** 2)
    assert parse_schedule(2)(7) == 2.0 and parse_schedule("3").is_constant


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("__import__('os')", "the call of '__import__'"),
        ("t.real", "attribute access"),
        ("().__class__", "attribute access"),
        ("foo + t", "the name 'foo'"),
        ("open('x')", "the call of 'open'"),
        ("'a'", "the literal"),
        ("lambda: 1", "lambda"),
        ("[t]", "[t]"),
        ("sin(x=t)", "keyword arguments"),
        ("t if t else 1", "if"),
    ],
)
def test_rejected_expressions_say_what_and_where_in_one_line(text: str, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_schedule(text, "animation.zoom")
    message = str(caught.value)
    assert message.startswith("animation.zoom: ") and named in message and "\n" not in message
    assert "allowed:" in message and "sin" in message


def test_bad_keyframes_and_values_are_clear() -> None:
    with pytest.raises(ConfigError, match="must increase"):
        parse_schedule("0: (1), 0: (2)")
    with pytest.raises(ConfigError, match="power too large"):
        parse_schedule("9**9**9")
    with pytest.raises(ConfigError, match=r"cannot be evaluated at t=1"):
        parse_schedule("1/(t-1)")(1)
    with pytest.raises(ConfigError, match="empty schedule"):
        parse_schedule(" ")


# -- scenes and prompt-weight schedules --------------------------------------------------------


def test_scenes_share_the_steps_in_order_and_crossfade() -> None:
    prompts = parse_prompts("a red circle || a blue star:2 || a green ring", total=30, transition=4)
    weights = {t: [p.at(t) for p in prompts] for t in range(30)}
    assert weights[0] == [1.0, 0.0, 0.0] and weights[15] == [0.0, 2.0, 0.0] and weights[29] == [0.0, 0.0, 1.0]
    assert weights[10] == pytest.approx([0.5, 1.0, 0.0])  # the middle of the first crossfade (10 = 30/3)
    for t in range(30):  # the scenes' shares always sum to one
        assert weights[t][0] + weights[t][1] / 2 + weights[t][2] == pytest.approx(1.0)
    cut = parse_prompts("a || b", total=10)
    assert [p.at(4) for p in cut] == [1.0, 0.0] and [p.at(5) for p in cut] == [0.0, 1.0]


def test_scene_and_weight_schedule_errors() -> None:
    with pytest.raises(ConfigError, match="every scene between '||' needs a prompt"):
        parse_prompts("a red circle || ", total=10)
    with pytest.raises(ConfigError, match="longer than a scene"):
        parse_prompts("a || b", total=10, transition=6)
    with pytest.raises(ConfigError, match=r"prompt 'x:\[os\.system\(1\)\]' weight: .*the call of 'os.system'"):
        parse_prompts("x:[os.system(1)]")


def test_a_weight_in_brackets_is_a_schedule_and_plain_prompts_are_unchanged() -> None:
    [scheduled, plain] = parse_prompts("a red circle:[0: (1.0), 40: (0.2)]:0.5|style: watercolor:2")
    assert scheduled.value == "a red circle" and scheduled.stop == 0.5 and scheduled.at(20) == pytest.approx(0.6)
    assert plain.value == "style: watercolor" and plain.weight == 2.0 and plain.schedule is None


def test_clip_prompt_reads_a_scheduled_weight_each_step() -> None:
    from pixforge_losses.clip_prompt import Targets, prompt_losses

    prompts = parse_prompts("a:[0: (1), 10: (-1)]|b:3")
    targets = Targets(torch.eye(2), torch.tensor([1.0, 3.0]), torch.full((2,), -math.inf), scheduled=prompts)
    embeddings = torch.tensor([[0.0, 1.0]])
    assert prompt_losses(embeddings, targets, 0)[0] > 0 and prompt_losses(embeddings, targets, 10)[0] < 0
    assert prompt_losses(embeddings, targets, 5)[0] == pytest.approx(0.0)


# -- warp --------------------------------------------------------------------------------------


@pytest.mark.parametrize("infill", ["wrap", "mirror", "smear", "black"])
def test_warp_moves_the_picture_and_fills_with_the_infill(infill: str) -> None:
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(warp(image, infill=infill), image, atol=1e-5)
    moved = warp(image, translate_x=3, infill=infill)
    assert torch.allclose(moved[..., 3:], image[..., :-3], atol=1e-5)
    edge = {"wrap": image[..., -3:], "black": torch.zeros_like(image[..., :3]),
            "smear": image[..., :1].expand(-1, -1, -1, 3), "mirror": image[..., 1:4].flip(-1)}[infill]
    assert torch.allclose(moved[..., :3], edge, atol=1e-5)


# -- animate -----------------------------------------------------------------------------------


def _frames(folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((folder / "frames").glob("*.png"))]


def test_animate_three_frames_gives_the_same_bytes_twice(tmp_path: Path) -> None:
    import pixforge

    pipe = pixforge.Pipeline()
    runs = [
        pixforge.animate("a red circle || a blue star", frames=3, zoom="0: (1.0), 2: (1.2)", rotate="2*sin(t)",
                         translate_x=1, infill="wrap", overrides=OVERRIDES, out=tmp_path / name, pipeline=pipe,
                         video=False, gif=True, **SMALL)
        for name in ("one", "two")
    ]
    assert len(_frames(tmp_path / "one")) == 3 and _frames(tmp_path / "one") == _frames(tmp_path / "two")
    assert len(set(_frames(tmp_path / "one"))) == 3  # the frames move
    assert [v.name for v in runs[0].videos] == ["video.gif"]
    from pixforge.animation.video import read_clip

    clip = read_clip(runs[0].videos[0])
    assert len(clip.frames) == 3 and clip.fps == pytest.approx(1000 / 80)  # 12 fps in a GIF's 10 ms ticks
    from PIL import Image

    final, last = (np.asarray(Image.open(p)) for p in (runs[0].final_path, runs[0].frames[-1]))
    assert np.array_equal(final, last) and "animation:" in Image.open(runs[0].final_path).text["pixforge:settings"]
    assert runs[0].settings["animation"]["frames"] == 3


def test_an_interrupted_animation_resumes_to_the_same_frames(tmp_path: Path) -> None:
    import pixforge
    from pixforge import Observer
    from pixforge.animation.frames import AnimationInterrupted

    pipe = pixforge.Pipeline()
    full = pixforge.animate("a green ring", frames=3, zoom=1.1, overrides=OVERRIDES, out=tmp_path / "full",
                            pipeline=pipe, video=False, **SMALL)
    seen = []

    class Stop(Observer):
        def on_step(self, state):
            seen.append(state.step)
            # the first frame's layout (shapes, as many steps as the frame), the first frame, then the second
            if len(seen) == 2 * SMALL["steps"] + 1:
                raise KeyboardInterrupt

    with pytest.raises(AnimationInterrupted, match=r"frame 2 of 3.*pixforge animate --resume"):
        pixforge.animate("a green ring", frames=3, zoom=1.1, overrides=OVERRIDES, out=tmp_path / "cut",
                         pipeline=pipe, video=False, observers=[Stop()], **SMALL)
    assert len(_frames(tmp_path / "cut")) == 1
    resumed = pixforge.animate(resume=tmp_path / "cut", pipeline=pipe)
    assert resumed.frames_made == 2 and _frames(tmp_path / "cut") == _frames(full.run_dir)
    assert resumed.final_path.read_bytes() == full.final_path.read_bytes()  # its settings text too
    assert (tmp_path / "cut" / "settings.yaml").read_text() == (full.run_dir / "settings.yaml").read_text()


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "pixforge.cli", *args]


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


@pytest.mark.slow
def test_kill_9_mid_animation_then_resume_equals_the_uninterrupted_frames(tmp_path: Path) -> None:
    args = ["animate", "a blue star", "--frames", "4", "--zoom", "1.05", "--rotate", "0: (0), 3: (6)", "--no-video",
            *CLI_SMALL]
    reference = tmp_path / "reference"
    subprocess.run(_cli(*args, "--out", str(reference)), check=True, capture_output=True, env=ENV, timeout=300)
    cut = tmp_path / "cut"
    process = subprocess.Popen(_cli(*args, "--out", str(cut)), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=ENV)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None and not (cut / "frames" / "00001.png").is_file():
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    kept = len(_frames(cut))
    assert 1 <= kept < 4, f"the kill came too late ({kept} frames kept)"
    done = subprocess.run(_cli("animate", "--resume", str(cut), "-q"), capture_output=True, text=True, env=ENV,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert _frames(cut) == _frames(reference) and len(_frames(cut)) == 4


def test_an_mp4_of_odd_sides_is_written_with_the_edge_repeated(tmp_path: Path) -> None:
    from pixforge.animation.video import read_clip, write_video

    frames = [np.full((33, 35, 3), 40 * i, np.uint8) for i in range(3)]
    clip = read_clip(write_video(frames, tmp_path / "odd.mp4", 6))
    assert len(clip.frames) == 3 and clip.frames[0].shape == (34, 36, 3) and clip.fps == 6.0


# -- stylize -----------------------------------------------------------------------------------


def _clip(path: Path, frames: int = 3, fps: float = 8) -> Path:
    from pixforge.animation.video import write_video

    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    return write_video([np.roll(base, i, axis=1) for i in range(frames)], path, fps)


@pytest.mark.parametrize("kind", ["mp4", "gif", "folder"])
def test_stylize_keeps_the_frame_count_and_rate(tmp_path: Path, kind: str) -> None:
    import pixforge
    from pixforge.animation.video import read_clip

    if kind == "folder":
        from PIL import Image

        source = tmp_path / "in"
        source.mkdir()
        for i, frame in enumerate(read_clip(_clip(tmp_path / "in.mp4", 4)).frames):
            Image.fromarray(frame).save(source / f"{i:03d}.png")
    else:
        source = _clip(tmp_path / f"in.{kind}", 4)
    result = pixforge.stylize(source, "a red circle", out=tmp_path / "out", overrides=OVERRIDES, seed=1,
                              steps_per_frame=2, fps=5)
    assert len(result.frames) == 4
    rate = 5.0 if kind == "folder" else read_clip(source).fps  # a folder has none: --fps
    expected = {"mp4": ("video.mp4", rate), "gif": ("video.gif", rate), "folder": ("video.mp4", rate)}
    name, fps = expected[kind]
    [video] = result.videos
    clip = read_clip(video)
    assert video.name == name and len(clip.frames) == 4 and clip.fps == pytest.approx(fps)


# -- the command line --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["animate"], "animate needs a PROMPT"),
        (["animate", "a red circle", "--zoom", "__import__('os')"], "animation.zoom: expression"),
        (["animate", "a red circle", "--infill", "tiles"], "'animation.infill'"),
        (["animate", "a red circle", "--set", "animation.zom=2"], "did you mean 'zoom'"),
        (["animate", "--resume", "nowhere"], "not an animation's run folder"),
        (["animate", "--resume", ".", "--frames", "3"], "give only --resume DIR"),
        (["stylize", "missing.mp4", "a red circle"], "no such file or folder"),
        (["stylize", "notes.txt", "a red circle"], "give an .mp4, a .gif or a folder"),
    ],
)
def test_cli_mistakes_end_in_one_line(capsys, monkeypatch, tmp_path: Path, args: list[str], says: str) -> None:
    from faultkit import run_main

    (tmp_path / "notes.txt").write_text("not a video")
    ran = run_main(capsys, monkeypatch, *args)
    assert ran.clean_failure and says in ran.err, ran.explain()


def test_a_preset_carries_the_animation_and_a_bad_key_is_named(tmp_path: Path) -> None:
    import pixforge

    preset = tmp_path / "zoomy.yaml"
    preset.write_text("extends: default\nanimation: {frames: 2, zoom: '1 + 0.1*t', infill: black, video: false}\n")
    result = pixforge.animate("a red circle", preset, out=tmp_path / "run", overrides=OVERRIDES, **SMALL)
    assert len(result.frames) == 2 and result.settings["animation"]["zoom"] == "1 + 0.1*t"
    preset.write_text("extends: default\nanimation: {frames: 2, zooom: 1.1}\n")
    with pytest.raises(ConfigError, match=r"unknown key 'animation.zooom'; did you mean 'zoom'"):
        pixforge.animate("a red circle", preset, out=tmp_path / "bad", **SMALL)


def test_a_sweep_animates_when_its_settings_carry_an_animation(tmp_path: Path) -> None:
    from pixforge.sweep import load_spec, plan, run_sweep

    spec = load_spec(data={
        "base": {"prompt": "a red circle", "size": 32, "steps": 2, "cutouts.count": 2, "seed": 1, "animation.frames": 2,
                 "animation.steps_per_frame": 2, "animation.video": False},
        "grid": {"animation.zoom": [1.0, "1 + 0.1*t"]},
    })
    report = run_sweep(plan(spec, tmp_path / "sweep"), tmp_path / "sweep")
    assert report.ok and [r.steps_done for r in report.results] == [2, 2]
    folders = sorted(p.parent for p in (tmp_path / "sweep").glob("*/animation.json"))
    assert len(folders) == 2 and all(len(_frames(f)) == 2 for f in folders)
    again = run_sweep(plan(spec, tmp_path / "sweep"), tmp_path / "sweep")
    assert [r.action for r in again.results] == ["skipped", "skipped"]


def test_a_still_render_plays_its_scenes_over_the_steps(tmp_path: Path) -> None:
    """Until the second scene starts a render of 'A || B' is a render of 'A' (to float rounding: the texts are
    embedded as a batch of two); then it pulls towards B."""
    import pixforge

    pipe = pixforge.Pipeline()
    # the render's own steps (the default's layout would play the scenes too, and pick its own picture)
    common = {"steps": 4, "size": 32, "seed": 2, "overrides": [*OVERRIDES, "layout=null"]}
    scenes = pipe.render("a red circle || a blue star", out=tmp_path / "scenes", **common)
    alone = pipe.render("a red circle", out=tmp_path / "alone", **common)
    losses = [[row["clip_prompt"] for row in result.losses] for result in (scenes, alone)]
    assert losses[0][:2] == pytest.approx(losses[1][:2], rel=1e-5)
    assert all(abs(a - b) > 1e-3 for a, b in zip(losses[0][2:], losses[1][2:]))
    faded = pipe.render("a red circle || a blue star", out=tmp_path / "faded", **{
        **common, "overrides": [*common["overrides"], "prompts.transition=2"]})
    assert faded.settings["prompts"]["transition"] == 2 and faded.losses[2] != scenes.losses[2]


def test_a_render_says_it_leaves_an_animation_section_alone(tmp_path: Path) -> None:
    import pixforge
    from pixforge.errors import PixforgeWarning

    with pytest.warns(PixforgeWarning, match="'animation:' section, which a render leaves alone"):
        pixforge.render("a red circle", steps=1, size=32, overrides=[*OVERRIDES, "animation.frames=3"],
                        out=tmp_path / "still")


def test_image_prompt_weights_may_be_schedules_and_an_animation_fixes_them_per_frame(tmp_path: Path) -> None:
    from PIL import Image

    from pixforge.animation.frames import prompts_at
    from pixforge.animation.settings import AnimationSettings
    from pixforge.prompts import PromptSet, parse_image_prompts

    Image.new("RGB", (8, 8), "red").save(tmp_path / "red.png")
    [image] = parse_image_prompts(f"{tmp_path / 'red.png'}:[0: (1), 4: (0)]")
    assert image.at(2) == pytest.approx(0.5)
    import pixforge

    config = pixforge.Pipeline().resolve("a || b:[2*t]", size=32)
    frame = prompts_at(PromptSet(images=[image]), config, AnimationSettings(frames=4), 3)
    assert [p.weight for p in frame.texts] == [0.0, 6.0] and frame.images[0].weight == pytest.approx(0.25)
    assert all(p.schedule is None for p in [*frame.texts, *frame.images])


def test_cli_animate_with_scenes_and_a_transition(capsys, monkeypatch, tmp_path: Path) -> None:
    from faultkit import run_main

    ran = run_main(capsys, monkeypatch, "animate", "a red circle || a blue star", "--frames", "4", "--transition",
                   "2", "--translate-y", "-1", "--gif", "--no-video", *CLI_SMALL, "--out", str(tmp_path / "run"))
    assert ran.code == 0, ran.explain()
    assert "video.gif" in ran.out and "4 frames" in ran.out and len(_frames(tmp_path / "run")) == 4
    import yaml

    settings = yaml.safe_load((tmp_path / "run" / "settings.yaml").read_text())
    assert settings["prompts"]["transition"] == 2 and settings["animation"]["translate_y"] == -1.0
    ran = run_main(capsys, monkeypatch, "animate", "a || b", "--frames", "4", "--transition", "3", *CLI_SMALL,
                   "--out", str(tmp_path / "bad"))
    assert ran.clean_failure and "prompts.transition 3 is longer than a scene (4 frames / 2 scenes" in ran.err


def test_a_frame_that_diverges_stops_the_animation_and_the_folder_says_which(tmp_path: Path) -> None:
    import pixforge
    from pixforge.resume import read_status
    from pixforge.results import RenderDiverged

    with pytest.raises(RenderDiverged, match="loss became"):
        pixforge.animate("a red circle", frames=3, overrides=[*OVERRIDES, "losses.smoothness.weight=.inf"], video=False,
                         out=tmp_path / "run", **SMALL)
    status = read_status(tmp_path / "run")
    assert status["status"] == "diverged" and status["message"].startswith("frame ")
