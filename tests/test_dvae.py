"""The ``dvae`` generator: relaxations and their gradients, safe loading of published-format pickles,
the tiny dVAE's round trip, training, and an end-to-end render judged by pixel statistics alone."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from pixforge import hookimpl
from pixforge.errors import ConfigError
from pixforge.testing import GeneratorContract, build_component, seeded, tiny_context
from pixforge.weights import WeightEntry, WeightFile
from pixforge_dvae import DVAEGenerator
from pixforge_dvae.catalog import KIND, tiny_files
from pixforge_zoo.judge import colour_check
from pixforge_dvae.loading import DVAEFiles, entry_files, load_dvae, read_state_dict, resolve
from pixforge_dvae.model import DVAE, decoder_config, make_decoder, make_encoder
from pixforge_dvae.relax import RELAXATIONS, relax, temperature_at

TINY_READY = all(path.is_file() for path in tiny_files())
needs_tiny = pytest.mark.skipif(not TINY_READY, reason="tiny dVAE weights not trained yet")
SMALL = {"n_hid": 16, "n_blk_per_group": 1, "vocab_size": 64}


def small_modules(seed: int = 0) -> tuple[torch.nn.Module, torch.nn.Module]:
    """A random dall-e encoder and decoder small enough to build in milliseconds."""
    with seeded(seed):
        return make_encoder(**SMALL), make_decoder(n_init=16, **SMALL)


@pytest.fixture(scope="module")
def small_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The small random model as safetensors files: (encoder, decoder)."""
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("small-dvae")
    encoder, decoder = small_modules()
    paths = folder / "encoder.safetensors", folder / "decoder.safetensors"
    for module, path in zip((encoder, decoder), paths):
        save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))
    return paths


def small_generator(small_files: tuple[Path, Path], size: int = 32, **settings: object) -> DVAEGenerator:
    encoder, decoder = small_files
    with seeded(0):
        return build_component(DVAEGenerator, {"encoder": str(encoder), "decoder": str(decoder), **settings},
                               tiny_context(size, size))


# -- relaxations -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", RELAXATIONS)
def test_relaxations_are_distributions_with_gradients(kind: str) -> None:
    logits = torch.randn(2, 64, 3, 3, requires_grad=True)
    with seeded(0):
        dist = relax(logits, kind, 0.5)  # type: ignore[arg-type]
    assert torch.allclose(dist.sum(dim=1), torch.ones(2, 3, 3), atol=1e-5)
    if kind == "gumbel_hard":
        assert set(dist.detach().unique().tolist()) == {0.0, 1.0}
    (dist * torch.randn_like(dist)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", RELAXATIONS)
def test_gradients_reach_the_logits_through_the_decoder(small_files: tuple[Path, Path], kind: str) -> None:
    generator = small_generator(small_files, relaxation=kind, temperature=0.7)
    image = generator()
    assert image.shape == (1, 3, 32, 32) and 0 <= image.min() and image.max() <= 1
    (image * torch.linspace(0, 1, 3).view(1, 3, 1, 1)).mean().backward()
    assert generator.logits.grad is not None and generator.logits.grad.abs().sum() > 0


def test_noise_is_seeded_and_absent_without_gradients() -> None:
    logits = torch.randn(1, 64, 2, 2)
    with seeded(3):
        first = relax(logits, "gumbel", 1.0)
    with seeded(3):
        second = relax(logits, "gumbel", 1.0)
    assert torch.equal(first, second)
    assert torch.allclose(relax(logits, "gumbel", 1.0, noise=False), F.softmax(logits, dim=1))
    hard = relax(logits, "gumbel_hard", 1.0, noise=False)
    assert torch.equal(hard.argmax(dim=1), logits.argmax(dim=1))


def test_temperature_schedules() -> None:
    assert temperature_at(5, 10, 1.0, 0.1, "constant") == 1.0
    assert temperature_at(5, 10, 1.0, 0.2, "linear") == pytest.approx(0.6)
    assert temperature_at(5, 10, 1.0, 0.01, "exponential") == pytest.approx(0.1)
    assert temperature_at(50, 10, 1.0, 0.01, "exponential") == pytest.approx(0.01)  # held at the end


def test_generator_follows_its_schedule(small_files: tuple[Path, Path]) -> None:
    generator = small_generator(small_files, temperature=1.0, temperature_end=0.25, schedule="linear",
                                temperature_steps=4)
    seen = []
    for _ in range(6):
        seen.append(generator.temperature())
        generator.after_step()
    assert seen == pytest.approx([1.0, 0.8125, 0.625, 0.4375, 0.25, 0.25])


def test_logit_scale_multiplies_the_stored_logits(small_files: tuple[Path, Path]) -> None:
    plain = small_generator(small_files, init="tokens")
    scaled = small_generator(small_files, init="tokens", logit_scale=10.0)
    assert torch.allclose(plain.logits, scaled.logits * 10.0)
    with torch.no_grad():
        assert torch.allclose(plain(), scaled(), atol=1e-5)


def test_batch_renders_independent_grids(small_files: tuple[Path, Path]) -> None:
    generator = small_generator(small_files, size=16, batch=3)
    image = generator()
    assert image.shape == (3, 3, 16, 16)
    assert not torch.equal(image[0], image[1])


def test_init_image_gives_confident_logits_of_its_tokens(small_files: tuple[Path, Path]) -> None:
    generator = small_generator(small_files, init_confidence=0.8)
    picture = torch.rand(1, 3, 32, 32)
    generator.init(picture)
    tokens = generator.encode_tokens(picture)
    assert torch.equal(generator.logits.argmax(dim=1), tokens)
    assert F.softmax(generator.logits, dim=1).amax(dim=1).mean().item() == pytest.approx(0.8)


def test_settings_mistakes_are_config_errors(small_files: tuple[Path, Path]) -> None:
    with pytest.raises(ConfigError, match="'encoder' needs 'decoder'"):
        build_component(DVAEGenerator, {"encoder": str(small_files[0])})
    with pytest.raises(ConfigError, match="did you mean 'tiny-dvae'"):
        build_component(DVAEGenerator, {"model": "tiny-dvea"})
    with pytest.raises(ConfigError, match="not found"):
        build_component(DVAEGenerator, {"decoder": "missing.safetensors"})


# -- loading the published format ------------------------------------------------------------------------


def published_pickles(folder: Path) -> tuple[Path, Path]:
    """Whole pickled modules, the way OpenAI published ``encoder.pkl`` / ``decoder.pkl``."""
    encoder, decoder = small_modules(seed=5)
    paths = folder / "encoder.pkl", folder / "decoder.pkl"
    for module, path in zip((encoder, decoder), paths):
        torch.save(module, path)
    return paths


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pickled_module_is_refused_without_a_matching_checksum(tmp_path: Path) -> None:
    _, decoder = published_pickles(tmp_path)
    with pytest.raises(ConfigError, match="trust_checkpoint"):
        read_state_dict(decoder)
    with pytest.raises(ConfigError, match="trust_checkpoint"):
        read_state_dict(decoder, trusted_sha256={"0" * 64})
    state = read_state_dict(decoder, trusted_sha256={sha256(decoder)})
    assert decoder_config(state)["vocab_size"] == 64
    assert read_state_dict(decoder, trust=True).keys() == state.keys()


def test_registry_entry_checksums_vouch_for_published_pickles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIXFORGE_OFFLINE", "1")
    encoder, decoder = published_pickles(tmp_path)

    def entry(checksums: bool) -> WeightEntry:
        files = tuple(
            WeightFile(path.name, urls=(f"https://example.invalid/{path.name}",),
                       sha256=sha256(path) if checksums else None)
            for path in (encoder, decoder)
        )
        return WeightEntry("published-test", KIND, files=files,
                           extra={"encoder": "encoder.pkl", "decoder": "decoder.pkl"})

    place = tmp_path / "cache" / KIND / "published-test"
    place.mkdir(parents=True)
    for path in (encoder, decoder):
        (place / path.name).write_bytes(path.read_bytes())
    with pytest.raises(ConfigError, match="needs a full unpickle"):
        load_dvae(entry_files(entry(checksums=False)))
    model = load_dvae(entry_files(entry(checksums=True)))
    assert load_dvae(entry_files(entry(checksums=False)), trust=True).vocab_size == model.vocab_size == 64
    original = torch.load(decoder, weights_only=False)
    tokens = torch.randint(64, (1, 2, 2))
    with torch.no_grad():
        expected = torch.sigmoid(original(F.one_hot(tokens, 64).permute(0, 3, 1, 2).float())[:, :3])
        assert torch.allclose(model.decode_tokens(tokens), ((expected - 0.1) / 0.8).clamp(0, 1), atol=1e-5)


def test_openai_entry_is_registered_by_name() -> None:
    from pixforge.plugins import default_registry

    weights = default_registry().weights
    entry = weights["openai-dvae"]
    assert entry.kind == KIND and entry.extra["vocab_size"] == 8192
    assert {f.name for f in entry.files} == {"encoder.pkl", "decoder.pkl"}
    assert all(f.urls[0].startswith("https://cdn.openai.com/dall-e/") for f in entry.files)
    assert weights["tiny-dvae"].shipped


def test_generator_and_trainer_are_registered() -> None:
    from pixforge.plugins import default_registry

    registry = default_registry()
    assert registry.get("generator", "dvae") is DVAEGenerator
    assert "tiny-dvae" in registry.trainers


# -- the tiny model ------------------------------------------------------------------------------------


@needs_tiny
def test_tiny_round_trip_encoder_tokens_decoder() -> None:
    from pixforge_zoo.world import batches

    model = load_dvae(resolve("tiny-dvae", None, None))
    images, _ = next(batches(16, 4242, 64, 16))
    with torch.no_grad():
        tokens = model.tokens(images)
        recon = model.decode_tokens(tokens)
        again = model.tokens(recon)
    assert tokens.shape == (16, 8, 8)
    mse = F.mse_loss(recon, images).item()
    assert 10 * torch.log10(torch.tensor(1 / mse)) > 22  # dB
    assert (again == tokens).float().mean() > 0.5


@needs_tiny
class TestTinyDVAEContract(GeneratorContract):
    """The default settings run in tests/test_contracts.py; here the hard relaxation from random logits."""

    component = DVAEGenerator
    settings = {"relaxation": "gumbel_hard", "init": "random"}


def test_training_smoke(tmp_path: Path) -> None:
    pytest.importorskip("pixforge_zoo.world")
    from pixforge_dvae.train import TrainOptions, train

    lines: list[str] = []
    stats = train(TrainOptions(steps=3, minutes=5, batch=4, log_every=1, out_dir=tmp_path), log=lines.append)
    assert stats["step"] == 3 and any("psnr" in line for line in lines)
    encoder, decoder, record = tiny_files(tmp_path)
    assert record.is_file() and encoder.stat().st_size + decoder.stat().st_size < 4_000_000
    model = load_dvae(DVAEFiles("smoke", decoder, encoder))
    assert isinstance(model, DVAE) and model.vocab_size == 512


# -- end to end --------------------------------------------------------------------------------------------


@needs_tiny
def test_cli_render_red_circle_on_blue_passes_the_colour_check(tmp_path: Path) -> None:
    from PIL import Image

    from pixforge.cli import app
    from pixforge.outputs import pil_to_tensor

    done = CliRunner().invoke(app, ["render", "a red circle on a blue background", "--preset", "dvae",
                                    "--seed", "0", "-q", "--out", str(tmp_path / "run")])
    assert done.exit_code == 0, done.output
    image = pil_to_tensor(Image.open(tmp_path / "run" / "final.png").convert("RGB"))
    verdict = colour_check(image, "red", "blue")
    assert verdict.passed, verdict


def test_colour_check_on_drawn_scenes() -> None:
    from pixforge_zoo.world import Scene, render_scene

    for position in ("centre", "bottom right"):
        image = render_scene(Scene("circle", "red", "blue", "small", position), 64, rng=0)
        assert colour_check(image, "red", "blue").passed
        assert not colour_check(image, "blue", "red").passed
        assert not colour_check(image, "green", "blue").passed
    assert not colour_check(torch.full((3, 64, 64), 0.5), "red", "blue").passed


@needs_tiny
def test_candidates_are_one_batched_render_of_several_token_grids(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from pixforge import Pipeline

    result = Pipeline().render("a red circle on a blue background", "dvae", seed=3, steps=6, candidates=3,
                               out=tmp_path / "run")
    rows = result.extras["candidates"]
    assert sorted(row["sample"] for row in rows) == [0, 1, 2] and {row["seed"] for row in rows} == {3}
    assert [row["score"] for row in rows] == sorted((row["score"] for row in rows), reverse=True)
    folders = sorted(p.name for p in (tmp_path / "run" / "candidates").iterdir())
    assert folders == ["batch", "sample-0", "sample-1", "sample-2"]  # one render, not three
    settings = (tmp_path / "run" / "candidates" / "batch" / "settings.yaml").read_text()
    assert "batch: 3" in settings
    pixels = [np.asarray(Image.open(tmp_path / "run" / "candidates" / f"sample-{i}" / "final.png")) for i in range(3)]
    assert not np.array_equal(pixels[0], pixels[1])  # independent grids
    best = np.asarray(Image.open(tmp_path / "run" / "final.png"))
    assert np.array_equal(best, pixels[rows[0]["sample"]])
    assert Image.open(tmp_path / "run" / "candidates" / f"sample-{rows[0]['sample']}" / "final.png").text[
        "pixforge:sample"] == str(rows[0]["sample"])


class _ServedDVAE:
    """A third-party plugin registering a dVAE whose files a local HTTP server serves."""

    def __init__(self, entry: WeightEntry) -> None:
        self.entry = entry

    @hookimpl
    def register_weights(self, register) -> None:
        register(self.entry)


@needs_tiny
def test_a_dvae_another_plugin_registers_is_fetched_unless_downloads_are_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_weights_download import FileServer

    from pixforge import Pipeline
    from pixforge.errors import PixforgeError

    monkeypatch.setenv("PIXFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PIXFORGE_OFFLINE", raising=False)
    encoder, decoder, _ = tiny_files()
    with FileServer() as server:
        server.files["/enc.safetensors"] = encoder.read_bytes()
        server.files["/dec.safetensors"] = decoder.read_bytes()
        entry = WeightEntry(
            name="served-dvae", kind=KIND,
            files=(WeightFile("enc.safetensors", urls=(server.url("/enc.safetensors"),)),
                   WeightFile("dec.safetensors", urls=(server.url("/dec.safetensors"),))),
            extra={"encoder": "enc.safetensors", "decoder": "dec.safetensors", "vocab_size": 512},
        )
        plugin = _ServedDVAE(entry)
        offline = Pipeline(plugins=[plugin], allow_download=False)
        with pytest.raises(PixforgeError, match="downloads are off"):
            offline.render("a red circle", "dvae", steps=1, out=tmp_path / "off",
                           overrides=["generator.settings.model=served-dvae"])
        assert not (tmp_path / "cache" / "dvae" / "served-dvae" / "dec.safetensors").exists()
        online = Pipeline(plugins=[plugin])
        result = online.render("a red circle", "dvae", steps=1, out=tmp_path / "on",
                               overrides=["generator.settings.model=served-dvae"])
    assert result.status == "completed"
    assert (tmp_path / "cache" / "dvae" / "served-dvae" / "dec.safetensors").read_bytes() == decoder.read_bytes()
