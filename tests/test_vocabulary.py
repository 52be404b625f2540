"""Words the tiny CLIPs do not know: one warning naming them, and `pixforge models show` lists the vocabulary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

from typer.testing import CliRunner

from pixforge import Pipeline
from pixforge.cli import app
from pixforge.errors import PixforgeWarning
from pixforge_zoo.tiny_clip import default_tokenizer

runner = CliRunner()


def test_tokenizer_lists_unknown_words_once_in_order():
    tokenizer = default_tokenizer()
    assert tokenizer.unknown_words(["a crimson circle", "a Crimson teal star", "a big circle in the center"]) == [
        "crimson", "teal",
    ]


def test_render_warns_once_naming_the_unknown_words(tmp_path):
    pipe = Pipeline()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipe.render("a crimson circle|on a teal background", steps=1, seed=0, size=(32, 32), out=tmp_path / "r")
    ours = [w for w in caught if issubclass(w.category, PixforgeWarning)]
    assert len(ours) == 1
    text = str(ours[0].message)
    assert "'crimson'" in text and "'teal'" in text and "pixforge models show pixforge-tiny-clip-robust" in text


def test_known_words_give_no_warning(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", PixforgeWarning)
        Pipeline().render("a red circle on a blue background", steps=1, seed=0, size=(32, 32), out=tmp_path / "r")


def test_cli_prints_the_warning_as_one_line(tmp_path):
    env = {**os.environ, "PIXFORGE_LOAD_PLUGINS": ""}
    done = subprocess.run(
        [sys.executable, "-m", "pixforge.cli", "render", "a crimson circle", "--steps", "1", "--size", "32x32",
         "--seed", "0", "--out", str(tmp_path / "r")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "crimson" in line]
    assert lines == [lines[0]] and lines[0].startswith("pixforge: warning: pixforge-tiny-clip-robust does not know the word 'crimson'")
    assert "Traceback" not in done.stderr


def test_models_show_lists_the_vocabulary():
    result = runner.invoke(app, ["models", "show", "pixforge-tiny-clip-robust"])
    assert result.exit_code == 0, result.output
    assert "vocabulary (" in result.output and "triangle" in result.output
    data = json.loads(runner.invoke(app, ["models", "show", "pixforge-tiny-clip", "--json"]).output)
    assert "circle" in data["vocabulary"] and data["kind"] == "clip"
    missing = runner.invoke(app, ["models", "show", "no-such-model"])
    assert missing.exit_code != 0 and "unknown model" in missing.output
