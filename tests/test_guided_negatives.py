"""The robust trainer's hard negatives: the model's own guided renders, judged without a model, added to its batch."""

from __future__ import annotations

import random

import pytest
import torch

from pixforge_zoo import world
from pixforge_zoo.guided_negatives import MiningSettings, guided_renders, judged, mining_prompts, with_mined
from pixforge_zoo.prompt_sets import WorldPrompt, held_out_prompts
from pixforge_zoo.tiny_clip import ROBUST_WEIGHTS_DIR, load_tiny_clip
from pixforge_zoo.train_clip import TrainSettings, make_batch, multi_positive_loss

QUICK = MiningSettings(prompts=3, steps=4, views=2)


@pytest.fixture(scope="module")
def robust():
    return load_tiny_clip(weights_dir=ROBUST_WEIGHTS_DIR)


def test_mining_prompts_are_distinct_and_never_held_out():
    prompts = mining_prompts(random.Random(0), 200)
    assert len(set(prompts)) == 200
    assert not set(prompts) & set(held_out_prompts())
    assert all(p.colour != p.background for p in prompts)


def test_guided_renders_are_seeded_images_that_raise_the_prompts_similarity(robust):
    model, tokenizer, mean, std, size = robust
    prompts = [WorldPrompt("circle", "red", "blue"), WorldPrompt("star", "yellow", "black"), WorldPrompt("ring", "white", "green")]
    first = guided_renders(model, tokenizer, mean, std, prompts, torch.Generator().manual_seed(3), QUICK, size)
    again = guided_renders(model, tokenizer, mean, std, prompts, torch.Generator().manual_seed(3), QUICK, size)
    assert first.shape == (3, 3, size, size) and torch.equal(first, again)
    assert 0 <= float(first.min()) and float(first.max()) <= 1
    longer = guided_renders(model, tokenizer, mean, std, prompts, torch.Generator().manual_seed(3),
                            MiningSettings(prompts=3, steps=40, views=2), size)
    from pixforge_zoo.tiny_clip import normalise

    with torch.no_grad():
        text = torch.nn.functional.normalize(model.encode_text(tokenizer([p.text for p in prompts])), dim=-1)

        def similarity(images: torch.Tensor) -> float:
            features = torch.nn.functional.normalize(model.encode_image(normalise(images, mean, std)), dim=-1)
            return float((features * text).sum(-1).mean())

    assert similarity(longer) > similarity(first)


def test_the_judge_passes_a_true_scene_and_fails_a_flat_canvas():
    prompt = WorldPrompt("square", "red", "blue")
    true = world.render_batch([world.Scene("square", "red", "blue", "large", "centre")], 64)
    flat = torch.zeros(1, 3, 64, 64) + torch.tensor(world.COLORS["blue"]).view(1, 3, 1, 1) / 255
    assert judged(torch.cat([true, flat]), [prompt, prompt]).tolist() == [True, False]


def test_mined_rows_are_negatives_for_their_own_caption_only_and_true_scenes_positives():
    tokenizer = load_tiny_clip()[1]
    batch = make_batch(torch.Generator().manual_seed(0), random.Random(0), tokenizer, TrainSettings(groups=2, nonsense=2))
    prompts = [WorldPrompt("circle", "red", "blue"), WorldPrompt("cross", "white", "black")]
    renders = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    passed = torch.tensor([False, True])
    mixed = with_mined(batch, tokenizer, renders, prompts, passed, random.Random(1), torch.Generator().manual_seed(2))
    rows, cols = len(batch.images), batch.tokens.shape[0]
    assert mixed.images.shape[0] == rows + 4 and mixed.tokens.shape[0] == cols + 2
    assert torch.equal(mixed.images[rows:rows + 2], renders)
    # a failed render: compared with its own caption only, and not a positive there
    assert not mixed.ignore[rows, cols] and not mixed.positive[rows].any()
    assert mixed.ignore[rows, :cols].all() and mixed.ignore[rows, cols + 1]
    # a render that passed is a positive for its own caption
    assert mixed.positive[rows + 1, cols + 1] and not mixed.ignore[rows + 1, cols + 1]
    # true scenes: positive for their own caption, negative for the other mined one, unknown to the old ones
    assert mixed.positive[rows + 2, cols] and not mixed.positive[rows + 2, cols + 1] and not mixed.ignore[rows + 2, cols + 1]
    assert mixed.ignore[rows + 2:, :cols].all()
    # nothing mined is held to the reference model's embedding
    assert mixed.repainted[rows:].all() and torch.equal(mixed.repainted[:rows], batch.repainted)
    # the old part of the batch is unchanged, and the loss still has a finite value
    assert torch.equal(mixed.positive[:rows, :cols], batch.positive)
    features = torch.nn.functional.normalize(torch.randn(rows + 4, 64), dim=-1)
    text = torch.nn.functional.normalize(torch.randn(cols + 2, 64), dim=-1)
    assert torch.isfinite(multi_positive_loss(features, text, torch.tensor(10.0), mixed.positive, mixed.ignore))


def test_world_views_of_a_mined_prompt_are_its_positives():
    tokenizer = load_tiny_clip()[1]
    batch = make_batch(torch.Generator().manual_seed(0), random.Random(0), tokenizer, TrainSettings(groups=1, nonsense=1))
    shape, colour, background = batch.image_labels[0].tolist()
    prompt = WorldPrompt(world.SHAPES[shape], list(world.COLORS)[colour], list(world.COLORS)[background])
    mixed = with_mined(batch, tokenizer, torch.rand(1, 3, 64, 64), [prompt], torch.tensor([False]),
                       random.Random(0), torch.Generator().manual_seed(0))
    assert mixed.positive[0, -1]


def test_the_robust_trainer_mines_reproducibly_and_logs_how_often_its_own_renders_pass(tmp_path):
    from safetensors.torch import load_file

    from pixforge_zoo.train_robust import train_robust_clip

    lines: list[str] = []
    kwargs = dict(max_steps=2, groups=1, nonsense=1, eval_images=10, threads=1, mine_prompts=2, mine_every=1,
                  mine_steps=4)
    first = train_robust_clip(seed=5, out=tmp_path / "a", log=lines.append, **kwargs)
    second = train_robust_clip(seed=5, out=tmp_path / "b", log=lambda _: None, **kwargs)
    plain = train_robust_clip(seed=5, out=tmp_path / "c", log=lambda _: None, **{**kwargs, "mine_prompts": 0})
    a, b, c = (load_file(str(folder / "open_clip_model.safetensors")) for folder in (first, second, plain))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)  # the mined rows changed the update
    assert any("own renders pass" in line for line in lines)


def test_a_failed_render_is_marked_negative_for_its_caption_and_unlikelihood_pushes_it_away():
    from pixforge_zoo.guided_negatives import unlikelihood

    tokenizer = load_tiny_clip()[1]
    batch = make_batch(torch.Generator().manual_seed(0), random.Random(0), tokenizer, TrainSettings(groups=1, nonsense=1))
    prompts = [WorldPrompt("circle", "red", "blue"), WorldPrompt("cross", "white", "black")]
    mixed = with_mined(batch, tokenizer, torch.rand(2, 3, 64, 64), prompts, torch.tensor([False, True]),
                       random.Random(1), torch.Generator().manual_seed(2))
    rows, cols = len(batch.images), batch.tokens.shape[0]
    assert mixed.negative.nonzero().tolist() == [[rows, cols]]
    text = torch.nn.functional.normalize(torch.randn(cols + 2, 8, generator=torch.Generator().manual_seed(0)), dim=-1)
    near = torch.zeros(rows + 4, 8)
    near[rows] = text[cols]  # the failed render sits on its caption: a large loss
    far = near.clone()
    far[rows] = -text[cols]
    scale = torch.tensor(10.0)
    assert unlikelihood(near, text, scale, mixed.negative) > unlikelihood(far, text, scale, mixed.negative) >= 0
    assert float(unlikelihood(near, text, scale, torch.zeros_like(mixed.negative))) == 0.0


def test_a_chain_of_robust_runs_records_where_it_started_and_its_total_time(tmp_path):
    import json

    from pixforge_zoo.train_robust import train_robust_clip

    kwargs = dict(max_steps=1, groups=1, nonsense=1, eval_images=10, threads=1, log=lambda _: None)
    first = train_robust_clip(out=tmp_path / "a", **kwargs)
    second = train_robust_clip(out=tmp_path / "b", start_from=first, mine_prompts=2, mine_steps=4, **kwargs)
    one = json.loads((first / "open_clip_config.json").read_text())["pixforge"]
    two = json.loads((second / "open_clip_config.json").read_text())["pixforge"]
    assert one["started_from"] == "the clean tiny CLIP" and one["total_seconds"] == one["seconds"]
    assert two["started_from"]["robust"]["mine_prompts"] == 0 and two["robust"]["mine_prompts"] == 2
    assert two["total_seconds"] == one["seconds"] + two["seconds"]


def test_the_shipped_mined_model_loads_by_name_and_records_its_chain(tmp_path):
    import json
    import math

    from pixforge import Pipeline
    from pixforge_zoo.evaluate import held_out, zero_shot_accuracy
    from pixforge_zoo.tiny_clip import MINED_WEIGHTS_DIR, WEIGHTS_FILE

    record = json.loads((MINED_WEIGHTS_DIR / "open_clip_config.json").read_text())["pixforge"]
    assert record["robust"]["mine_prompts"] > 0 and "partial" not in record
    assert record["started_from"]["robust"].get("mine_prompts", 0) == 0  # it continues the shipped robust run
    assert record["total_seconds"] == record["seconds"] + record["started_from"]["seconds"]
    shipped = load_tiny_clip(weights_dir=MINED_WEIGHTS_DIR)
    model, tokenizer, mean, std, size = shipped
    images, scenes = held_out(1000, 20261127, size)  # bench/zoo_accuracy.py's held-out set
    accuracy = zero_shot_accuracy(model, tokenizer, images, scenes, mean, std)
    # what the README reports for it: colours kept, shape 83 % (under the default's 85 % floor, so opt-in)
    assert accuracy["color"] >= 0.95 and accuracy["background"] >= 0.95 and accuracy["shape"] >= 0.82, accuracy
    assert (MINED_WEIGHTS_DIR / WEIGHTS_FILE).read_bytes() != (ROBUST_WEIGHTS_DIR / WEIGHTS_FILE).read_bytes()
    result = Pipeline().render(
        "a red circle on a blue background", steps=2, seed=0, size=(64, 64), out=tmp_path / "m",
        overrides=["perceptors.0.settings.model=pixforge-tiny-clip-mined"],
    )
    assert math.isfinite(result.losses[-1]["loss"])


def test_mining_in_a_worker_process_gives_the_same_weights_as_mining_in_the_trainer(tmp_path):
    """The worker is pipelined by step, not by timing: where the rounds render does not change the run."""
    from safetensors.torch import load_file

    from pixforge_zoo.train_robust import train_robust_clip

    kwargs = dict(max_steps=3, groups=1, nonsense=1, eval_images=10, threads=1, mine_prompts=2, mine_every=1,
                  mine_steps=4, log=lambda _: None)
    inline = train_robust_clip(seed=6, out=tmp_path / "inline", mine_workers=0, **kwargs)
    worker = train_robust_clip(seed=6, out=tmp_path / "worker", mine_workers=1, **kwargs)
    a, b = (load_file(str(folder / "open_clip_model.safetensors")) for folder in (inline, worker))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_mining_starts_at_mine_from_and_a_bad_share_is_refused(tmp_path):
    from pixforge_zoo.train_robust import RobustSettings, train_robust_clip

    lines: list[str] = []
    kwargs = dict(max_steps=2, groups=1, nonsense=1, eval_images=10, threads=1, mine_prompts=2, mine_every=1,
                  mine_steps=4, mine_workers=0)
    train_robust_clip(seed=5, out=tmp_path / "late", mine_from=0.9, log=lines.append, **kwargs)
    assert not any("own renders pass" in line for line in lines)  # step 1 of 2 is before 90 % of the run
    with pytest.raises(ValueError, match="mine_from"):
        RobustSettings(mine_from=1.0)
