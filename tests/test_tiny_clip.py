"""The shipped tiny CLIP: its word tokenizer, its weights, zero-shot sense, and a training smoke run."""

from __future__ import annotations

import json
import random

import pytest
import torch

from pixforge_zoo import tiny_clip, world
from pixforge_zoo.evaluate import held_out, zero_shot_accuracy
from pixforge_zoo.tiny_clip import WordTokenizer, default_tokenizer, load_tiny_clip
from pixforge_zoo.train_clip import TrainSettings, make_batch, multi_positive_loss, train_tiny_clip

SHIPPED = (tiny_clip.WEIGHTS_DIR / tiny_clip.WEIGHTS_FILE).is_file()
needs_weights = pytest.mark.skipif(not SHIPPED, reason="tiny CLIP weights not trained yet")


@pytest.fixture(scope="module")
def shipped():
    torch.set_num_threads(1)
    return load_tiny_clip()


def test_tokenizer_round_trips_world_captions():
    tokenizer = default_tokenizer()
    scene = world.Scene("triangle", "purple", "yellow", "large", "bottom right")
    texts = world.captions(scene)
    tokens = tokenizer(texts)
    assert tokens.shape == (len(texts), tokenizer.context_length) and tokens.dtype == torch.long
    assert [tokenizer.decode(row) for row in tokens] == texts
    assert tokenizer("a red circle").shape == (1, tokenizer.context_length)


def test_end_token_has_the_highest_id_so_open_clip_pools_it():
    tokenizer = default_tokenizer()
    assert tokenizer.eot_token_id == tokenizer.vocab_size - 1
    assert tokenizer.pad_token_id == 0 and tokenizer.sot_token_id == tokenizer.vocab_size - 2
    tokens = tokenizer(["a red circle on a blue background", "a", "", "Trending on ArtStation!"])
    ends = tokens.argmax(1)
    assert (tokens[torch.arange(len(tokens)), ends] == tokenizer.eot_token_id).all()
    assert (tokens[:, 0] == tokenizer.sot_token_id).all()


def test_unknown_words_aliases_and_truncation():
    tokenizer = default_tokenizer()
    assert tokenizer.encode("a splendid circle") == [tokenizer.encoder["a"], tokenizer.unk_token_id, tokenizer.encoder["circle"]]
    assert tokenizer.encode("in the Center") == tokenizer.encode("in the centre")
    long = tokenizer(" ".join(["red"] * 40))
    assert long[0, -1] == tokenizer.eot_token_id


def test_tokenizer_saves_and_loads(tmp_path):
    tokenizer = default_tokenizer()
    tokenizer.save(tmp_path / "vocab.json")
    again = WordTokenizer.load(tmp_path / "vocab.json")
    assert again.encoder == tokenizer.encoder and again.context_length == tokenizer.context_length


def test_model_config_matches_the_vocabulary():
    config = tiny_clip.read_model_config()
    assert config["text_cfg"]["vocab_size"] == default_tokenizer().vocab_size
    assert config["text_cfg"]["context_length"] == tiny_clip.CONTEXT_LENGTH
    assert config["vision_cfg"]["image_size"] == tiny_clip.IMAGE_SIZE


def test_batch_masks_and_loss():
    settings = TrainSettings(groups=2, nonsense=3)
    batch = make_batch(torch.Generator().manual_seed(0), random.Random(0), default_tokenizer(), settings)
    n = 2 * 8
    assert batch.images.shape == (n + 3, 3, 64, 64) and batch.tokens.shape[0] == n
    assert batch.positive[:n].diagonal().all()  # every caption describes its own image
    assert not batch.positive[n:].any() and not (batch.positive & batch.ignore).any()
    again = make_batch(torch.Generator().manual_seed(0), random.Random(0), default_tokenizer(), settings)
    assert torch.equal(batch.images, again.images) and torch.equal(batch.tokens, again.tokens)
    # features that agree with the positives give a lower loss than random ones
    features = torch.nn.functional.normalize(batch.positive.float() + 0.01, dim=1)
    good = multi_positive_loss(features, torch.eye(n), torch.tensor(20.0), batch.positive, batch.ignore)
    noise = torch.nn.functional.normalize(torch.randn(n + 3, n, generator=torch.Generator().manual_seed(1)), dim=1)
    bad = multi_positive_loss(noise, torch.eye(n), torch.tensor(20.0), batch.positive, batch.ignore)
    assert good < bad


@needs_weights
def test_shipped_weights_load_small_and_frozen(shipped):
    model, tokenizer, mean, std, size = shipped
    file = tiny_clip.WEIGHTS_DIR / tiny_clip.WEIGHTS_FILE
    assert file.stat().st_size < 6_000_000
    from safetensors import safe_open

    with safe_open(str(file), "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F16"}
    assert size == 64 and len(mean) == len(std) == 3
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert all(p.dtype == torch.float32 for p in model.parameters())
    with torch.no_grad():
        features = model.encode_image(torch.zeros(2, 3, size, size), normalize=True)
        text = model.encode_text(tokenizer(["a red circle", "a blue star"]), normalize=True)
    assert features.shape == text.shape == (2, 64)


@needs_weights
def test_shipped_model_zero_shot_is_far_above_chance(shipped):
    model, tokenizer, mean, std, size = shipped
    images, scenes = held_out(60, seed=424242, size=size)
    accuracy = zero_shot_accuracy(model, tokenizer, images, scenes, mean, std)
    # chance: 10 % colour, 11 % background, 17 % shape
    assert accuracy["color"] >= 0.8 and accuracy["background"] >= 0.8, accuracy
    assert accuracy["shape"] >= 0.5, accuracy


def test_training_smoke_writes_a_loadable_folder(tmp_path):
    out = train_tiny_clip(minutes=1.0, max_steps=3, out=tmp_path / "w", log=lambda _: None, groups=2, nonsense=2, eval_images=20)
    model, tokenizer, _, _, size = load_tiny_clip(weights_dir=out)
    assert size == 64 and tokenizer.vocab_size == default_tokenizer().vocab_size
    info = json.loads((out / tiny_clip.CONFIG_FILE).read_text())["pixforge"]
    assert info["steps"] == 3 and info["settings"]["seed"] == 0


@needs_weights
def test_plugin_offers_the_tiny_clip_to_the_clip_perceptor():
    from pixforge.plugins import default_registry

    loader = default_registry().models["clip"]["pixforge-tiny-clip"]
    model, tokenizer, mean, std, size = loader("cpu")
    assert size == 64 and tokenizer.vocab_size == default_tokenizer().vocab_size and not model.training
