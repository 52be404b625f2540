"""The first hour of a new user (#14): a fast --help, Pixray and VQGAN-CLIP habits, --set on lists, one
plugin load per command, settings validated once, and a finished render that leaves no checkpoint."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import model_validator

import pixforge
from pixforge import plugins
from pixforge.errors import ConfigError, suggest
from pixforge.hookspecs import Register, hookimpl
from pixforge.peer_flags import PEER_FLAGS, translate
from pixforge.pipeline import Pipeline
from pixforge.plugins import default_registry
from pixforge.run_folder import RunFolder
from pixforge.testing import DummyGenerator, DummyGeneratorSettings, DummyPlugin

from faultkit import TINY, run_main

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "open_clip", "kornia")

# -- start-up --------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--help"], ["render", "--help"]])
def test_help_imports_neither_torch_nor_models(args):
    """``pixforge --help`` and ``pixforge render --help`` stay light: every plugin imports, none loads torch."""
    code = (
        "import sys\nfrom pixforge.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "Usage: pixforge" in done.stdout, done.stderr
    assert "HEAVY []" in done.stdout, done.stdout[-500:]


def test_every_plugin_imports_without_torch():
    """A plugin's package imports its components inside its register hooks (see ``pixforge.lazy``)."""
    names = sorted({ep.value.split(":")[0] for ep in importlib.metadata.entry_points(group="pixforge")})
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        f"    heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "    if heavy:\n        print('HEAVY', name, heavy); break\n"
        "else:\n    print('LIGHT')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "LIGHT", (
        f"{done.stdout.strip()}: import the plugin's component modules inside its hook functions "
        f"and list its public names with pixforge.lazy.lazy_exports {done.stderr[-500:]}"
    )


def test_lazy_names_are_the_real_ones():
    import pixforge_search
    import pixforge_search.indexer  # noqa: F401  (a submodule import must not shadow a public function)

    assert callable(pixforge_search.classify) and callable(pixforge_search.search)
    assert pixforge.Pipeline is Pipeline and "Pipeline" in dir(pixforge)
    with pytest.raises(AttributeError):
        pixforge.NoSuchName  # noqa: B018


def test_the_version_is_written_once():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert importlib.metadata.version("pixforge") == pixforge.__version__


# -- plugins once, settings once ----------------------------------------------------------------------


def test_a_command_loads_the_plugins_once(capsys, monkeypatch, tmp_path):
    loads, builds = [], []
    real_load, real_build = plugins.load_entry_point_plugins, plugins.build_registry
    monkeypatch.setattr(plugins, "load_entry_point_plugins", lambda *a: loads.append(1) or real_load(*a))
    monkeypatch.setattr(plugins, "build_registry", lambda *a: builds.append(1) or real_build(*a))
    ran = run_main(capsys, monkeypatch, "render", "a red circle", *TINY, "--out", str(tmp_path / "run"))
    assert ran.code == 0, ran.explain()
    assert (len(loads), len(builds)) == (1, 1)
    loads.clear()
    builds.clear()
    ran = run_main(capsys, monkeypatch, "zoo", "train", "tiny-clp")
    assert ran.clean_failure and "did you mean 'tiny-clip'" in ran.err, ran.explain()
    assert (len(loads), len(builds)) == (1, 1)
    assert default_registry() is not default_registry(), "outside a command every call builds afresh"


VALIDATIONS: list[int] = []


class CountedSettings(DummyGeneratorSettings):
    @model_validator(mode="after")
    def _count(self) -> "CountedSettings":
        VALIDATIONS.append(1)
        return self


class CountedGenerator(DummyGenerator):
    Settings = CountedSettings


class Counted:
    @hookimpl
    def register_generators(self, register: Register) -> None:
        register("counted", CountedGenerator)


def test_component_settings_are_validated_once_and_carried_typed(tmp_path):
    pipe = Pipeline([DummyPlugin(), Counted()])
    preset = {
        "generator": {"name": "counted", "settings": {"scale": 0.5}},
        "perceptors": [{"name": "dummy"}],
        "losses": [{"name": "clip_prompt"}],
        "size": 32,
        "steps": 2,
        "seed": 0,
    }
    VALIDATIONS.clear()
    result = pipe.render("a red circle", preset, out=tmp_path / "run", overrides=["cutouts.count=2"])
    assert result.status == "completed"
    assert len(VALIDATIONS) == 1, "resolution validates; the build reuses the typed settings"
    config = pipe.resolve("a red circle", preset)
    assert isinstance(config.generator.typed(), CountedSettings)
    changed = config.generator.model_copy(update={"settings": {"scale": 2.0}})
    assert changed.typed() is None, "settings changed after validation are validated again"


# -- --set on lists, and what its errors say ----------------------------------------------------------------


@pytest.fixture(scope="module")
def pipe():
    return Pipeline()


def losses(pipe, *overrides):
    return [(spec.name, spec.weight) for spec in pipe.resolve("a red circle", "default", list(overrides)).losses]


def test_set_adds_changes_and_removes_list_items(pipe):
    base = losses(pipe)
    assert losses(pipe, "losses+=init_image") == [*base, ("init_image", 1.0)]
    assert losses(pipe, "losses+={name: init_image, weight: 0.5}") == [*base, ("init_image", 0.5)]
    assert losses(pipe, "losses+=[saturation, symmetry]")[-2:] == [("saturation", 1.0), ("symmetry", 1.0)]
    assert losses(pipe, "losses.1.weight=2")[1] == (base[1][0], 2.0)
    assert losses(pipe, "losses+=saturation", "losses.saturation.weight=0.3")[-1] == ("saturation", 0.3)
    assert losses(pipe, f"losses-={base[-1][0]}") == base[:-1]
    assert losses(pipe, "losses-=0") == base[1:]
    config = pipe.resolve("x", "default", ["prompts.images+=a.png:0.5"])
    assert config.prompts.images == ["a.png:0.5"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("steps=lots", "--set 'steps=lots': bad value 'lots' for 'steps'"),
        ("iterations=50", "--set 'iterations=50': unknown key 'iterations'; did you mean 'steps'?"),
        ("cutouts={count: x}", "--set 'cutouts={count: x}': bad value 'x' for 'cutouts.count'"),
        ("losses+=nosuch", "--set 'losses+=nosuch': unknown loss 'nosuch'"),
        ("losses+={name: smoothness, wieght: 2}", "--set 'losses+={name: smoothness, wieght: 2}': unknown key"),
        ("generator.settings.modle=x", "--set 'generator.settings.modle=x': generator 'vqgan' settings: unknown key 'modle'"),
        ("steps+=3", "--set 'steps+=3': 'steps' is not a list"),
        ("losses-=nosuch", "--set 'losses-=nosuch': no component 'nosuch' in 'losses'"),
        ("256", "the canvas size is --size WxH"),
    ],
)
def test_set_errors_name_the_set(pipe, override, message):
    with pytest.raises(pixforge.PixforgeError) as info:
        pipe.resolve("a red circle", "default", [override])
    assert message in str(info.value)
    assert "preset 'default'" not in str(info.value)


def test_suggestions_know_the_peers_words():
    assert suggest("iterations", ["augmentations", "steps", "seed"]) == "did you mean 'steps'?"
    assert suggest("augmentatons", ["augmentations", "steps"]) == "did you mean 'augmentations'?"


# -- Pixray and VQGAN-CLIP flags ----------------------------------------------------------------------


TAKES_VALUE = {"--set", "-s", "--size", "--steps", "--preset", "-p", "--out", "-o", "--seed"}


@pytest.mark.parametrize(
    ("peer", "pixforge_args"),
    [
        (["--quality", "draft"], ["--preset", "draft"]),
        (["--quality=better"], ["--preset", "better"]),
        (["--iterations", "50"], ["--steps", "50"]),
        (["-i", "50"], ["--steps", "50"]),
        (["--drawer", "pixel"], ["--generator", "pixel"]),
        (["--drawer=pixel"], ["--generator", "pixel"]),
        (["--init_image", "a.png"], ["--init-image", "a.png"]),
        (["-ii", "a.png"], ["--init-image", "a.png"]),
        (["-s", "256", "192"], ["--size", "256x192"]),
        (["--size", "640", "480"], ["--size", "640x480"]),
        (["-cuts", "8"], ["--set", "cutouts.count=8"]),
        (["--num_cuts", "8"], ["--set", "cutouts.count=8"]),
        (["-sd", "3"], ["--seed", "3"]),
        (["-lr", "0.2"], ["--set", "optimizer.lr=0.2"]),
        (["-vid"], ["--video"]),
        (["--prompts", "a cat"], ["a cat"]),
    ],
)
def test_peer_flags_with_the_same_meaning_are_aliases(peer, pixforge_args):
    assert translate(["a red circle", *peer], TAKES_VALUE) == ["a red circle", *pixforge_args]


@pytest.mark.parametrize(
    "args",
    [["-s", "steps=3"], ["--size", "64"], ["-s", "256"], ["--set", "x=-i"], ["--out", "run"], ["--", "-i", "3"]],
)
def test_pixforge_own_spellings_pass_unchanged(args):
    assert translate(["a", *args], TAKES_VALUE) == ["a", *args]


@pytest.mark.parametrize(
    ("peer", "message"),
    [
        (["--quality", "best"], "--preset draft, normal or better"),
        (["--aspect", "widescreen"], "--size 224x128"),
        (["-o", "out.png"], "--out DIR (the picture is DIR/final.png)"),
        (["--output", "out.png"], "--out DIR"),
        (["-i"], "-i needs a value (in pixforge: --steps N)"),
    ],
)
def test_peer_flags_without_a_like_are_refused_with_the_pixforge_way(capsys, monkeypatch, peer, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        translate(["a", *peer], TAKES_VALUE)
    ran = run_main(capsys, monkeypatch, "render", "a", *peer)
    assert ran.clean_failure and ran.code == 2 and message in ran.err, ran.explain()


def test_every_peer_flag_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()
    for peer in PEER_FLAGS:
        for name in peer.names:
            assert f"`{name}" in readme, f"README's Pixray / VQGAN-CLIP table lacks {name}"


def test_the_readme_lists_every_shipped_preset():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| preset | what it is |"):]
    table = table[: table.index("\n\n")]
    missing = [p.stem for p in sorted((ROOT / "presets").glob("*.yaml")) if f"| `{p.stem}` |" not in table]
    assert not missing, f"add these presets to the README's preset table (python bench/presets.py --markdown): {missing}"


def test_a_vqgan_clip_command_line_renders(capsys, monkeypatch, tmp_path):
    run = tmp_path / "run"
    ran = run_main(
        capsys, monkeypatch, "render", "a red circle", "--quality", "draft", "-i", "2", "-s", "32", "32",
        "-cuts", "2", "--drawer", "pixel", "-sd", "1", "-q", "--out", str(run),
    )
    assert ran.code == 0, ran.explain()
    settings = (run / "settings.yaml").read_text()
    assert "steps: 2\n" in settings and "name: pixel" in settings and "count: 2" in settings


# -- help, checkpoints ---------------------------------------------------------------------------------


def test_flags_are_shown_as_flags(capsys, monkeypatch):
    ran = run_main(capsys, monkeypatch, "render", "--help")
    lines = [line for line in ran.out.splitlines() if "--video" in line or "--keep-checkpoint" in line]
    assert len(lines) == 2 and not any("<bool>" in line for line in lines), ran.out


def test_no_command_shows_a_flag_as_bool():
    """Every on/off option of every command, plugins' included, is made with ``pixforge.options.flag``."""
    import typer

    from pixforge import cli

    cli._add_plugin_commands()
    seen: list[str] = []

    def walk(command, path: str):
        for param in command.params:
            if param.param_type_name == "option" and getattr(param, "is_flag", False) and param.name != "help":
                seen.append(param.opts[0])
                if param.metavar != "":
                    yield f"{path} {param.opts[0]}"
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{path} {name}")

    bad = sorted(set(walk(typer.main.get_command(cli.app), "pixforge")))
    assert {"--video", "--keep-checkpoint", "--json", "--quiet"} <= set(seen)
    assert not bad, f"use pixforge.options.flag for these on/off options: {bad}"


def test_render_options_that_take_a_value_are_known_to_the_peer_reader(capsys, monkeypatch):
    """What follows ``--set`` (say) is its value even when it looks like a peer's flag."""
    from pixforge import cli

    assert cli._read_peer_flags(["render", "a", "--set", "-i", "-i", "3"]) == ["render", "a", "--set", "-i", "--steps", "3"]


def test_a_finished_render_leaves_no_checkpoint_unless_asked(capsys, monkeypatch, tmp_path):
    args = ["render", "a red circle", *TINY, "--set", "checkpoint_every=1", "--steps", "3"]
    ran = run_main(capsys, monkeypatch, *args, "--out", str(tmp_path / "plain"))
    assert ran.code == 0, ran.explain()
    assert not RunFolder(tmp_path / "plain").checkpoint.exists()
    ran = run_main(capsys, monkeypatch, *args, "--keep-checkpoint", "--out", str(tmp_path / "kept"))
    assert ran.code == 0, ran.explain()
    assert RunFolder(tmp_path / "kept").checkpoint.is_file()
