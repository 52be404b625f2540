"""The ``clip`` perceptor over open_clip, offline: the shipped tiny model, local weights and configs, errors."""

from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import open_clip  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from pixforge.errors import ConfigError  # noqa: E402
from pixforge.testing import PerceptorContract, build_component, tiny_context  # noqa: E402
from pixforge_clip import ClipPerceptor  # noqa: E402
from pixforge_clip.loading import SHIPPED_CONFIGS  # noqa: E402

#: a model even smaller than the shipped one, for the local-config tests
MICRO_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def clip(context=None, **settings) -> ClipPerceptor:
    return build_component(ClipPerceptor, settings, context if context is not None else tiny_context())


def perturbed_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights, changed so that loading them is visible."""
    generator = torch.Generator().manual_seed(5)
    return {k: v + 0.01 * torch.randn(v.shape, generator=generator) if v.is_floating_point() else v
            for k, v in model.state_dict().items()}


def assert_same_weights(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    loaded = model.state_dict()
    assert set(loaded) == set(state)
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key


class TestClipContract(PerceptorContract):
    component = ClipPerceptor


def test_shipped_tiny_model() -> None:
    perceptor = clip()
    assert perceptor.input_size == 64 and perceptor.embed_dim == 64
    assert not perceptor.model.training
    assert not any(p.requires_grad for p in perceptor.parameters())
    config = json.loads((SHIPPED_CONFIGS / "pixforge-tiny-random.json").read_text())
    assert config["text_cfg"]["vocab_size"] == 49408 and config["text_cfg"]["context_length"] == 77


def test_preprocessing_uses_the_model_mean_and_std() -> None:
    perceptor = clip()
    assert torch.allclose(perceptor.mean.flatten(), torch.tensor(open_clip.OPENAI_DATASET_MEAN))
    assert torch.allclose(perceptor.std.flatten(), torch.tensor(open_clip.OPENAI_DATASET_STD))
    image = torch.rand(2, 3, 64, 64)
    expected = perceptor.model.encode_image((image - perceptor.mean) / perceptor.std)
    assert torch.allclose(perceptor.encode_image(image), torch.nn.functional.normalize(expected, dim=-1), atol=1e-5)


def test_random_init_is_fixed_and_leaves_the_rng_alone() -> None:
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = clip()
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(999)
    second = clip()
    assert_same_weights(second.model, first.model.state_dict())


def test_model_cache_shares_one_model() -> None:
    context = tiny_context()
    first, second = clip(context), clip(context)
    assert first.model is second.model and len(context.cache) == 1
    third = clip(context, precision="bf16")
    assert third.model is not first.model and len(context.cache) == 2


def test_cache_key_names_everything_that_changes_the_model() -> None:
    context = tiny_context()
    clip(context)
    (key,) = context.cache._models  # noqa: SLF001 - looking inside on purpose
    assert key == ("clip", "pixforge-tiny-random", None, None, "fp32", torch.device("cpu"))


def test_text_embeddings_are_cached_per_string(monkeypatch) -> None:
    perceptor = clip()
    calls = []
    tokenizer = perceptor.tokenizer
    monkeypatch.setattr(perceptor, "tokenizer", lambda texts: calls.append(list(texts)) or tokenizer(texts))
    first = perceptor.encode_text(["a red circle", "a blue square", "a red circle"])
    again = perceptor.encode_text(["a blue square"])
    assert calls == [["a red circle", "a blue square"]]
    assert torch.equal(first[0], first[2]) and torch.equal(again[0], first[1])
    assert not first.requires_grad
    assert perceptor.encode_text([]).shape == (0, 64)


def test_text_and_image_gradients() -> None:
    perceptor = clip()
    text = perceptor.encode_text(["a green triangle"])
    image = torch.rand(4, 3, 64, 64, requires_grad=True)
    (perceptor.encode_image(image) @ text.T).sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_other_input_sizes_are_resized() -> None:
    assert clip().encode_image(torch.rand(2, 3, 40, 40)).shape == (2, 64)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_loads_a_local_weights_file(tmp_path, suffix) -> None:
    state = perturbed_state_dict(clip().model)
    path = tmp_path / f"tiny{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    assert_same_weights(clip(pretrained=str(path)).model, state)


def test_loads_a_local_config_and_weights(tmp_path) -> None:
    config = tmp_path / "micro.json"
    config.write_text(json.dumps(MICRO_CONFIG))
    random = clip(config=str(config))
    assert random.input_size == 32 and random.embed_dim == 32
    state = perturbed_state_dict(random.model)
    weights = tmp_path / "micro.bin"
    torch.save(state, weights)
    loaded = clip(config=str(config), pretrained=str(weights))
    assert_same_weights(loaded.model, state)
    assert loaded.encode_text(["hello"]).shape == (1, 32)
    assert "micro" not in open_clip.list_models()  # a local config leaves open_clip's registry alone


def test_local_config_in_open_clip_config_layout_sets_mean_and_std(tmp_path) -> None:
    config = tmp_path / "open_clip_config.json"
    preprocess = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    config.write_text(json.dumps({"model_cfg": MICRO_CONFIG, "preprocess_cfg": preprocess}))
    perceptor = clip(config=str(config))
    assert perceptor.mean.flatten().tolist() == [0.5] * 3 and perceptor.std.flatten().tolist() == [0.25] * 3


def test_weights_that_do_not_fit_are_a_config_error(tmp_path) -> None:
    config = tmp_path / "micro.json"
    config.write_text(json.dumps(MICRO_CONFIG))
    weights = tmp_path / "tiny.pt"
    torch.save(clip().model.state_dict(), weights)
    with pytest.raises(ConfigError, match="tiny.pt"):
        clip(config=str(config), pretrained=str(weights))
    micro = tmp_path / "micro.pt"
    torch.save(clip(config=str(config)).model.state_dict(), micro)
    with pytest.raises(ConfigError, match="does not fit model 'pixforge-tiny-random'"):
        clip(pretrained=str(micro))


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(ConfigError) as info:
        clip(model="ViT-B-23")
    message = str(info.value)
    assert "'ViT-B-23'" in message and "'ViT-B-32'" in message


def test_unknown_model_suggestion_ignores_case() -> None:
    with pytest.raises(ConfigError, match="'pixforge-tiny-random'"):
        clip(model="Pixforge-Tiny-Randum")


def test_missing_weights_file_names_the_path(tmp_path) -> None:
    missing = tmp_path / "weights" / "model.safetensors"
    with pytest.raises(ConfigError, match="model.safetensors"):
        clip(pretrained=str(missing))


def test_missing_config_file_names_the_path(tmp_path) -> None:
    with pytest.raises(ConfigError, match="nothing.json"):
        clip(config=str(tmp_path / "nothing.json"))


def test_config_that_is_not_a_model_config(tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ConfigError, match="bad.json.*not an open_clip model config"):
        clip(config=str(bad))


def test_tag_that_the_model_does_not_have() -> None:
    with pytest.raises(ConfigError, match="neither a weights file nor a tag"):
        clip(pretrained="openai")


def test_pretrained_tag_offline_is_a_config_error(monkeypatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ConfigError, match="could not be downloaded"):
        clip(model="RN50", pretrained="openai")


def test_unknown_setting_is_named() -> None:
    with pytest.raises(ConfigError, match="did you mean 'pretrained'"):
        clip(pretrianed="openai")


def test_registered_as_clip() -> None:
    from pixforge.plugins import default_registry

    assert default_registry().get("perceptor", "clip") is ClipPerceptor



def test_a_pretrained_tag_missing_from_the_cache_is_one_error_when_downloads_are_off(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from pixforge import Pipeline
    from pixforge.cli import app
    from pixforge.errors import PixforgeError

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("PIXFORGE_OFFLINE", raising=False)
    tag = ["perceptors.0.settings={model: RN50, pretrained: openai}"]
    with pytest.raises(PixforgeError, match="RN50/openai.*downloads are off"):
        Pipeline(allow_download=False).render("a cat", "draft", steps=1, overrides=tag, out=tmp_path / "a")
    monkeypatch.setenv("PIXFORGE_OFFLINE", "1")
    with pytest.raises(PixforgeError, match="downloads are off"):
        Pipeline().render("a cat", "draft", steps=1, overrides=tag, out=tmp_path / "b")
    monkeypatch.delenv("PIXFORGE_OFFLINE")
    done = CliRunner().invoke(app, ["render", "a cat", "--preset", "draft", "--steps", "1", "--no-download",
                                    "--set", tag[0], "--out", str(tmp_path / "c")])
    assert done.exit_code == 1 and len(done.stderr.strip().splitlines()) == 1, done.output
    assert "downloads are off" in done.stderr and "pixforge models fetch RN50/openai" in done.stderr
