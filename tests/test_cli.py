"""The command line: renders end to end, and one clear line for every user mistake."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from PIL import Image
from typer.testing import CliRunner

from pixforge.cli import app
from pixforge.outputs import SETTINGS_KEY

from faultkit import answers_ctrl_c

runner = CliRunner()
TINY = ["--steps", "3", "--size", "32", "--set", "cutouts.count=4", "--seed", "0", "-q"]


def cli(*args):
    return runner.invoke(app, list(args))


def pixforge(*args, env=None):
    """Run the installed ``pixforge`` script in a real process."""
    return subprocess.run(
        [sys.executable, "-m", "pixforge.cli", *args], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )


def test_render_end_to_end_in_a_real_process(tmp_path):
    done = pixforge("render", "a red circle on a blue background", *TINY, "--out", str(tmp_path / "run"), "--video")
    assert done.returncode == 0, done.stderr
    assert "final.png" in done.stdout
    run = tmp_path / "run"
    assert {"final.png", "settings.yaml", "video.mp4", "losses.csv"} <= {p.name for p in run.iterdir()}
    assert "a red circle" in Image.open(run / "final.png").text[SETTINGS_KEY]


def test_render_from_png_replays_same_bytes(tmp_path):
    first = cli("render", "a pink ring", *TINY, "--out", str(tmp_path / "a"))
    assert first.exit_code == 0, first.output
    again = cli("render", "--from", str(tmp_path / "a" / "final.png"), "-q", "--out", str(tmp_path / "b"))
    assert again.exit_code == 0, again.output
    assert (tmp_path / "a" / "final.png").read_bytes() == (tmp_path / "b" / "final.png").read_bytes()


def test_default_out_is_a_dated_folder(tmp_path):
    done = cli("render", "x", *TINY)
    assert done.exit_code == 0, done.output
    (run,) = (tmp_path / "pixforge-out").iterdir()
    assert (run / "final.png").is_file()


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--preset", "nosuch"], "unknown preset 'nosuch'"),
        (["--set", "stpes=3"], "did you mean 'steps'"),
        (["--set", "generator.name=pixle"], "unknown generator 'pixle'; did you mean 'pixel'"),
        (["--set", "steps=lots"], "bad value 'lots' for 'steps'"),
        (["--set", "novalue"], "expected dotted.path=value"),
        (["--size", "huge"], "size 'huge'"),
        (["--device", "cuda:7"], "device 'cuda:7'"),
        (["--device", "tpu"], "device 'tpu' is not one of"),
        (["--set", "init_image=missing.png"], "init_image 'missing.png'"),
        (["--set", "prompts.images=[nope.png]"], "image prompt 'nope.png': no such file"),
        (["--from", "missing.png"], "--from image"),
        (["--set", "generator.settings.grid=[0, 4]"], "grid"),
    ],
)
def test_user_mistakes_are_one_line_without_traceback(tmp_path, args, expected):
    done = cli("render", "a cat", "-q", "--steps", "1", "--size", "32", *args)
    assert done.exit_code == 1, done.output
    lines = [line for line in done.output.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("pixforge: error:"), done.output
    assert expected in lines[0]
    assert "Traceback" not in done.output


def test_bad_prompt_syntax_and_invalid_yaml(tmp_path):
    done = cli("render", "a| |b", "-q")  # "a||b" is two scenes (test_animation)
    assert done.exit_code == 1 and "empty prompt" in done.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [1,\n")
    done = cli("render", "a", "-q", "--preset", str(bad))
    assert done.exit_code == 1 and "bad.yaml line" in done.output and "invalid YAML" in done.output


def test_errors_in_a_real_process_have_no_traceback(tmp_path):
    done = pixforge("render", "a cat", "--set", "stpes=3")
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert "did you mean 'steps'" in done.stderr


def test_unreadable_image(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    done = cli("render", "a", "-q", "--steps", "1", "--size", "32", "--set", f"init_image={broken}")
    assert done.exit_code == 1 and "cannot read it as an image" in done.output


def test_presets_list_and_show():
    listed = cli("presets", "list")
    assert listed.exit_code == 0
    for name in ("default", "draft", "normal", "better"):
        assert name in listed.output
    shown = cli("presets", "show", "draft")
    assert shown.exit_code == 0 and "steps: 40" in shown.output and "generator:" in shown.output
    assert cli("presets", "show", "nope").exit_code == 1


def test_plugins_list_json():
    done = cli("plugins", "list", "--json")
    assert done.exit_code == 0
    rows = {row["name"]: row for row in json.loads(done.output)}
    assert "pixel" in rows["pixel"]["provides"]["generator"]
    assert rows["kornia"]["distribution"] == "pixforge"
    plain = cli("plugins", "list")
    assert "clip_prompt" in plain.output


def test_help_everywhere():
    for args in (["--help"], ["render", "--help"], ["presets", "--help"], ["plugins", "list", "--help"]):
        done = cli(*args)
        assert done.exit_code == 0 and "Usage" in done.output


def test_ctrl_c_keeps_the_current_image_and_settings(tmp_path):
    import signal
    import time

    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "pixforge.cli", "render", "a cat", "--steps", "100000", "--size", "32",
         "--set", "cutouts.count=4", "--seed", "0", "-q", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=answers_ctrl_c,
    )
    deadline = time.time() + 120
    while not (out / "losses.csv").is_file() and time.time() < deadline:  # wait until steps are running
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()  # never leave a 100000-step render running
    assert process.returncode == 130, stderr
    assert "interrupted at step" in stderr and "Traceback" not in stderr
    assert (out / "final.png").is_file() and (out / "settings.yaml").is_file()
    assert not list(out.glob(".*.tmp"))


def test_every_hook_is_documented_in_the_readme():
    import inspect
    from pathlib import Path

    from pixforge import hookspecs

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    hooks = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "pixforge_spec")]
    assert len(hooks) >= 8
    for name in hooks:
        assert f"`{name}`" in readme, f"hook {name} is missing from the README"
        assert inspect.getdoc(getattr(hookspecs, name)), f"hook {name} has no docstring"
