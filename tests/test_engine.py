"""The render loop end to end through the Python API, with the first-party plugins at tiny sizes."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from PIL import Image

import pixforge
from pixforge import Loss, Observer, Pipeline, RenderDiverged, RenderInterrupted, StrictModel, hookimpl
from pixforge.outputs import SEED_KEY, SETTINGS_KEY

# the engine alone: the default preset's layout (tests/test_layout.py) would run first
TINY = dict(steps=4, size=32, overrides=["cutouts.count=4", "layout=null"])


@pytest.fixture(scope="module")
def pipe():
    return Pipeline()


def png(path):
    return path.read_bytes()


def test_render_writes_run_folder(pipe, tmp_path):
    result = pipe.render("a red circle", out=tmp_path / "run", seed=1, save_every=2, **TINY)
    assert result.status == "completed" and result.steps_done == 4
    assert result.image.size == (32, 32) and tuple(result.tensor.shape) == (1, 3, 32, 32)
    assert len(result.losses) == 4 and {"loss", "clip_prompt", "smoothness"} <= set(result.losses[0])
    run = result.run_dir
    assert (run / "final.png").is_file() and (run / "settings.yaml").is_file() and (run / "losses.csv").is_file()
    assert sorted(p.name for p in (run / "frames").iterdir()) == ["frame_00002.png", "frame_00004.png"]
    text = Image.open(run / "final.png").text
    assert text[SEED_KEY] == "1" and "a red circle" in text[SETTINGS_KEY]


def test_same_seed_same_bytes_and_no_leak_between_renders(pipe, tmp_path):
    a = pipe.render("a red circle", out=tmp_path / "a", seed="hello", **TINY)
    pipe.render("a blue square", out=tmp_path / "b", seed=7, **TINY)
    again = Pipeline().render("a red circle", out=tmp_path / "c", seed="hello", **TINY)
    assert png(a.final_path) == png(again.final_path)
    other = pipe.render("a red circle", out=tmp_path / "d", seed="other", **TINY)
    assert png(a.final_path) != png(other.final_path)


def test_render_does_not_touch_the_callers_rng(pipe, tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    pipe.render("x", out=tmp_path / "r", seed=5, **TINY)
    assert torch.equal(torch.rand(3), expected)


def test_same_bytes_as_a_separate_process(pipe, tmp_path):
    here = pipe.render("a green star", out=tmp_path / "here", seed=42, **TINY)
    code = (
        "import pixforge, sys; pixforge.render('a green star', out=sys.argv[1], seed=42, steps=4, size=32,"
        " overrides=['cutouts.count=4', 'layout=null'])"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "there")], check=True)
    assert png(here.final_path) == png(tmp_path / "there" / "final.png")


def test_replay_from_png(pipe, tmp_path):
    first = pipe.render("a pink ring:2|noise:-0.5", out=tmp_path / "first", seed=3, **TINY)
    replay = pipe.render(from_image=first.final_path, out=tmp_path / "replay")
    assert png(first.final_path) == png(replay.final_path)


def test_models_are_reused_across_renders(tmp_path):
    pipe = Pipeline()
    pipe.render("a", out=tmp_path / "1", seed=0, **TINY)
    loaded = len(pipe.cache)
    assert loaded >= 1
    pipe.render("b", out=tmp_path / "2", seed=0, **TINY)
    assert len(pipe.cache) == loaded


class NanSettings(StrictModel):
    at: int = 2


class NanAt(Loss):
    Settings = NanSettings

    def __call__(self, state):
        value = float("nan") if state.step >= self.settings.at else 0.0
        return torch.tensor(value) + state.image.mean() * 0


class Stopper(Observer):
    def __init__(self, at):
        self.at = at

    def on_step(self, state):
        if state.step + 1 == self.at:
            raise KeyboardInterrupt


class ExtraPlugin:
    @hookimpl
    def register_losses(self, register):
        register("nan_at", NanAt)


def test_nan_loss_stops_and_keeps_last_good_image(tmp_path):
    pipe = Pipeline(plugins=[ExtraPlugin()])
    with pytest.raises(RenderDiverged, match=r"step 3 \(from nan_at\)") as info:
        pipe.render(
            "a", out=tmp_path / "nan", seed=0, steps=6, size=32,
            overrides=["cutouts.count=4", "losses=[{name: clip_prompt}, {name: nan_at, settings: {at: 2}}]"],
        )
    result = info.value.result
    assert result.status == "diverged" and result.steps_done == 2
    assert (tmp_path / "nan" / "final.png").is_file()
    assert torch.isfinite(result.tensor).all()


def test_interrupt_keeps_image_and_settings(pipe, tmp_path):
    with pytest.raises(RenderInterrupted) as info:
        pipe.render("a", out=tmp_path / "int", seed=0, observers=[Stopper(2)], **TINY)
    assert isinstance(info.value, KeyboardInterrupt)
    assert (tmp_path / "int" / "final.png").is_file() and (tmp_path / "int" / "settings.yaml").is_file()
    assert info.value.result.status == "interrupted"


def test_video_is_written(pipe, tmp_path):
    result = pipe.render("a", out=tmp_path / "v", seed=0, save_every=1, **{**TINY, "overrides": TINY["overrides"] + ["video.enabled=true"]})
    video = result.run_dir / "video.mp4"
    assert video.is_file() and video.stat().st_size > 0
    import imageio.v3 as iio

    frames = iio.imread(video)
    assert frames.shape[0] == 4


def test_video_of_odd_sides_is_written(pipe, tmp_path):
    # H.264 in yuv420p takes only even sides: the render's video shares the animations' writer, which pads
    result = pipe.render("a", "pixels", out=tmp_path / "odd", seed=0, save_every=1, steps=3, size="33x31",
                         overrides=["cutouts.count=4", "video.enabled=true"])
    import imageio.v3 as iio

    frames = iio.imread(result.run_dir / "video.mp4")
    assert frames.shape[:3] == (3, 32, 34)


def test_gif_video_takes_every_step_when_save_every_is_unset(pipe, tmp_path):
    result = pipe.render("a", out=tmp_path / "g", seed=0, **{**TINY, "overrides": TINY["overrides"] + ["video={enabled: true, format: gif}"]})
    assert (result.run_dir / "video.gif").is_file()
    assert len(list((result.run_dir / "frames").iterdir())) == 4


def test_lr_drops_and_optimisers(pipe, tmp_path):
    for name in ("adam", "adamw", "sgd", "radam"):
        result = pipe.render("a", out=tmp_path / name, seed=0, **{**TINY, "overrides": TINY["overrides"] + [f"optimizer.name={name}"]})
        assert result.status == "completed"


def test_image_prompts_targets_noise_and_init(pipe, tmp_path):
    first = pipe.render("a red circle", out=tmp_path / "src", seed=0, **TINY)
    result = pipe.render(
        "a cat:1|a dog:-0.5:0.1",
        out=tmp_path / "mix",
        seed=0,
        init_image=str(first.final_path),
        prompts={"images": [f"{first.final_path}:0.5"], "targets": [str(first.final_path)], "noise": ["7:0.2"]},
        **TINY,
    )
    assert result.status == "completed"


def test_several_perceptors_each_weighted(pipe, tmp_path):
    result = pipe.render(
        "a", out=tmp_path / "two", seed=0,
        **{**TINY, "overrides": TINY["overrides"] + ["perceptors=[{name: clip, weight: 1.0}, {name: clip, weight: 0.5}]"]},
    )
    assert result.status == "completed"


def test_public_render_function(tmp_path):
    result = pixforge.render("a yellow star", preset="draft", out=tmp_path / "p", seed=0, **TINY)
    assert result.final_path.is_file()


def test_on_step_hook_and_progress_bar(tmp_path):
    from pixforge.progress import ProgressBar

    seen = []

    class Watcher:
        @hookimpl
        def on_step(self, state):
            seen.append((state.step, round(state.loss, 6)))

    pipe = Pipeline(plugins=[Watcher()])
    result = pipe.render("a", out=tmp_path / "w", seed=0, observers=[ProgressBar(enabled=True)], **TINY)
    assert [s for s, _ in seen] == [0, 1, 2, 3]
    assert [loss for _, loss in seen] == [round(row["loss"], 6) for row in result.losses]


class Crash(Loss):
    def __call__(self, state):
        if state.step == 2:
            raise RuntimeError("boom")
        return state.image.mean() * 0


class CrashPlugin:
    @hookimpl
    def register_losses(self, register):
        register("crash", Crash)


def test_a_crashing_component_still_leaves_the_last_good_image(tmp_path):
    pipe = Pipeline(plugins=[CrashPlugin()])
    with pytest.raises(RuntimeError, match="boom"):
        pipe.render("a", out=tmp_path / "c", seed=0, steps=5, size=32,
                    overrides=["cutouts.count=4", "losses=[{name: clip_prompt}, {name: crash}]"])
    assert (tmp_path / "c" / "final.png").is_file() and (tmp_path / "c" / "losses.csv").is_file()


def test_candidates_rank_by_clip_score_and_keep_the_best(pipe, tmp_path):
    result = pipe.render("a red circle", out=tmp_path / "best", seed=10, candidates=3, **TINY)
    rows = result.extras["candidates"]
    assert [r["seed"] for r in sorted(rows, key=lambda r: r["seed"])] == [10, 11, 12]
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    best_dir = tmp_path / "best" / "candidates" / f"seed-{rows[0]['seed']}"
    assert (tmp_path / "best" / "final.png").read_bytes() == (best_dir / "final.png").read_bytes()
    assert (tmp_path / "best" / "candidates.png").is_file()
    single = pipe.render("a red circle", out=tmp_path / "single", seed=rows[0]["seed"], **TINY)
    assert single.final_path.read_bytes() == (best_dir / "final.png").read_bytes()


def test_a_rounded_size_says_so(tmp_path):
    from pixforge.errors import PixforgeWarning

    with pytest.warns(PixforgeWarning, match="size 100x70 rounded to 96x72, what generator 'vqgan' can make"):
        result = Pipeline().render("a", out=tmp_path / "r", seed=0, steps=1, size="100x70",
                                   overrides=["generator.name=vqgan", "generator.settings={model: tiny}",
                                              "cutouts.count=2"])
    assert result.image.size == (96, 72)
