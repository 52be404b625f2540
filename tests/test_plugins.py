"""The plugin manager: entry points, the load filter, clear failures, in-test plugins."""

from __future__ import annotations

from importlib import metadata

import pytest
import torch

from pixforge import Generator, Loss, StrictModel, hookimpl
from pixforge.errors import PluginError
from pixforge.plugins import allowed_third_party, build_registry, default_registry, make_manager

FIRST_PARTY = {"pixel", "clip", "losses", "kornia", "observers"}


class OneGen(Generator):
    def init(self, image):
        pass

    def forward(self):
        return torch.zeros(1, 3, self.height, self.width)


class TestPlugin:
    @hookimpl
    def register_generators(self, register):
        register("one", OneGen)


def test_first_party_plugins_load_through_entry_points():
    registry = default_registry()
    names = {row["name"] for row in registry.plugins()}
    assert FIRST_PARTY <= names
    dists = {row["distribution"] for row in registry.plugins() if row["name"] in FIRST_PARTY}
    assert dists == {"pixforge"}


def test_in_test_plugin_registers_and_goes_away():
    registry = default_registry([TestPlugin()])
    assert registry.get("generator", "one") is OneGen
    assert "one" not in default_registry().names("generator")


def test_unknown_component_suggests_closest():
    registry = default_registry([TestPlugin()])
    with pytest.raises(PluginError, match="did you mean 'one'"):
        registry.get("generator", "onee")


def test_duplicate_names_are_an_error():
    class Other:
        @hookimpl
        def register_generators(self, register):
            register("one", type("OtherGen", (OneGen,), {}))

    with pytest.raises(PluginError, match="registered twice"):
        build_registry(make_manager([TestPlugin(), Other()], load_entry_points=False))


def test_registering_a_non_component_is_an_error():
    class Bad:
        @hookimpl
        def register_losses(self, register):
            register("nope", dict)

    with pytest.raises(PluginError, match="not a subclass of pixforge.Loss"):
        build_registry(make_manager([Bad()], load_entry_points=False))


def test_load_filter_parsing():
    assert allowed_third_party({}) is None
    assert allowed_third_party({"PIXFORGE_LOAD_PLUGINS": ""}) == set()
    assert allowed_third_party({"PIXFORGE_LOAD_PLUGINS": "a, B"}) == {"a", "b"}


class FakeDist:
    def __init__(self, name):
        self.name = name


def _fake_entry_point(name, value, dist):
    ep = metadata.EntryPoint(name=name, value=value, group="pixforge")
    return ep._for(FakeDist(dist)) if hasattr(ep, "_for") else ep


def test_third_party_filter_and_broken_plugin(monkeypatch):
    import pixforge.plugins as plugins

    real = list(metadata.entry_points(group="pixforge"))
    broken = _fake_entry_point("broken", "pixforge_no_such_module_xyz", "pixforge-broken")
    monkeypatch.setattr(plugins, "_entry_points", lambda: real + [broken])

    monkeypatch.setenv("PIXFORGE_LOAD_PLUGINS", "")
    registry = default_registry()  # the broken third-party plugin is filtered out
    assert "broken" not in {row["name"] for row in registry.plugins()}

    monkeypatch.setenv("PIXFORGE_LOAD_PLUGINS", "pixforge-broken")
    with pytest.raises(PluginError, match="'broken' from package 'pixforge-broken' failed to load"):
        default_registry()

    monkeypatch.delenv("PIXFORGE_LOAD_PLUGINS")
    with pytest.raises(PluginError, match="ModuleNotFoundError"):
        default_registry()


def test_settings_base_is_strict():
    class S(StrictModel):
        steps: int = 1

    with pytest.raises(Exception):
        S(stpes=2)


def test_loss_contract_is_abstract():
    with pytest.raises(TypeError):
        Loss(StrictModel(), None)  # type: ignore[abstract]


def test_trace_shows_every_registration_hook(monkeypatch, capsys):
    """PIXFORGE_TRACE_PLUGINS prints the per-plugin registration calls too (components and weights)."""
    from pixforge.weights import WeightEntry, WeightFile

    class Traced:
        @hookimpl
        def register_generators(self, register):
            register("one", OneGen)

        @hookimpl
        def register_weights(self, register):
            file = WeightFile("w.bin", urls=("https://example.org/w.bin",))
            register(WeightEntry(name="traced-weights", kind="clip", files=(file,)))

    monkeypatch.setenv("PIXFORGE_TRACE_PLUGINS", "1")
    build_registry(make_manager([Traced()], load_entry_points=False))
    err = capsys.readouterr().err
    assert "register_generators" in err and "register_weights" in err


class Trains:
    def __init__(self, tag):
        self.tag = tag

    @hookimpl
    def register_trainers(self, register):
        register("same", lambda **kwargs: self.tag)


class Models:
    def __init__(self, tag):
        self.tag = tag

    @hookimpl
    def register_models(self, register):
        register("clip", "same", lambda device: self.tag)


@pytest.mark.parametrize(("plugin", "what"), [(Trains, "trainer"), (Models, "clip model")])
def test_a_name_two_plugins_register_names_both(plugin, what):
    manager = make_manager(load_entry_points=False)
    manager.register(plugin("a"), name="first-plugin")
    manager.register(plugin("b"), name="second-plugin")
    message = f"{what} 'same' is registered twice: by plugin 'first-plugin' and by plugin 'second-plugin'"
    with pytest.raises(PluginError, match=message):
        build_registry(manager)


def test_a_plugin_that_fails_to_load_is_named_before_its_commands_go_missing(monkeypatch, capsys):
    from pixforge import cli
    from pixforge import plugins as plugins_module

    def broken():
        raise PluginError("plugin 'studio' from package 'pixforge' failed to load: boom")

    monkeypatch.setattr(plugins_module, "make_manager", broken)
    assert cli._add_plugin_commands() is None
    err = capsys.readouterr().err
    assert err.startswith("pixforge: warning: plugin 'studio'") and "commands that plugins add are missing" in err
