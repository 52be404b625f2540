"""``pixforge models``: list, fetch (from a real server on 127.0.0.1), verify and path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_weights_download import PAYLOAD, SHA, FileServer, closed_port_url
from typer.testing import CliRunner

from pixforge import models_cli
from pixforge.cli import app
from pixforge.weights import WeightEntry, WeightFile

runner = CliRunner()
ROW_KEYS = {"name", "kind", "description", "size", "present", "source", "location", "plugin", "aliases", "files"}
FILE_KEYS = {"name", "size", "sha256", "format", "urls", "path"}


def cli(*args):
    return runner.invoke(app, list(args))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PIXFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("PIXFORGE_OFFLINE", raising=False)
    return tmp_path / "cache"


@pytest.fixture
def served(cache, monkeypatch):
    """A registry with one downloadable model served by a real local HTTP server."""
    with FileServer() as server:
        server.files["/w.bin"] = PAYLOAD
        entry = WeightEntry("toy", "dvae", "a toy decoder",
                            files=(WeightFile("w.bin", urls=(server.url("/w.bin"),), sha256=SHA, size=len(PAYLOAD)),))
        monkeypatch.setattr(models_cli, "_weights", lambda: {"toy": entry})
        yield server


def test_list_json_schema_covers_the_first_party_clip_names(cache):
    done = cli("models", "list", "--json")
    assert done.exit_code == 0, done.output
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert {"ViT-B-32/openai", "ViT-B-16/openai", "RN50/openai", "ViT-L-14/openai"} <= set(rows)
    for row in rows.values():
        assert set(row) == ROW_KEYS
        assert all(set(f) == FILE_KEYS for f in row["files"])
    vit = rows["ViT-B-32/openai"]
    assert vit["kind"] == "clip" and vit["source"] == "open_clip:ViT-B-32/openai" and vit["present"] is False
    assert vit["location"].startswith(str(cache.parent / "hub"))


def test_list_shows_the_shipped_tiny_models_and_the_published_vqgans(cache):
    rows = {row["name"]: row for row in json.loads(cli("models", "list", "--json").stdout)}
    for name, kind in (("pixforge-tiny-clip", "clip"), ("tiny-vqgan", "vqgan")):
        row = rows[name]
        assert row["kind"] == kind and row["source"] == "shipped" and row["present"] is True
        assert row["size"] == sum(Path(f["path"]).stat().st_size for f in row["files"]) > 0
    published = rows["imagenet_f16_16384"]
    assert published["kind"] == "vqgan" and published["source"] == "download" and published["present"] is False
    assert published["location"] == str(cache / "vqgan" / "imagenet_f16_16384")
    assert "vqgan_imagenet_f16_16384" in published["aliases"]
    assert [f["name"] for f in published["files"]] == ["config.yaml", "checkpoint.ckpt"]
    assert all(f["urls"] for f in published["files"])
    text = cli("models", "path", "vqgan_imagenet_f16_16384").stdout.split()
    assert text == [str(cache / "vqgan" / "imagenet_f16_16384" / n) for n in ("config.yaml", "checkpoint.ckpt")]


def test_list_fetch_verify_and_path_of_a_downloadable_model(served, cache):
    listed = cli("models", "list").stdout.splitlines()
    assert listed[0].split() == ["name", "kind", "size", "local", "from"]
    assert any(line.split()[:2] == ["toy", "dvae"] for line in listed[1:])
    expected = cache / "dvae" / "toy" / "w.bin"
    assert cli("models", "path", "toy").stdout.strip() == str(expected)
    done = cli("models", "fetch", "toy")
    assert done.exit_code == 0, done.output
    assert expected.read_bytes() == PAYLOAD and str(expected) in done.stdout
    row = json.loads(cli("models", "list", "--json").stdout)[0]
    assert row["present"] is True and row["size"] == len(PAYLOAD) and row["files"][0]["sha256"] == SHA
    done = cli("models", "verify")
    assert done.exit_code == 0 and done.stdout.startswith("ok")


def test_verify_detects_a_corrupted_cached_file(served, cache):
    assert cli("models", "fetch", "toy").exit_code == 0
    path = cache / "dvae" / "toy" / "w.bin"
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    done = cli("models", "verify", "toy")
    assert done.exit_code == 1
    assert done.stdout.startswith("corrupt") and "--force" in done.stderr
    assert cli("models", "fetch", "--force", "toy").exit_code == 0
    assert cli("models", "verify", "toy").exit_code == 0


def test_verify_reports_missing_files_it_was_asked_about(served):
    done = cli("models", "verify", "toy")
    assert done.exit_code == 0 and done.stdout.startswith("missing")


def test_fetch_offline_and_unknown_names_are_one_line_errors(served, cache, monkeypatch):
    monkeypatch.setenv("PIXFORGE_OFFLINE", "1")
    done = cli("models", "fetch", "toy")
    assert done.exit_code == 1 and served.requests == []
    assert done.stderr.startswith("pixforge: error: model 'toy': file 'w.bin' is not in the cache and downloads are")
    assert str(cache / "dvae" / "toy" / "w.bin") in done.stderr
    done = cli("models", "fetch", "tyo")
    assert done.exit_code == 1
    expected = "pixforge: error: unknown model 'tyo'; did you mean 'toy'? (see `pixforge models list`)"
    assert done.stderr.strip() == expected
    assert cli("models", "path", "nope").exit_code == 1


def test_fetch_with_no_server_names_model_file_and_path(cache, monkeypatch):
    entry = WeightEntry("gone", "vqgan", files=(WeightFile("last.ckpt", urls=(closed_port_url(),)),))
    monkeypatch.setattr(models_cli, "_weights", lambda: {"gone": entry})
    done = cli("models", "fetch", "gone")
    assert done.exit_code == 1
    line = done.stderr.strip()
    assert line.count("\n") == 0 and line.startswith("pixforge: error: model 'gone'")
    assert f"place it at {cache / 'vqgan' / 'gone' / 'last.ckpt'}" in line
    assert not (cache / "vqgan" / "gone" / "last.ckpt.part").exists()
