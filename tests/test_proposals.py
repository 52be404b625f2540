"""A fresh render hands its generator the render's own CLIP score, so a cheap generator can search its starts."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from pixforge import Pipeline
from pixforge.candidates import clip_score, clip_scores
from pixforge_zoo.shapes import ShapesGenerator

TINY = dict(steps=1, size=32, overrides=["cutouts.count=2"])


@pytest.fixture(scope="module")
def pipe():
    return Pipeline()


def _perceptors(pipe: Pipeline, config):
    return pipe.perceptors_for(config, pipe.context(config, torch.device("cpu")))


def test_scores_of_a_batch_are_each_pictures_own_score(pipe):
    config = pipe.resolve("a red circle on a blue background", "shapes")
    perceptors = _perceptors(pipe, config)
    torch.manual_seed(0)
    pictures = torch.rand(5, 3, 32, 32)
    together = clip_scores(pictures, config, perceptors, chunk=2, views=config.ranking.views)
    alone = torch.tensor([clip_score(pictures[i : i + 1], config, perceptors) for i in range(5)])
    assert together.shape == (5,) and torch.allclose(together, alone, atol=1e-5)
    assert torch.equal(clip_scores(pictures, pipe.resolve("", "shapes"), perceptors), torch.zeros(5))


def test_a_fresh_render_searches_its_starts_by_its_own_clip(pipe, tmp_path, monkeypatch):
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    search = ShapesGenerator.propose

    def spy(self, score):
        pictures = self().detach()
        seen.append((pictures, score(pictures)))
        search(self, score)

    monkeypatch.setattr(ShapesGenerator, "propose", spy)
    prompt = "a red circle on a blue background"
    result = pipe.render(prompt, "shapes", out=tmp_path / "a", seed=4, **TINY)
    assert len(seen) == 1
    config = pipe.resolve(prompt, "shapes")
    pictures, scores = seen[0]
    assert torch.allclose(scores, clip_scores(pictures, config, _perceptors(pipe, config)), atol=1e-5)

    Image.new("RGB", (32, 32), (10, 200, 10)).save(tmp_path / "start.png")
    pipe.render(prompt, "shapes", out=tmp_path / "b", seed=4, steps=1, size=32,
                overrides=["cutouts.count=2", f"init_image={tmp_path / 'start.png'}"])
    assert len(seen) == 1  # the user's own picture is the start: nothing to search
    assert result.status == "completed"


def test_proposals_change_the_start_and_stay_seeded(pipe, tmp_path):
    prompt = "a yellow star on a purple background"
    searched = [
        pipe.render(prompt, "shapes", out=tmp_path / name, seed=2, steps=1, size=32,
                    overrides=["cutouts.count=2", "generator.settings.proposals=32"]).final_path.read_bytes()
        for name in ("a", "b")
    ]
    plain = pipe.render(prompt, "shapes", out=tmp_path / "c", seed=2, **TINY).final_path.read_bytes()
    assert searched[0] == searched[1] and searched[0] != plain


def test_an_animations_first_frame_searches_as_a_still_does_and_later_frames_do_not(pipe, tmp_path, monkeypatch):
    import pixforge

    calls: list[int] = []
    search = ShapesGenerator.propose

    def spy(self, score):
        calls.append(1)
        search(self, score)

    monkeypatch.setattr(ShapesGenerator, "propose", spy)
    pixforge.animate("a red circle on a blue background", "shapes", frames=3, size=32, steps=1, steps_per_frame=1,
                     seed=1, zoom=1.1, overrides=["cutouts.count=2"], out=tmp_path / "run", pipeline=pipe,
                     video=False)
    assert len(calls) == 1  # frame 0 starts fresh; frames 1 and 2 start from the last frame moved
