"""The ``vqgan`` generator: quantisation gradients, rendering, init kinds, and safe checkpoint loading."""

from __future__ import annotations

import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pixforge.canvas import round_to_multiple
from pixforge.components import BuildContext, ModelCache
from pixforge.errors import ConfigError, PixforgeError
from pixforge.testing import GeneratorContract, build_component, seeded, tiny_context
from pixforge_vqgan import VQGANGenerator
from pixforge_vqgan.catalog import TINY_WEIGHTS
from pixforge_vqgan.model import VQAutoencoder
from pixforge_vqgan.quantize import clamp_with_grad, gumbel_quantize, straight_through_quantize
from pixforge_vqgan.spec import VQSpec, spec_to_config

TINY_READY = TINY_WEIGHTS.is_file()
needs_tiny = pytest.mark.skipif(not TINY_READY, reason="tiny VQGAN weights not trained yet")

#: a published-style loss entry: building it would download VGG, so loading must never build it
PUBLISHED_LOSS = {
    "target": "taming.modules.losses.vqperceptual.VQLPIPSWithDiscriminator",
    "params": {"disc_conditional": False, "disc_in_channels": 3, "disc_start": 0, "disc_weight": 0.8},
}
SMALL_DD = {
    "double_z": False,
    "z_channels": 32,
    "resolution": 32,
    "in_channels": 3,
    "out_ch": 3,
    "ch": 32,
    "ch_mult": [1, 2],
    "num_res_blocks": 1,
    "attn_resolutions": [],
    "dropout": 0.0,
}


def small_spec(kind: str = "vq") -> VQSpec:
    return VQSpec(kind=kind, ddconfig=dict(SMALL_DD), n_embed=64, embed_dim=32 if kind == "gumbel" else 16)  # type: ignore[arg-type]


def write_config(path: Path, spec: VQSpec) -> Path:
    """``spec`` as a published-layout yaml, with the published (never built) perceptual loss."""
    config = spec_to_config(spec)
    config["model"]["params"]["lossconfig"] = PUBLISHED_LOSS
    path.write_text(yaml.safe_dump(config))
    return path


def random_state(spec: VQSpec, seed: int = 0) -> dict[str, torch.Tensor]:
    """A model's state dict plus the loss entries a Lightning VQModel checkpoint carries."""
    with seeded(seed):
        state = dict(VQAutoencoder(spec).state_dict())
    state["loss.logvar"] = torch.zeros(())
    state["loss.discriminator.main.0.weight"] = torch.zeros(4, 3, 4, 4)
    return state


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1 / max(torch.mean((a - b) ** 2).item(), 1e-12))


def generator(width: int = 64, height: int = 64, cache: ModelCache | None = None, **settings) -> VQGANGenerator:
    context = tiny_context(width, height)
    if cache is not None:
        context = type(context)(width=width, height=height, device=context.device, cache=cache)
    return build_component(VQGANGenerator, settings, context)


# -- quantisation -----------------------------------------------------------------------------------


def test_straight_through_passes_gradients_to_z() -> None:
    codebook = torch.randn(8, 4)
    z = torch.randn(2, 4, 3, 3, requires_grad=True)
    z_q, codes = straight_through_quantize(z, codebook)
    assert torch.allclose(z_q, codebook[codes].permute(0, 3, 1, 2))  # forward: exactly the nearest codes
    distances = ((z.detach().permute(0, 2, 3, 1)[..., None, :] - codebook) ** 2).sum(-1)
    assert torch.equal(codes, distances.argmin(-1))
    weights = torch.randn_like(z)
    (z_q * weights).sum().backward()
    assert torch.allclose(z.grad, weights)  # backward: the identity


def test_gumbel_quantize_is_hard_forward_soft_backward() -> None:
    codebook = torch.randn(8, 4)
    logits = torch.randn(1, 8, 2, 2, requires_grad=True)
    z_q, codes = gumbel_quantize(logits, codebook)
    assert torch.allclose(z_q, codebook[codes].permute(0, 3, 1, 2), atol=1e-6)
    z_q.square().sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_clamp_with_grad_keeps_gradients_that_point_back_into_range() -> None:
    x = torch.tensor([-0.5, 0.5, 1.5], requires_grad=True)
    y = clamp_with_grad(x)
    assert y.tolist() == [0.0, 0.5, 1.0]
    (y * torch.tensor([-1.0, 1.0, 1.0])).sum().backward()  # descent raises x[0], lowers x[2]: both kept
    assert x.grad.tolist() == [-1.0, 1.0, 1.0]
    x.grad = None
    (clamp_with_grad(x) * torch.tensor([1.0, 1.0, -1.0])).sum().backward()  # would push further out: dropped
    assert x.grad.tolist() == [0.0, 1.0, 0.0]


# -- the tiny model ---------------------------------------------------------------------------------


@needs_tiny
class TestVQGANContract(GeneratorContract):
    component = VQGANGenerator


@needs_tiny
def test_gradients_reach_z_through_the_decoder() -> None:
    gen = generator()
    assert gen.parameters_to_optimize() == [gen.z]
    (gen() * torch.linspace(0, 1, 3).view(1, 3, 1, 1)).mean().backward()
    assert gen.z.grad is not None and gen.z.grad.abs().sum() > 0
    assert all(p.grad is None for p in gen.vq.parameters())


@needs_tiny
@pytest.mark.parametrize("size", [(100, 60), (64, 64), (130, 72)])
def test_output_in_range_at_canvas_rounded_to_the_factor(size: tuple[int, int]) -> None:
    gen = generator(*size)
    image = gen()
    expected = tuple(round_to_multiple(side, 8) for side in size)
    assert (gen.width, gen.height) == expected
    assert image.shape == (1, 3, expected[1], expected[0])
    assert image.min() >= 0 and image.max() <= 1
    assert gen.z.shape == (1, 16, expected[1] // 8 + 2, expected[0] // 8 + 2)  # one hidden cell beyond each edge
    assert generator(*size, margin=0).z.shape == (1, 16, expected[1] // 8, expected[0] // 8)
    assert VQGANGenerator.size_multiple_for(VQGANGenerator.Settings()) == 8


@needs_tiny
@pytest.mark.parametrize("kind", ["random_codes", "pixels", "gradient"])
def test_init_kinds(kind: str) -> None:
    with seeded(3):
        first = generator(init=kind)
    with seeded(3):
        second = generator(init=kind)
    assert torch.equal(first.z, second.z)
    with torch.no_grad():
        image = first()
    assert torch.isfinite(image).all() and image.min() >= 0 and image.max() <= 1
    assert image.std() > 0.01  # not a blank canvas


@needs_tiny
def test_init_kinds_differ() -> None:
    images = {}
    for kind in ("random_codes", "pixels", "gradient"):
        with seeded(0), torch.no_grad():
            images[kind] = generator(init=kind)()
    assert not torch.allclose(images["random_codes"], images["gradient"])
    assert not torch.allclose(images["pixels"], images["gradient"])


@needs_tiny
def test_init_image_round_trips() -> None:
    world = pytest.importorskip("pixforge_zoo.world")
    scenes = [
        world.Scene("circle", "red", "blue", "large", "centre"),
        world.Scene("star", "yellow", "black", "medium", "top left"),
    ]
    gen = generator()
    for scene in scenes:
        target = world.render_scene(scene, 64).unsqueeze(0)
        gen.init(target)
        with torch.no_grad():
            image = gen()
        assert psnr(image, target) > 20.0, scene


@needs_tiny
def test_building_does_not_shift_the_random_stream() -> None:
    cache = ModelCache()
    with seeded(5):
        first = generator(cache=cache).z.clone()  # loads the model
    with seeded(5):
        second = generator(cache=cache).z.clone()  # reuses it
    assert torch.equal(first, second) and len(cache) == 1


# -- loading configs and checkpoints ------------------------------------------------------------------


def _fake_module(monkeypatch: pytest.MonkeyPatch, dotted: str) -> types.ModuleType:
    """Register ``dotted`` (and its parents) as empty modules, for the duration of a monkeypatch context."""
    parts = dotted.split(".")
    module = None
    for i in range(1, len(parts) + 1):
        module = types.ModuleType(".".join(parts[:i]))
        monkeypatch.setitem(sys.modules, module.__name__, module)
    assert module is not None
    return module


def _lightning_checkpoint(
    path: Path, state: dict[str, torch.Tensor], monkeypatch: pytest.MonkeyPatch, extra=None
) -> Path:
    """Save ``state`` as Lightning does, with a stand-in ``ModelCheckpoint`` pickled by name."""
    with monkeypatch.context() as patch:
        module = _fake_module(patch, "pytorch_lightning.callbacks.model_checkpoint")

        class ModelCheckpoint:  # what Lightning pickles: the class as the callbacks key, and an instance
            def __init__(self) -> None:
                self.monitor = "val/rec_loss"
                self.best_model_score = torch.tensor(0.25)

        ModelCheckpoint.__module__, ModelCheckpoint.__qualname__ = module.__name__, "ModelCheckpoint"
        module.ModelCheckpoint = ModelCheckpoint
        parsing = _fake_module(patch, "pytorch_lightning.utilities.parsing")

        class AttributeDict(dict):  # newer Lightning keeps hyper-parameters in one of these
            pass

        AttributeDict.__module__, AttributeDict.__qualname__ = parsing.__name__, "AttributeDict"
        parsing.AttributeDict = AttributeDict
        checkpoint = {
            "epoch": 3,
            "global_step": 1200,
            "pytorch-lightning_version": "1.0.8",
            "callbacks": {ModelCheckpoint: {"best_model_score": torch.tensor(0.25), "best_model_path": "x.ckpt"}},
            "checkpoint_callback": ModelCheckpoint(),
            "optimizer_states": [],
            "lr_schedulers": [],
            "state_dict": state,
            "hyper_parameters": AttributeDict(embed_dim=16, lr=4.5e-6),
            "best_score": np.float64(0.25),
        }
        if extra is not None:
            checkpoint["extra"] = extra
        torch.save(checkpoint, path)
    return path


@pytest.fixture(autouse=True)
def _no_lightning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading must not need Lightning (taming's metadata may have installed it): importing it fails here."""
    for name in ("pytorch_lightning", "lightning"):
        monkeypatch.setitem(sys.modules, name, None)


class Payload:
    """An arbitrary class: a weights-only load must refuse to build it."""

    def __init__(self) -> None:
        self.note = "built"


def test_lightning_checkpoint_loads_through_the_allow_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = small_spec()
    config = write_config(tmp_path / "model.yaml", spec)
    ckpt = _lightning_checkpoint(tmp_path / "last.ckpt", random_state(spec), monkeypatch)
    gen = generator(32, 32, config=str(config), checkpoint=str(ckpt))
    expected = random_state(spec)
    assert torch.equal(gen.vq.encoder.conv_in.weight, expected["encoder.conv_in.weight"])
    assert not any(p.requires_grad for p in gen.vq.parameters()) and not gen.vq.training
    assert gen().shape == (1, 3, 32, 32)


def test_unknown_pickled_class_is_refused_then_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = small_spec()
    config = write_config(tmp_path / "model.yaml", spec)
    ckpt = _lightning_checkpoint(tmp_path / "odd.ckpt", random_state(spec), monkeypatch, extra=Payload())
    with pytest.raises(ConfigError, match=r"odd\.ckpt.*Payload.*trust_checkpoint: true"):
        generator(32, 32, config=str(config), checkpoint=str(ckpt))
    gen = generator(32, 32, config=str(config), checkpoint=str(ckpt), trust_checkpoint=True)
    assert gen().shape == (1, 3, 32, 32)


def test_a_registry_sha256_allows_a_full_unpickle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pixforge.weights import WeightEntry, WeightFile, sha256_file

    spec = small_spec()
    config = write_config(tmp_path / "model.yaml", spec)
    ckpt = _lightning_checkpoint(tmp_path / "odd.ckpt", random_state(spec), monkeypatch, extra=Payload())
    # a published model's checkpoint the user placed at a path of their own: the registry vouches for it
    entry = WeightEntry("odd", "vqgan", files=(WeightFile("odd.ckpt", urls=("http://127.0.0.1:9/odd.ckpt",),
                                                          sha256=sha256_file(ckpt)),))
    context = BuildContext(width=32, height=32, device=torch.device("cpu"), weights={"odd": entry})
    gen = build_component(VQGANGenerator, {"config": str(config), "checkpoint": str(ckpt)}, context)
    assert gen().shape == (1, 3, 32, 32)


def test_gumbel_model_loads_and_renders_with_gradients(tmp_path: Path) -> None:
    spec = small_spec("gumbel")
    config = write_config(tmp_path / "gumbel.yaml", spec)
    state = random_state(spec)
    assert "quantize.proj.weight" in state and "quantize.embed.weight" in state
    torch.save({"state_dict": state}, tmp_path / "gumbel.ckpt")
    for init in ("random_codes", "pixels"):
        with seeded(0):
            gen = generator(40, 24, config=str(config), checkpoint=str(tmp_path / "gumbel.ckpt"), init=init)
        assert gen.gumbel and gen.z.shape == (1, 64, 14, 22)  # logits over 64 codes, f2, one margin cell
        image = gen()
        assert image.shape == (1, 3, 24, 40) and image.min() >= 0 and image.max() <= 1
        image.mean().backward()
        assert gen.z.grad is not None and gen.z.grad.abs().sum() > 0


def test_a_gumbel_tile_wraps_its_logits(tmp_path: Path) -> None:
    """--tile with a Gumbel model: the logits hold the canvas's cells only, the wrap margin is decoded and
    cropped, gradients reach every cell, and a picture start keeps the canvas's cells."""
    from dataclasses import replace

    spec = small_spec("gumbel")
    config = write_config(tmp_path / "gumbel.yaml", spec)
    torch.save({"state_dict": random_state(spec)}, tmp_path / "gumbel.ckpt")
    context = replace(tiny_context(40, 24), seamless=True)
    with seeded(0):
        gen = build_component(VQGANGenerator, {"config": str(config), "checkpoint": str(tmp_path / "gumbel.ckpt"),
                                               "wrap_margin": 2}, context)
    assert gen.wrap_cells == 2 and gen.z.shape == (1, 64, 12, 20)  # f2: 24 x 40 px, no margin of its own
    image = gen()
    assert image.shape == (1, 3, 24, 40) and image.min() >= 0 and image.max() <= 1
    image.mean().backward()
    assert gen.z.grad is not None and (gen.z.grad.abs().sum(dim=1) > 0).all()
    gen.init(torch.rand(1, 3, 24, 40))
    assert gen.z.shape == (1, 64, 12, 20)


def test_transformer_checkpoint_uses_its_first_stage(tmp_path: Path) -> None:
    spec = small_spec()
    first = spec_to_config(spec)["model"]
    config = {
        "model": {
            "target": "taming.models.cond_transformer.Net2NetTransformer",
            "params": {"first_stage_config": first, "transformer_config": {"target": "x"}},
        }
    }
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(config))
    state = {f"first_stage_model.{k}": v for k, v in random_state(spec).items()}
    state["transformer.tok_emb.weight"] = torch.zeros(2, 2)
    torch.save({"state_dict": state}, tmp_path / "t.ckpt")
    assert generator(32, 32, config=str(tmp_path / "t.yaml"), checkpoint=str(tmp_path / "t.ckpt"))().shape[-1] == 32


def test_safetensors_and_mismatched_weights(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    spec = small_spec()
    config = write_config(tmp_path / "m.yaml", spec)
    save_file(
        {k: v for k, v in random_state(spec).items() if not k.startswith("loss.")}, str(tmp_path / "m.safetensors")
    )
    assert generator(32, 32, config=str(config), checkpoint=str(tmp_path / "m.safetensors"))().shape[-1] == 32
    other = VQSpec("vq", {**SMALL_DD, "ch_mult": [1, 2, 2]}, 64, 16)
    torch.save({"state_dict": random_state(other)}, tmp_path / "other.ckpt")
    with pytest.raises(ConfigError, match=r"other\.ckpt does not fit"):
        generator(32, 32, config=str(config), checkpoint=str(tmp_path / "other.ckpt"))


def test_unknown_model_name_suggests() -> None:
    with pytest.raises(ConfigError, match="did you mean 'imagenet_f16_16384'"):
        generator(model="imagenet_f16_1638")
    with pytest.raises(ConfigError, match="^generator 'vqgan' settings: unknown vqgan model 'tinny'.*did you mean 'tiny'"):
        generator(model="tinny")


def test_every_model_is_a_registry_entry_with_its_factor() -> None:
    from pixforge.plugins import default_registry
    from pixforge_vqgan.catalog import PUBLISHED

    weights = default_registry().weights
    vqgans = {name for name, entry in weights.items() if entry.kind == "vqgan" and entry.plugin == "vqgan"}
    assert vqgans == {"tiny-vqgan", *PUBLISHED}
    assert weights["tiny-vqgan"].shipped and "tiny" in weights["tiny-vqgan"].aliases
    for name in PUBLISHED:
        entry = weights[name]
        assert [f.name for f in entry.files] == ["config.yaml", "checkpoint.ckpt"] and all(f.urls for f in entry.files)
        assert VQGANGenerator.size_multiple_for(VQGANGenerator.Settings(model=name)) == entry.extra["factor"]
    assert VQGANGenerator.size_multiple_for(VQGANGenerator.Settings(model="vqgan_imagenet_f16_16384")) == 16


def test_published_model_not_present_names_where_to_put_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXFORGE_CACHE", str(tmp_path))
    monkeypatch.setenv("PIXFORGE_OFFLINE", "1")  # never reach for the real mirrors from a test
    expected = tmp_path / "vqgan" / "imagenet_f16_16384" / "config.yaml"
    with pytest.raises(PixforgeError) as error:
        generator(model="vqgan_imagenet_f16_16384")  # the VQGAN-CLIP alias
    message = str(error.value)
    assert message.startswith("model 'imagenet_f16_16384': file 'config.yaml' is not in the cache and downloads")
    assert f"place it at {expected}" in message and "\n" not in message
    assert "https://heibox.uni-heidelberg.de/d/a7530b09fed84f80a887/" in message


def test_published_model_loads_from_the_cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXFORGE_CACHE", str(tmp_path))
    monkeypatch.setenv("PIXFORGE_OFFLINE", "1")
    folder = tmp_path / "vqgan" / "openimages_f8_8192"  # <cache>/<kind>/<name>/, as `pixforge models path` says
    folder.mkdir(parents=True)
    spec = small_spec("gumbel")
    write_config(folder / "config.yaml", spec)
    _lightning_checkpoint(folder / "checkpoint.ckpt", random_state(spec), monkeypatch)
    assert generator(32, 32, model="openimages_f8_8192")().shape == (1, 3, 32, 32)


def test_settings_need_config_and_checkpoint_together() -> None:
    with pytest.raises(ConfigError, match="go together"):
        generator(config="a.yaml")


# -- training -----------------------------------------------------------------------------------------


def test_training_smoke(tmp_path: Path) -> None:
    pytest.importorskip("pixforge_zoo.world")
    from pixforge_vqgan.train import TrainOptions, train

    lines: list[str] = []
    stats = train(TrainOptions(steps=4, minutes=5, batch=4, log_every=2, out_dir=tmp_path), log=lines.append)
    assert stats["step"] == 4 and any("psnr" in line for line in lines)
    config, weights = tmp_path / "configs" / "tiny-vqgan.yaml", tmp_path / "weights" / "tiny-vqgan.safetensors"
    assert weights.stat().st_size < 3_000_000
    gen = generator(64, 64, config=str(config), checkpoint=str(weights))
    assert gen().shape == (1, 3, 64, 64)


@needs_tiny
def test_renders_through_the_pipeline(tmp_path: Path) -> None:
    from pixforge import Pipeline

    pipe = Pipeline()
    first = pipe.render(
        "a red circle",
        out=tmp_path / "a",
        seed=1,
        steps=2,
        size=(60, 44),
        generator={"name": "vqgan", "settings": {"init": "gradient"}},
        overrides=["cutouts.count=2"],
    )
    assert first.status == "completed" and first.image.size == (64, 48)  # rounded to the factor 8
    second = pipe.render(
        "a red circle",
        out=tmp_path / "b",
        seed=1,
        steps=2,
        size=(64, 64),
        generator={"name": "vqgan"},
        init_image=str(first.final_path),
        overrides=["cutouts.count=2"],
        losses=[{"name": "clip_prompt"}, {"name": "init_image", "settings": {"space": "latent"}}],
    )
    assert second.status == "completed" and "init_image" in second.losses[-1]
