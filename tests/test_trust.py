"""Nothing that arrives with a file runs code: trust comes only from the user's command line or a registry SHA-256."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image

from faultkit import TINY, run_main, run_process
from pixforge import Pipeline
from pixforge.config import read_yaml
from pixforge.resolve import resolve_config
from pixforge.errors import ConfigError, PixforgeWarning
from pixforge.outputs import SETTINGS_KEY, png_bytes, read_render_settings
from pixforge.run_folder import RunFolder
from pixforge.sweep import load_spec
from pixforge.trust import TRUST_FLAG, without_trust
from pixforge.weights import WeightEntry, WeightFile

TINY_CONFIG = Path(__file__).resolve().parents[1] / "plugins" / "pixforge_vqgan" / "configs" / "tiny-vqgan.yaml"


class Exploit:
    """Unpickling this creates the marker file: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def evil_checkpoint(path: Path, marker: Path) -> Path:
    torch.save({"state_dict": {}, "payload": Exploit(marker)}, path)
    return path


def vqgan_settings(trust: bool) -> dict:
    return {"name": "vqgan", "settings": {"config": "model.yaml", "checkpoint": "evil.ckpt", "trust_checkpoint": trust}}


def shared_png(folder: Path, marker: Path) -> Path:
    """What someone could share: a PNG asking for trust, and a pickled checkpoint beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.yaml").write_text(TINY_CONFIG.read_text())
    evil_checkpoint(folder / "evil.ckpt", marker)
    settings = resolve_config(Pipeline().registry, "default", ["steps=1", "size=32", "cutouts.count=2"]).model_dump(mode="json")
    settings["generator"] = vqgan_settings(True)
    settings["seed"] = 0
    text = {SETTINGS_KEY: yaml.safe_dump(settings), "pixforge:seed": "0"}
    (folder / "final.png").write_bytes(png_bytes(Image.new("RGB", (32, 32)), text))
    return folder / "final.png"


def test_a_shared_png_with_trust_and_a_checkpoint_beside_it_runs_no_code(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    png = shared_png(tmp_path / "shared", marker)
    done = run_process("render", "--from", str(png), "-q", "--out", str(tmp_path / "out"), cwd=tmp_path / "shared")
    assert done.clean_failure, done.explain()
    assert not marker.exists()
    assert TRUST_FLAG in done.err and "ignored generator.settings.trust_checkpoint" in done.err


def test_a_preset_file_asking_for_trust_runs_no_code(tmp_path: Path, capsys, monkeypatch) -> None:
    marker = tmp_path / "ran"
    (tmp_path / "model.yaml").write_text(TINY_CONFIG.read_text())
    evil_checkpoint(tmp_path / "evil.ckpt", marker)
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"extends": "default", "generator": vqgan_settings(True)}))
    done = run_main(capsys, monkeypatch, "render", "x", "--preset", str(tmp_path / "p.yaml"), *TINY, "--out", "o")
    assert done.clean_failure and TRUST_FLAG in done.err, done.explain()
    assert not marker.exists()


def test_trust_given_on_the_command_line_is_honoured(tmp_path: Path) -> None:
    registry = Pipeline().registry
    plain = resolve_config(registry, "default", ["generator.name=vqgan"])
    trusted = resolve_config(registry, "default", ["generator.name=vqgan"], trust_checkpoint=True)
    assert plain.generator.settings["trust_checkpoint"] is False
    assert trusted.generator.settings["trust_checkpoint"] is True
    # components without such a setting are left alone (the pixel generator has none)
    pixel = resolve_config(registry, "default", ["generator={name: pixel}"], trust_checkpoint=True)
    assert "trust_checkpoint" not in pixel.generator.settings


@pytest.mark.parametrize(
    "data, dropped",
    [
        ({"generator": {"name": "vqgan", "settings": {"trust_checkpoint": True}}}, "generator.settings.trust_checkpoint"),
        ({"generator.settings.trust_checkpoint": True}, "generator.settings.trust_checkpoint"),
        ({"perceptors": [{"name": "clip", "settings": {"trust_checkpoint": "yes"}}]}, "perceptors.0.settings.trust_checkpoint"),
        ({"variations": [{"generator.settings.trust_checkpoint": True}]}, "variations.0.generator.settings.trust_checkpoint"),
        ({"overrides": ["generator.settings.trust_checkpoint=true"]}, "generator.settings.trust_checkpoint=true"),
    ],
)
def test_trust_keys_are_dropped_from_anything_read_from_a_file(data: dict, dropped: str) -> None:
    with pytest.warns(PixforgeWarning, match=dropped.replace(".", r"\.")):
        cleaned = without_trust(data, "f.yaml")
    assert "trust_checkpoint" not in yaml.safe_dump(cleaned).replace("overrides", "")


def test_a_false_trust_key_is_dropped_without_a_warning() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert without_trust({"generator": {"settings": {"trust_checkpoint": False}}}, "f") == {"generator": {"settings": {}}}


def test_a_sweep_file_cannot_grant_trust(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("base: {generator.settings.trust_checkpoint: true, steps: 1}\n")
    with pytest.warns(PixforgeWarning):
        spec = load_spec(path)
    assert spec.base == {"steps": 1}


def test_a_resumed_run_folders_settings_cannot_grant_trust(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({"generator": vqgan_settings(True)}))
    with pytest.warns(PixforgeWarning):
        assert "trust_checkpoint" not in read_yaml(path)["generator"]["settings"]


@pytest.mark.parametrize("where", ["png", "preset", "sweep"])
def test_a_python_yaml_tag_is_one_line_and_runs_nothing(tmp_path: Path, where: str, capsys, monkeypatch) -> None:
    marker = tmp_path / "ran"
    evil = f"prompt: !!python/object/apply:os.system ['touch {marker}']\n"
    if where == "png":
        (tmp_path / "x.png").write_bytes(png_bytes(Image.new("RGB", (8, 8)), {SETTINGS_KEY: evil}))
        args = ["render", "--from", str(tmp_path / "x.png"), "-q"]
    elif where == "preset":
        (tmp_path / "p.yaml").write_text(evil)
        args = ["render", "x", "--preset", str(tmp_path / "p.yaml"), "-q"]
    else:
        (tmp_path / "s.yaml").write_text(evil)
        args = ["sweep", str(tmp_path / "s.yaml")]
    done = run_main(capsys, monkeypatch, *args)
    assert done.clean_failure, done.explain()
    assert not marker.exists()


def test_read_render_settings_refuses_a_python_tag(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(png_bytes(Image.new("RGB", (8, 8)), {SETTINGS_KEY: "a: !!python/name:os.system\n"}))
    with pytest.raises(ConfigError, match="not plain YAML"):
        read_render_settings(path)


def _run_folder(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    Pipeline().render("a red circle", out=run, seed=0, steps=2, size=32,
                      overrides=["cutouts.count=2", "checkpoint_every=1"])
    return run


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    return _run_folder(tmp_path_factory.mktemp("resume"))


@pytest.mark.parametrize(
    "damage",
    ["pickled object", "zero bytes", "truncated", "random bytes", "a list", "wrong version", "fifo", "folder",
     "tensor as step"],
)
def test_a_damaged_or_pickled_checkpoint_is_refused_in_one_line(
    tmp_path: Path, finished_run: Path, damage: str, capsys, monkeypatch
) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    checkpoint = run / RunFolder.CHECKPOINT
    good = torch.load(checkpoint, weights_only=True) if checkpoint.exists() else None
    marker = tmp_path / "ran"
    checkpoint.unlink(missing_ok=True)
    if damage == "pickled object":
        torch.save({"format_version": 1, "payload": Exploit(marker)}, checkpoint)
    elif damage == "zero bytes":
        checkpoint.write_bytes(b"")
    elif damage == "truncated":
        buffer = __import__("io").BytesIO()
        torch.save(good or {"format_version": 1, "step": 1}, buffer)
        checkpoint.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    elif damage == "random bytes":
        checkpoint.write_bytes(os.urandom(4096))
    elif damage == "a list":
        torch.save([1, 2, 3], checkpoint)
    elif damage == "wrong version":
        torch.save({"format_version": 99}, checkpoint)
    elif damage == "fifo":
        os.mkfifo(checkpoint)
    elif damage == "folder":
        checkpoint.mkdir()
    else:
        torch.save({"format_version": 1, "step": torch.zeros(3), "params": "x", "optimizer": {}, "scheduler": {},
                    "rng_cpu": 1, "rng_cuda": [], "history": []}, checkpoint)
    (run / "run.json").unlink(missing_ok=True)
    done = run_main(capsys, monkeypatch, "render", "--resume", str(run), "-q")
    assert done.clean_failure, done.explain()
    assert not marker.exists()
    assert (run / "final.png").is_file()  # the finished image is still there


@pytest.mark.parametrize(
    "build",
    [
        lambda: WeightEntry("../escape", "vqgan", files=(WeightFile("a.ckpt", urls=("https://h/a",)),)),
        lambda: WeightEntry("a/../../b", "vqgan", files=(WeightFile("a.ckpt", urls=("https://h/a",)),)),
        lambda: WeightEntry("a\\..\\b", "vqgan", files=(WeightFile("a.ckpt", urls=("https://h/a",)),)),
        lambda: WeightEntry("file://etc", "vqgan", files=(WeightFile("a.ckpt", urls=("https://h/a",)),)),
        lambda: WeightEntry("/abs", "vqgan", files=(WeightFile("a.ckpt", urls=("https://h/a",)),)),
        lambda: WeightEntry("sub/name", "vqgan", files=(WeightFile("a.ckpt", urls=("https://h/a",)),)),
        lambda: WeightEntry("m", "../kind", files=(WeightFile("a.ckpt", urls=("https://h/a",)),)),
        lambda: WeightEntry("m", "Kind With Spaces", files=(WeightFile("a.ckpt", urls=("https://h/a",)),)),
        lambda: WeightEntry("m", "vqgan", aliases=("../x",), files=(WeightFile("a.ckpt", urls=("https://h/a",)),)),
        lambda: WeightEntry("m", "vqgan", files=(WeightFile("a.ckpt", urls=("file:///etc/passwd",)),)),
        lambda: WeightEntry("m", "vqgan", files=(WeightFile("a.ckpt", urls=("ftp://h/a",)),)),
        lambda: WeightEntry("m", "vqgan", files=(WeightFile("/etc/passwd", urls=("https://h/a",)),)),
        lambda: WeightEntry("m", "vqgan", files=(WeightFile("..", urls=("https://h/a",)),)),
        lambda: WeightEntry("m", "vqgan", files=(WeightFile("a\\..\\b.ckpt", urls=("https://h/a",)),)),
    ],
)
def test_weight_entries_cannot_reach_outside_the_cache(build) -> None:
    with pytest.raises(ValueError):
        build()


def test_an_open_clip_tag_may_keep_its_slash() -> None:
    assert WeightEntry("ViT-B-32/openai", "clip", open_clip=("ViT-B-32", "openai")).name == "ViT-B-32/openai"


def test_the_trust_flag_reaches_the_render_and_is_not_read_back(tmp_path: Path, capsys, monkeypatch) -> None:
    done = run_main(capsys, monkeypatch, "render", "x", *TINY, "--trust-checkpoint", "--out", str(tmp_path / "a"))
    assert done.code == 0, done.explain()
    saved = yaml.safe_load((tmp_path / "a" / "settings.yaml").read_text())
    assert saved["generator"]["name"] == "vqgan" and saved["generator"]["settings"]["trust_checkpoint"] is True
    with pytest.warns(PixforgeWarning, match="ignored generator.settings.trust_checkpoint"):
        again = read_render_settings(tmp_path / "a" / "final.png")
    assert "trust_checkpoint" not in again["generator"]["settings"]
