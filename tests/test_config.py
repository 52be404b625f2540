"""Presets: YAML, extends, overrides and the errors a user sees."""

from __future__ import annotations

import pytest
import torch
from pydantic import Field

from pixforge import Generator, StrictModel, hookimpl
from pixforge.config import parse_override
from pixforge.errors import ConfigError, PluginError
from pixforge.plugins import default_registry
from pixforge.resolve import available_presets, resolve_config


class GridSettings(StrictModel):
    grid: tuple[int, int] = (4, 4)
    sharpness: float = Field(1.0, gt=0)


class Grid(Generator):
    Settings = GridSettings

    def init(self, image):
        pass

    def forward(self):
        return torch.zeros(1, 3, self.height, self.width)


class Plugin:
    @hookimpl
    def register_generators(self, register):
        register("grid", Grid)


@pytest.fixture(scope="module")
def registry():
    return default_registry([Plugin()])


def write(path, text):
    path.write_text(text)
    return path


def test_shipped_presets_all_resolve(registry):
    names = set(available_presets(registry))
    assert {"default", "draft", "normal", "better"} <= names
    assert len(names - {"default", "draft", "normal", "better"}) >= 2  # style presets
    for name in names:
        config = resolve_config(registry, name)
        assert config.steps > 0 and config.generator.name


def test_quality_ladder_grows(registry):
    steps = [resolve_config(registry, n).steps for n in ("draft", "normal", "better")]
    cuts = [resolve_config(registry, n).cutouts.count for n in ("draft", "normal", "better")]
    assert steps == sorted(steps) and cuts == sorted(cuts)


def test_extends_merges_and_child_wins(registry, tmp_path):
    base = write(tmp_path / "base.yaml", "generator: {name: grid, settings: {grid: [8, 8]}}\nsteps: 10\nsize: 32\n")
    child = write(tmp_path / "child.yaml", "extends: base.yaml\nsteps: 20\ngenerator: {settings: {sharpness: 2}}\n")
    config = resolve_config(registry, child)
    assert config.steps == 20 and config.size == (32, 32)
    assert config.generator.settings == {"grid": [8, 8], "sharpness": 2.0}


def test_extends_cycle_is_reported(registry, tmp_path):
    write(tmp_path / "a.yaml", "extends: b.yaml\n")
    write(tmp_path / "b.yaml", "extends: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        resolve_config(registry, tmp_path / "a.yaml")


def test_overrides_by_dotted_path_index_and_name(registry, tmp_path):
    preset = {"generator": {"name": "grid"}, "losses": []}
    config = resolve_config(
        registry, preset, ["steps=7", "size=48x32", "generator.settings.grid=[2, 3]", "optimizer.drops=[0.5]"]
    )
    assert config.steps == 7 and config.size == (48, 32)
    assert config.generator.settings["grid"] == [2, 3]
    assert config.optimizer.drops == [0.5]

    named = resolve_config(
        registry, "default", ["generator={name: grid}", "losses.smoothness.weight=3", "losses.0.weight=2"]
    )
    weights = {loss.name: loss.weight for loss in named.losses}
    assert weights["smoothness"] == 3 and named.losses[0].weight == 2


def test_python_values_merge_into_groups(registry):
    config = resolve_config(registry, {"generator": {"name": "grid"}}, values={"cutouts": {"count": 3}})
    assert config.cutouts.count == 3 and config.cutouts.cut_pow == 1.0  # the rest kept its defaults


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["stpes=3"], "unknown key 'stpes'.*did you mean 'steps'"),
        (["steps=many"], "bad value 'many' for 'steps'"),
        (["size=big"], "size 'big' must look like"),
        (["generator.settings.grdi=[1,1]"], "generator 'grid' settings: unknown key 'grdi'; did you mean 'grid'"),
        (["generator.settings.sharpness=-1"], "sharpness"),
        (["losses.nosuchloss.weight=1"], "no component 'nosuchloss'"),
        (["steps"], "expected dotted.path=value"),
        (["optimizer.name=adamm"], "did you mean 'adam'"),
        (["cutouts.count=0"], "cutouts.count"),
    ],
)
def test_bad_overrides_give_one_clear_line(registry, overrides, message):
    with pytest.raises(ConfigError, match=message) as info:
        resolve_config(registry, {"generator": {"name": "grid"}, "losses": []}, overrides)
    assert "\n" not in str(info.value)


def test_unknown_component_and_preset(registry):
    with pytest.raises(PluginError, match="unknown generator 'gird'; did you mean 'grid'"):
        resolve_config(registry, {"generator": {"name": "gird"}})
    with pytest.raises(ConfigError, match="unknown preset 'defualt'; did you mean 'default'"):
        resolve_config(registry, "defualt")
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_config(registry, "missing/preset.yaml")


def test_invalid_yaml_names_file_and_line(registry, tmp_path):
    bad = write(tmp_path / "bad.yaml", "steps: 3\ngenerator: {name: grid\nsize: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml line \d+: invalid YAML"):
        resolve_config(registry, bad)


def test_parse_override_reads_yaml_values():
    assert parse_override("a.b=0.5") == (["a", "b"], 0.5)
    assert parse_override("x=[1, 2]") == (["x"], [1, 2])
    assert parse_override("flag=true") == (["flag"], True)
    assert parse_override("text=a red circle") == (["text"], "a red circle")


def test_switching_component_name_drops_the_old_settings(registry, tmp_path):
    base = write(tmp_path / "b.yaml", "generator: {name: grid, settings: {grid: [8, 8]}}\n")
    other = write(tmp_path / "o.yaml", "extends: b.yaml\ngenerator: {name: grid2}\n")
    from pixforge.resolve import load_preset_data

    assert load_preset_data(other, registry)["generator"] == {"name": "grid2"}
    config = resolve_config(registry, base, values={"generator": {"name": "grid", "settings": {"sharpness": 3}}})
    assert config.generator.settings["grid"] == [8, 8]  # same name: settings merge
