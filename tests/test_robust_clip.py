"""The adversarially fine-tuned tiny CLIP: the attack, the trainer, the shipped weights and their robustness."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file

from pixforge import Pipeline
from pixforge.plugins import default_registry
from pixforge_zoo import tiny_clip
from pixforge_zoo.evaluate import held_out, text_features, zero_shot_accuracy
from pixforge_zoo.robustness import attacked_accuracy
from pixforge_zoo.tiny_clip import ROBUST_WEIGHTS_DIR, WEIGHTS_DIR, load_tiny_clip
from pixforge_zoo.train_robust import RobustSettings, pgd, train_robust_clip


@pytest.fixture(scope="module")
def robust():
    return load_tiny_clip(weights_dir=ROBUST_WEIGHTS_DIR)


@pytest.fixture(scope="module")
def clean():
    return load_tiny_clip(weights_dir=WEIGHTS_DIR)


@pytest.mark.parametrize("norm, epsilon", [("l2", 1.5), ("linf", 4 / 255)])
def test_pgd_stays_in_the_ball_and_the_pixel_range_and_raises_the_objective(norm, epsilon):
    images = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    weights = torch.randn(3, 16, 16, generator=torch.Generator().manual_seed(1))

    def objective(x: torch.Tensor) -> torch.Tensor:
        return (x * weights).sum()

    moved = pgd(images, objective, norm, epsilon, steps=5, gen=torch.Generator().manual_seed(2))
    delta = (moved - images).flatten(1)
    size = delta.norm(dim=1) if norm == "l2" else delta.abs().amax(1)
    assert (size <= epsilon * (1 + 1e-4)).all()
    assert moved.min() >= 0 and moved.max() <= 1
    assert objective(moved) > objective(images)


def test_settings_refuse_unknown_recipes_and_norms():
    with pytest.raises(ValueError, match="recipe"):
        RobustSettings(recipe="magic")
    with pytest.raises(ValueError, match="norm"):
        RobustSettings(norm="l1")


def test_trainer_fine_tunes_only_the_image_tower_reproducibly(tmp_path, clean):
    kwargs = dict(max_steps=2, groups=2, nonsense=2, eval_images=20, threads=1, log=lambda _: None)
    first = train_robust_clip(seed=3, out=tmp_path / "a", **kwargs)
    second = train_robust_clip(seed=3, out=tmp_path / "b", **kwargs)
    a = load_file(str(first / tiny_clip.WEIGHTS_FILE))
    b = load_file(str(second / tiny_clip.WEIGHTS_FILE))
    assert all(torch.equal(a[k], b[k]) for k in a)  # same seed and steps: the same weights
    start = load_file(str(WEIGHTS_DIR / tiny_clip.WEIGHTS_FILE))
    changed = {k for k in a if not torch.equal(a[k], start[k])}
    assert changed and all(k.startswith("visual.") for k in changed)
    model, tokenizer, *_ = load_tiny_clip(weights_dir=first)
    texts = ["a red circle on a blue background", "a star"]
    assert torch.allclose(text_features(model, tokenizer, texts), text_features(clean[0], clean[1], texts), atol=1e-6)


def test_the_trainer_is_registered_for_zoo_train():
    assert "tiny-clip-robust" in default_registry().trainers


def test_shipped_robust_model_keeps_its_clean_accuracy(robust):
    model, tokenizer, mean, std, size = robust
    images, scenes = held_out(1000, 20261127, size)  # bench/zoo_accuracy.py's held-out set
    accuracy = zero_shot_accuracy(model, tokenizer, images, scenes, mean, std)
    assert accuracy["color"] >= 0.95 and accuracy["background"] >= 0.95 and accuracy["shape"] >= 0.85, accuracy


def test_robust_model_holds_its_answers_under_attack_where_the_clean_one_breaks(robust, clean):
    images, scenes = held_out(100, 99, 64)
    norm, epsilon = "l2", 2.0
    robust_acc = attacked_accuracy(*robust[:2], images, scenes, norm, epsilon, steps=5)
    clean_acc = attacked_accuracy(*clean[:2], images, scenes, norm, epsilon, steps=5)
    assert robust_acc["color"] > clean_acc["color"] + 0.2, (robust_acc, clean_acc)
    assert robust_acc["all"] >= clean_acc["all"]


def test_shipped_robust_weights_record_how_they_were_trained():
    import json

    payload = json.loads((ROBUST_WEIGHTS_DIR / tiny_clip.CONFIG_FILE).read_text(encoding="utf-8"))
    recipe = payload["pixforge"]["robust"]
    assert recipe["norm"] in ("l2", "linf") and recipe["epsilon"] > 0 and recipe["attack_steps"] >= 1
    assert payload["pixforge"]["seconds"] <= 30 * 60 and payload["pixforge"]["total_seconds"] <= 30 * 60
    assert not payload["pixforge"].get("partial")
    assert payload["pixforge"]["started_from"] == "the clean tiny CLIP"  # one run, no chain


def test_zoo_train_tiny_clip_robust_runs_the_shipped_recipe():
    import json

    from pixforge_zoo.train_robust import SHIPPED_RECIPE

    recipe = json.loads((ROBUST_WEIGHTS_DIR / tiny_clip.CONFIG_FILE).read_text(encoding="utf-8"))["pixforge"]["robust"]
    assert {key: recipe[key] for key in SHIPPED_RECIPE} == SHIPPED_RECIPE


def test_clip_perceptor_loads_the_robust_model_by_name(tmp_path):
    pipe = Pipeline()
    result = pipe.render(
        "a red circle on a blue background", steps=2, seed=0, size=(64, 64), out=tmp_path / "r",
        overrides=["perceptors.0.settings.model=pixforge-tiny-clip-robust"],
    )
    assert math.isfinite(result.losses[-1]["loss"])
