"""Best-of-N can score each candidate over a few large crops (``ranking.views``) instead of one whole view."""

from __future__ import annotations

import pytest
import torch

from pixforge import Pipeline
from pixforge.candidates import clip_scores, view_boxes
from pixforge.errors import PixforgeError


@pytest.fixture(scope="module")
def pipe():
    return Pipeline()


def _perceptors(pipe: Pipeline, config):
    return pipe.perceptors_for(config, pipe.context(config, torch.device("cpu")))


def test_views_are_the_same_large_squares_every_time() -> None:
    boxes = view_boxes(48, 40, 16, 0.75)
    assert boxes == view_boxes(48, 40, 16, 0.75) and len(boxes) == 16
    for x, y, side in boxes:
        assert 30 <= side <= 40 and 0 <= x <= 48 - side and 0 <= y <= 40 - side
    assert len({side for _, _, side in boxes}) > 1  # not one crop repeated


def test_a_score_over_views_is_the_mean_of_each_crops_own_score(pipe) -> None:
    config = pipe.resolve("a red circle on a blue background", "shapes", overrides=["ranking.min_size=0.6"])
    perceptors = _perceptors(pipe, config)
    torch.manual_seed(1)
    pictures = torch.rand(3, 3, 40, 40)
    together = clip_scores(pictures, config, perceptors, views=5)
    crops = [clip_scores(pictures[..., y : y + s, x : x + s], config, perceptors) for x, y, s in view_boxes(40, 40, 5, 0.6)]
    assert torch.allclose(together, torch.stack(crops).mean(0), atol=1e-5)
    assert not torch.allclose(together, clip_scores(pictures, config, perceptors), atol=1e-4)  # not the whole view


def test_best_of_n_ranks_by_the_views_it_is_given(pipe, tmp_path) -> None:
    prompt = "a red circle on a blue background"
    common = dict(steps=2, size=32, seed=3, candidates=3)
    whole = pipe.render(prompt, "shapes", out=tmp_path / "one", overrides=["cutouts.count=2"], **common)
    crops = pipe.render(prompt, "shapes", out=tmp_path / "many", overrides=["cutouts.count=2", "ranking.views=6"], **common)
    one = {c["sample"]: c["score"] for c in whole.extras["candidates"]}
    many = {c["sample"]: c["score"] for c in crops.extras["candidates"]}
    assert set(one) == set(many) == {0, 1, 2} and one != many
    assert list(many.values()) == sorted(many.values(), reverse=True)


@pytest.mark.parametrize("override", ["ranking.views=0", "ranking.min_size=1.5", "ranking.crops=3"])
def test_bad_ranking_settings_are_refused_by_name(pipe, override) -> None:
    with pytest.raises(PixforgeError, match="ranking"):
        pipe.resolve("a red circle", "shapes", overrides=[override])
