"""Renders of a published-style VQGAN against a real HTTP server on 127.0.0.1 (nothing mocked): the render
fetches the model into ``<cache>/vqgan/<name>/`` by itself, fails in one line with downloads off, and
unpickles a checkpoint in full only when the registry's SHA-256 vouches for it.

The model is registered by an in-test plugin, as a third-party plugin would register its own.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
import torch
import yaml
from test_vqgan import _lightning_checkpoint, random_state, small_spec, write_config
from test_weights_download import FileServer
from typer.testing import CliRunner

from pixforge import hookimpl, pipeline
from pixforge.cli import app
from pixforge.components import BuildContext
from pixforge.errors import ConfigError
from pixforge.plugins import default_registry
from pixforge.testing import build_component
from pixforge.weights import WeightEntry, WeightFile
from pixforge_vqgan import VQGANGenerator

NAME = "served-vqgan"
runner = CliRunner()


class Payload:
    """An arbitrary class in a checkpoint: only a full unpickle can build it."""

    def __init__(self) -> None:
        self.note = "built"


class ServedModels:
    """A plugin registering VQGANs whose files the local server serves."""

    def __init__(self, *entries: WeightEntry) -> None:
        self.entries = entries

    @hookimpl
    def register_weights(self, register) -> None:
        for entry in self.entries:
            register(entry)


def served_entry(server: FileServer, name: str, checkpoint: str, *, vouched: bool = True) -> WeightEntry:
    """A published-style entry: a config behind a dead first mirror, and a checkpoint with its SHA-256 and size."""
    data = server.files[checkpoint]
    return WeightEntry(
        name=name,
        kind="vqgan",
        description="a small VQGAN served from 127.0.0.1",
        files=(
            WeightFile("config.yaml", urls=(server.url("/gone/config.yaml"), server.url("/config.yaml"))),
            WeightFile("checkpoint.ckpt", urls=(server.url(checkpoint),),
                       sha256=hashlib.sha256(data).hexdigest() if vouched else None, size=len(data)),
        ),
        extra={"config": "config.yaml", "checkpoint": "checkpoint.ckpt", "factor": 2},
    )


@pytest.fixture(autouse=True)
def _no_lightning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading must not need Lightning: importing it fails here."""
    for module in ("pytorch_lightning", "lightning"):
        monkeypatch.setitem(sys.modules, module, None)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PIXFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PIXFORGE_OFFLINE", raising=False)
    return tmp_path / "cache"


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Serves a small VQGAN's config, a Lightning checkpoint, and one that also pickles an arbitrary class."""
    spec = small_spec()
    files = tmp_path / "made"
    files.mkdir()
    config = write_config(files / "config.yaml", spec)
    plain = _lightning_checkpoint(files / "plain.ckpt", random_state(spec), monkeypatch)
    odd = _lightning_checkpoint(files / "odd.ckpt", random_state(spec), monkeypatch, extra=Payload())
    with FileServer() as running:
        running.files["/config.yaml"] = config.read_bytes()
        running.files["/plain.ckpt"] = plain.read_bytes()
        running.files["/odd.ckpt"] = odd.read_bytes()
        yield running


@pytest.fixture
def registered(server: FileServer, monkeypatch: pytest.MonkeyPatch) -> WeightEntry:
    """Every Pipeline (the CLI's too) loads the installed plugins plus the in-test one."""
    entry = served_entry(server, NAME, "/plain.ckpt")
    plugin = ServedModels(entry)
    monkeypatch.setattr(pipeline, "default_registry", lambda plugins=(): default_registry([*plugins, plugin]))
    return entry


def preset(tmp_path: Path, model: str = NAME) -> str:
    path = tmp_path / "served.yaml"
    path.write_text(yaml.safe_dump({
        "extends": "default",
        "size": [32, 32],
        "steps": 2,
        "generator": {"name": "vqgan", "settings": {"model": model}},
        "cutouts": {"count": 2},
    }))
    return str(path)


def render(tmp_path: Path, *extra: str):
    out = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    return runner.invoke(app, ["render", "a red circle", "--preset", preset(tmp_path), "--seed", "1", "-q",
                               "--out", str(out), *extra])


def test_a_render_fetches_a_published_model_into_the_cache(registered, server, cache, tmp_path) -> None:
    done = render(tmp_path)
    assert done.exit_code == 0, done.output
    folder = cache / "vqgan" / NAME
    assert (folder / "config.yaml").read_bytes() == server.files["/config.yaml"]
    assert (folder / "checkpoint.ckpt").read_bytes() == server.files["/plain.ckpt"]
    assert sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock")) == ["checkpoint.ckpt", "config.yaml"]
    assert [path for path, _ in server.requests] == ["/gone/config.yaml", "/config.yaml", "/plain.ckpt"]
    assert "final.png" in done.stdout
    again = render(tmp_path)  # present now: nothing is asked of the server
    assert again.exit_code == 0, again.output
    assert len(server.requests) == 3


@pytest.mark.parametrize("switch", ["flag", "environment"])
def test_with_downloads_off_a_missing_model_is_one_line(registered, server, cache, tmp_path, monkeypatch, switch) -> None:
    if switch == "environment":
        monkeypatch.setenv("PIXFORGE_OFFLINE", "1")
    done = render(tmp_path, *(["--no-download"] if switch == "flag" else []))
    assert done.exit_code == 1 and server.requests == []
    line = done.stderr.strip()
    assert "\n" not in line and "Traceback" not in done.output
    assert line.startswith(f"pixforge: error: model '{NAME}': file 'config.yaml' is not in the cache and downloads "
                           "are off")
    assert line.endswith(f"place it at {cache / 'vqgan' / NAME / 'config.yaml'}")
    assert not (cache / "vqgan" / NAME).exists()


def test_a_full_unpickle_needs_the_registry_sha256_or_trust(server, cache) -> None:
    def context_with(entry: WeightEntry) -> BuildContext:
        weights = default_registry([ServedModels(entry)]).weights
        return BuildContext(width=32, height=32, device=torch.device("cpu"), weights=weights)

    vouched = context_with(served_entry(server, "odd-vouched", "/odd.ckpt"))
    assert build_component(VQGANGenerator, {"model": "odd-vouched"}, vouched)().shape == (1, 3, 32, 32)
    unvouched = context_with(served_entry(server, "odd-unvouched", "/odd.ckpt", vouched=False))
    refused = cache / "vqgan" / "odd-unvouched" / "checkpoint.ckpt"
    with pytest.raises(ConfigError, match=rf"{refused}.*needs a full unpickle.*Payload.*trust_checkpoint: true"):
        build_component(VQGANGenerator, {"model": "odd-unvouched"}, unvouched)
    assert refused.read_bytes() == server.files["/odd.ckpt"]  # fetched, but never unpickled
    trusted = build_component(VQGANGenerator, {"model": "odd-unvouched", "trust_checkpoint": True}, unvouched)
    assert trusted().shape == (1, 3, 32, 32)


def test_the_canvas_rounds_to_the_factor_another_plugin_records(registered, cache) -> None:
    """Rounding needs no download: the served model's entry says f2, so 38 px stays 38 instead of becoming 40."""
    pipe = pipeline.Pipeline()
    config = pipe.resolve("x", "default", size=(38, 22), generator={"name": "vqgan", "settings": {"model": NAME}})
    context = pipe.context(config, torch.device("cpu"))
    assert (context.width, context.height) == (38, 22)
    assert not cache.exists()  # nothing was fetched to find the factor
    assert VQGANGenerator.size_multiple_for(VQGANGenerator.Settings(model=NAME)) == 8  # without the registry
