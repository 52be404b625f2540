"""The example third-party plugin, installed with pip and used from the CLI and from Python."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pixforge-example"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """pip-install the example into its own folder, put on PYTHONPATH only for the processes that want it."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target), str(EXAMPLE)],
        check=True,
    )
    return target


def env_with(target, load=None):
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("PIXFORGE_LOAD_PLUGINS", None)
    if load is not None:
        env["PIXFORGE_LOAD_PLUGINS"] = load
    return env


def run(args, env):
    return subprocess.run([sys.executable, "-m", "pixforge.cli", *args], capture_output=True, text=True, env=env)


def test_cli_render_with_the_plugin_generator_loss_and_preset(installed, tmp_path):
    done = run(
        ["render", "a sunset", "--preset", "waves", "--steps", "3", "--size", "32", "--seed", "1",
         "--set", "cutouts.count=4", "--out", str(tmp_path / "run"), "-q"],
        env_with(installed),
    )
    assert done.returncode == 0, done.stderr
    settings = (tmp_path / "run" / "settings.yaml").read_text()
    assert "name: waves" in settings and "name: brightness" in settings


def test_listed_as_third_party(installed):
    done = run(["plugins", "list"], env_with(installed))
    line = next(line for line in done.stdout.splitlines() if line.startswith("example"))
    assert "pixforge-example" in line and "waves" in line and "brightness" in line


def test_load_filter_excludes_it(installed):
    done = run(["render", "x", "--preset", "waves", "--steps", "1"], env_with(installed, load=""))
    assert done.returncode == 1 and "unknown preset 'waves'" in done.stderr
    allowed = run(["plugins", "list"], env_with(installed, load="pixforge-example"))
    assert "pixforge-example" in allowed.stdout


def test_python_api_with_the_plugin(installed, tmp_path):
    code = (
        "import pixforge, sys\n"
        "r = pixforge.render('x', generator={'name': 'waves', 'settings': {'waves': 3}}, steps=2, size=32, seed=0,"
        " out=sys.argv[1], overrides=['cutouts.count=4'])\n"
        "print(r.image.size)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "py")], capture_output=True, text=True,
                          env=env_with(installed))
    assert done.returncode == 0, done.stderr
    assert "(32, 32)" in done.stdout


def test_contracts_hold_for_the_example_components(installed, tmp_path):
    code = (
        "import torch\n"
        "from pixforge.testing import tiny_context\n"
        "from pixforge_example import Waves, Brightness\n"
        "g = Waves(Waves.Settings(), tiny_context(16, 16)); g.init(None)\n"
        "img = g(); assert img.shape == (1, 3, 16, 16) and 0 <= img.min() and img.max() <= 1\n"
        "img.mean().backward(); assert all(p.grad is not None for p in g.parameters_to_optimize())\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env_with(installed))
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr
