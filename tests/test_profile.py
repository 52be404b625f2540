"""Seeing where a render's time goes: ``render --profile``, the stage profiler, the live rate, --compile."""

from __future__ import annotations

import time
from collections import deque

import torch
from typer.testing import CliRunner

from pixforge import Pipeline
from pixforge.cli import app
from pixforge.profiling import STAGES, StageProfiler, format_profile
from pixforge.progress import step_rate

# one render's steps: the default preset's layout (tests/test_layout.py) would run first
TINY = dict(steps=3, size=32, overrides=["cutouts.count=4", "layout=null"])


def test_cli_profile_prints_the_split_of_every_stage(tmp_path):
    done = CliRunner().invoke(
        app, ["render", "a red circle", "--steps", "3", "--size", "32", "--set", "cutouts.count=4", "--set", "layout=null", "--seed", "0",
              "-q", "--profile", "--out", str(tmp_path / "run")],
    )
    assert done.exit_code == 0, done.output
    assert "time per stage over 3 steps" in done.output and "steps/s" in done.output
    lines = {line.split()[0] for line in done.output.splitlines() if line.startswith("  ")}
    assert set(STAGES) <= lines


def test_profiling_times_every_stage_and_leaves_the_image_alone(tmp_path):
    pipe = Pipeline()
    plain = pipe.render("a", out=tmp_path / "plain", seed=3, **TINY)
    stages = StageProfiler()
    timed = pipe.render("a", out=tmp_path / "timed", seed=3, observers=[stages], **TINY)
    assert plain.final_path.read_bytes() == timed.final_path.read_bytes()
    summary = stages.summary()
    assert summary["steps"] == 3
    assert list(summary["seconds"]) == list(STAGES)
    assert all(seconds >= 0 for seconds in summary["seconds"].values())
    assert summary["seconds"]["backward"] > 0
    assert "ms/step" in format_profile(summary)


def test_a_disabled_profiler_records_nothing(tmp_path):
    stages = StageProfiler(enabled=False)
    Pipeline().render("a", out=tmp_path / "r", seed=0, observers=[stages], **TINY)
    assert stages.summary()["seconds"] == {}


def test_live_rate_over_the_last_steps():
    assert step_rate(deque([1.0])) == "-"
    assert step_rate(deque([0.0, 0.5, 1.0])) == "2.00 steps/s"
    assert step_rate(deque([0.0, 4.0, 8.0])) == "0.25 steps/s (4.0 s/step)"
    now = time.perf_counter()
    assert step_rate(deque([now, now])) == "-"


def test_compile_wraps_the_generator_and_every_perceptor(tmp_path, monkeypatch):
    compiled = []

    def fake_compile(fn, *args, **kwargs):  # compiling for real takes minutes on a CPU
        compiled.append(fn)
        return fn

    monkeypatch.setattr(torch, "compile", fake_compile)
    pipe = Pipeline()
    result = pipe.render("a", out=tmp_path / "c", seed=0, compile=True, **TINY)
    assert result.status == "completed" and result.settings["compile"] is True
    kinds = [type(getattr(fn, "__self__", fn)).__name__ for fn in compiled]
    assert len(compiled) == 2 and "ClipPerceptor" in kinds  # the generator module and one encode_image
    assert Pipeline().resolve("a").compile is False
