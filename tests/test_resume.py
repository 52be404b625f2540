"""Resume: a render killed at any step and resumed ends with the same bytes as one never interrupted."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from pixforge import Pipeline
from pixforge.resume import read_status
from pixforge.run_folder import RunFolder

ARGS = ["--steps", "24", "--size", "32", "--set", "cutouts.count=4", "--set", "checkpoint_every=3", "--seed", "5", "-q"]


def pixforge(*args):
    return [sys.executable, "-m", "pixforge.cli", *args]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    subprocess.run(pixforge("render", "a blue star", *ARGS, "--out", str(out)), check=True, capture_output=True)
    return out


def test_resume_in_process_matches_uninterrupted(tmp_path):
    pipe = Pipeline()
    full = pipe.render("a red circle", out=tmp_path / "full", seed=1, steps=10, size=32,
                       overrides=["cutouts.count=4", "checkpoint_every=4"])
    from pixforge import Observer

    class Kill(Observer):
        def on_step(self, state):
            if state.step + 1 == 6:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pipe.render("a red circle", out=tmp_path / "cut", seed=1, steps=10, size=32,
                    overrides=["cutouts.count=4", "checkpoint_every=4"], observers=[Kill()])
    assert read_status(tmp_path / "cut")["status"] == "interrupted"
    resumed = pipe.resume(tmp_path / "cut")
    assert resumed.steps_done == 10 and len(resumed.losses) == 10
    assert resumed.final_path.read_bytes() == full.final_path.read_bytes()
    assert [r["loss"] for r in resumed.losses] == [r["loss"] for r in full.losses]
    log = (tmp_path / "cut" / "losses.csv").read_text().splitlines()
    assert len(log) == 11 and log[0].startswith("step,")
    assert read_status(tmp_path / "cut")["status"] == "completed"


@pytest.mark.slow
def test_kill_9_at_random_steps_then_resume_gives_identical_bytes(reference, tmp_path):
    rng = random.Random(2026)
    for attempt in range(3):
        out = tmp_path / f"run{attempt}"
        process = subprocess.Popen(pixforge("render", "a blue star", *ARGS, "--out", str(out)),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wanted = rng.randint(4, 20)  # kill once at least this many steps are logged
        deadline = time.time() + 120
        while time.time() < deadline and process.poll() is None:
            log = out / "losses.csv"
            if log.is_file() and len(log.read_text().splitlines()) - 1 >= wanted:
                break
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert (out / RunFolder.CHECKPOINT).is_file()
        done = subprocess.run(pixforge("render", "--resume", str(out), "-q"), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert (out / "final.png").read_bytes() == (reference / "final.png").read_bytes()


def test_resume_errors_are_clear(tmp_path):
    from typer.testing import CliRunner

    from pixforge.cli import app

    done = CliRunner().invoke(app, ["render", "--resume", str(tmp_path / "nothing")])
    assert done.exit_code == 1 and "no settings.yaml" in done.output


def test_an_interrupt_names_the_resume_command(tmp_path) -> None:
    import torch
    from PIL import Image

    from pixforge.results import RenderInterrupted, RenderResult

    run_dir = tmp_path / "my run"
    result = RenderResult(Image.new("RGB", (1, 1)), torch.zeros(1, 3, 1, 1), run_dir, [], 0, {}, steps_done=3)
    assert "--resume" not in str(RenderInterrupted(result))  # nothing to continue from yet
    run_dir.mkdir()
    RunFolder(run_dir).checkpoint.write_bytes(b"")
    assert f"continue with: pixforge render --resume '{run_dir}'" in str(RenderInterrupted(result))
