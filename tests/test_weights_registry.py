"""The weights registry (entries, the hook, lookup, the cache layout, open_clip names) and safe loading."""

from __future__ import annotations

import hashlib

import pytest
import torch
from safetensors.torch import save_file

from pixforge import hookimpl
from pixforge.errors import ConfigError, PluginError
from pixforge.plugins import build_registry, default_registry, make_manager
from pixforge.weights import (
    DownloadError,
    FetchOptions,
    WeightEntry,
    WeightFile,
    cache_root,
    ensure_local,
    is_present,
    load_checkpoint,
    lookup,
    trusted_sha256,
)
from pixforge.weights.openclip import cached_file

SHA = "ab" * 32


def downloadable(name: str = "tiny-vq", aliases: tuple[str, ...] = ()) -> WeightEntry:
    return WeightEntry(
        name=name,
        kind="vqgan",
        description="a test model",
        files=(WeightFile("model.yaml", urls=("http://127.0.0.1:9/a",), size=3),
               WeightFile("last.ckpt", urls=("http://127.0.0.1:9/b",), sha256=SHA, size=5)),
        aliases=aliases,
    )


class WeightsPlugin:
    def __init__(self, *entries: WeightEntry) -> None:
        self.entries = entries

    @hookimpl
    def register_weights(self, register):
        for entry in self.entries:
            register(entry)


def registry_of(*plugins):
    return build_registry(make_manager(plugins, load_entry_points=False))


# --- entries -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: WeightFile("a/b.ckpt", urls=("u",)), "plain file name"),
        (lambda: WeightFile("b.ckpt", urls=("u",), sha256="xyz"), "64 hex"),
        (lambda: WeightEntry("m", "vqgan", files=(WeightFile("b.ckpt"),)), "neither urls nor shipped"),
        (lambda: WeightEntry("m", "clip"), "no files and no open_clip"),
        (lambda: WeightEntry("m", "clip", open_clip=("RN50", "openai"), files=(WeightFile("x", urls=("u",)),)),
         "list no files"),
    ],
)
def test_invalid_entries_are_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_entry_describes_its_files():
    entry = downloadable()
    assert entry.size == 8 and not entry.shipped
    assert entry.file("last.ckpt").format == "torch" and entry.file("model.yaml").format == "yaml"
    with pytest.raises(KeyError, match="model.yaml, last.ckpt"):
        entry.file("nope")


# --- the hook ------------------------------------------------------------------------------------------


def test_plugins_register_weights_through_the_hook():
    weights = registry_of(WeightsPlugin(downloadable())).weights
    assert list(weights) == ["tiny-vq"]
    assert weights["tiny-vq"].plugin  # filled in with the registering plugin's name


def test_first_party_clip_names_are_registered():
    weights = default_registry().weights
    for name in ("ViT-B-32/openai", "ViT-B-16/openai", "RN50/openai", "ViT-L-14/openai"):
        assert weights[name].kind == "clip" and weights[name].open_clip == (name.split("/")[0], "openai")
        assert weights[name].plugin == "clip"
    assert lookup(weights, "ViT-B/32").name == "ViT-B-32/openai"  # the Pixray / VQGAN-CLIP spelling


def test_a_name_registered_twice_names_both_plugins():
    first, second = WeightsPlugin(downloadable()), WeightsPlugin(downloadable())
    with pytest.raises(PluginError, match=r"'tiny-vq' is registered twice: by plugin '.+' and by plugin '.+'"):
        registry_of(first, second)
    with pytest.raises(PluginError, match="'old' is registered twice"):
        registry_of(WeightsPlugin(downloadable("a", ("old",)), downloadable("b", ("old",))))


def test_registering_something_else_is_a_plugin_error():
    class Bad:
        @hookimpl
        def register_weights(self, register):
            register({"name": "x"})

    with pytest.raises(PluginError, match="not a pixforge WeightEntry"):
        registry_of(Bad())


def test_lookup_by_alias_and_kind_with_a_suggestion():
    weights = registry_of(WeightsPlugin(downloadable(aliases=("vqgan_tiny",)))).weights
    assert lookup(weights, "vqgan_tiny").name == "tiny-vq"
    assert lookup(weights, "tiny-vq", kind="vqgan").name == "tiny-vq"
    with pytest.raises(ConfigError, match="unknown model 'tiny-vg'; did you mean 'tiny-vq'"):
        lookup(weights, "tiny-vg")
    with pytest.raises(ConfigError, match="unknown clip model 'tiny-vq'"):
        lookup(weights, "tiny-vq", kind="clip")
    assert trusted_sha256(weights) == {SHA}


# --- the cache and local files ------------------------------------------------------------------------


def test_cache_root_comes_from_the_environment_or_the_platform(tmp_path, monkeypatch):
    assert cache_root({"PIXFORGE_CACHE": str(tmp_path)}) == tmp_path
    assert cache_root({}).name == "pixforge"


def test_cache_layout_is_kind_entry_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PIXFORGE_CACHE", str(tmp_path))
    entry = downloadable()
    folder = tmp_path / "vqgan" / "tiny-vq"
    folder.mkdir(parents=True)
    (folder / "model.yaml").write_bytes(b"a:1")
    (folder / "last.ckpt").write_bytes(b"12345")
    assert is_present(entry)
    paths = ensure_local(entry, allow_download=False)
    assert paths == {"model.yaml": folder / "model.yaml", "last.ckpt": folder / "last.ckpt"}


def test_missing_file_offline_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PIXFORGE_CACHE", str(tmp_path))
    monkeypatch.setenv("PIXFORGE_OFFLINE", "1")
    with pytest.raises(DownloadError) as error:
        ensure_local(downloadable())
    assert f"place it at {tmp_path / 'vqgan' / 'tiny-vq' / 'model.yaml'}" in str(error.value)
    assert not is_present(downloadable())


def test_shipped_files_are_used_in_place(tmp_path):
    shipped = tmp_path / "tiny.safetensors"
    shipped.write_bytes(b"x")
    entry = WeightEntry("tiny", "vqgan", files=(WeightFile("tiny.safetensors", shipped=shipped),))
    assert entry.shipped and ensure_local(entry, allow_download=False) == {"tiny.safetensors": shipped}
    shipped.unlink()
    with pytest.raises(ConfigError, match="shipped file .* is missing; reinstall"):
        ensure_local(entry)


# --- open_clip names ----------------------------------------------------------------------------------


def test_open_clip_names_live_in_the_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    entry = WeightEntry("ViT-B-32/openai", "clip", open_clip=("ViT-B-32", "openai"))
    assert cached_file(entry) is None
    with pytest.raises(DownloadError, match="not in the hub cache .*models--timm--.*downloads are off"):
        ensure_local(entry, allow_download=False, options=FetchOptions(progress=False))
    repo = tmp_path / "models--timm--vit_base_patch32_clip_224.openai"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc")
    (repo / "snapshots" / "abc").mkdir(parents=True)
    (repo / "snapshots" / "abc" / "open_clip_model.safetensors").write_bytes(b"w")
    assert is_present(entry)
    (path,) = ensure_local(entry, allow_download=False).values()
    assert path.name == "open_clip_model.safetensors"


# --- safe loading -------------------------------------------------------------------------------------


class Custom:
    """A class a weights-only unpickler refuses to build."""

    def __init__(self) -> None:
        self.value = 7


def test_safetensors_and_plain_state_dicts_load(tmp_path):
    tensors = {"w": torch.arange(4.0)}
    save_file(tensors, str(tmp_path / "a.safetensors"))
    torch.save({"state_dict": tensors, "epoch": 3}, tmp_path / "b.ckpt")
    assert torch.equal(load_checkpoint(tmp_path / "a.safetensors")["w"], tensors["w"])
    assert load_checkpoint(tmp_path / "b.ckpt")["epoch"] == 3


def test_a_pickled_class_is_refused_unless_its_checksum_is_known_or_trusted(tmp_path):
    path = tmp_path / "evil.ckpt"
    torch.save({"obj": Custom()}, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ConfigError) as error:
        load_checkpoint(path, trusted_sha256={SHA})
    message = str(error.value)
    assert str(path) in message and digest in message and "trust_checkpoint: true" in message
    assert "Custom" in message and "\n" not in message
    assert load_checkpoint(path, trusted_sha256={digest})["obj"].value == 7
    assert load_checkpoint(path, trust=True)["obj"].value == 7
    assert load_checkpoint(path, allowed_globals=[Custom])["obj"].value == 7  # a plugin's allow-list


def test_missing_or_unreadable_checkpoints_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_checkpoint(tmp_path / "none.ckpt")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(ConfigError, match="not a readable safetensors file"):
        load_checkpoint(tmp_path / "junk.safetensors")
    (tmp_path / "junk.ckpt").write_bytes(b"junk")
    with pytest.raises(ConfigError, match="cannot read it"):
        load_checkpoint(tmp_path / "junk.ckpt")
