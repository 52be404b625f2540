"""Sweeps: spec expansion, skip and resume on re-run, failure isolation, and the same bytes from every executor."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from pixforge import ConfigError, Observer, Pipeline
from pixforge.cli import app
from pixforge.resume import read_status
from pixforge.run_folder import RunFolder, is_layout_candidate
from pixforge.sweep import (
    ProcessExecutor,
    RayExecutor,
    load_spec,
    plan,
    read_prompts_file,
    run_sweep,
    with_overrides,
    with_prompts,
)
from pixforge.executors import RayWorker
from pixforge.sweep.executors import run_job_gathered, write_files

# tiny renders: the sweep machinery is under test here, not the pictures
BASE = {"steps": 4, "size": 32, "cutouts.count": 4, "checkpoint_every": 2, "augmentations": []}
SPEC = {"preset": "draft", "base": BASE, "grid": {"prompt": ["a red circle", "a blue square"], "seed": [1, 2]}}


def finals(out: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in sorted(out.glob("*/final.png"))}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The sequential sweep every other executor must match, byte for byte."""
    out = tmp_path_factory.mktemp("sweep") / "seq"
    report = run_sweep(plan(load_spec(data=SPEC), out), out)
    return out, report


# -- the spec ------------------------------------------------------------------------------------------


def test_grid_is_the_cartesian_product_with_stable_names(tmp_path):
    spec = load_spec(data={**SPEC, "variations": [{"losses.smoothness.weight": 0.1}, {"optimizer.lr": 0.05}]})
    jobs = plan(spec, tmp_path)
    assert len(jobs) == 2 * 2 * 2
    assert jobs[0].name == "000-prompt=a-red-circle_seed=1_losses.smoothness.weight=0.1"
    assert jobs[7].name == "007-prompt=a-blue-square_seed=2_optimizer.lr=0.05"
    assert jobs[3].values == {**BASE, "prompt": "a red circle", "seed": 2, "optimizer.lr": 0.05}
    assert [j.name for j in plan(spec, tmp_path)] == [j.name for j in jobs]
    assert len({j.run_dir for j in jobs}) == 8 and all(j.run_dir.parent == tmp_path for j in jobs)


def test_a_list_of_variations_and_a_preset_axis(tmp_path):
    spec = load_spec(data={"variations": [{"prompt": "a", "preset": "draft"}, {"prompt": "b", "seed": 3}]})
    first, second = plan(spec, tmp_path)
    assert (first.preset, first.values) == ("draft", {"prompt": "a"})
    assert (second.preset, second.values) == ("default", {"prompt": "b", "seed": 3})


def test_prompts_file_becomes_the_prompt_axis(tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red circle\n\n# a comment\n  a blue square  \n")
    assert read_prompts_file(prompts) == ["a red circle", "a blue square"]
    spec = with_prompts(load_spec(data={"grid": {"seed": [1, 2, 3]}}), read_prompts_file(prompts), "spec")
    assert len(plan(spec, tmp_path)) == 6
    with pytest.raises(ConfigError, match="both vary 'prompt'"):
        with_prompts(load_spec(data=SPEC), ["x"], "spec")


def test_set_overrides_join_base_but_axes_win(tmp_path):
    spec = with_overrides(load_spec(data=SPEC), ["steps=9", "seed=7"])
    job = plan(spec, tmp_path)[0]
    assert job.values["steps"] == 9 and job.values["seed"] == 1


@pytest.mark.parametrize(
    "data, named",
    [
        ({"grids": {}}, "unknown key 'grids'; did you mean 'grid'?"),
        ({"grid": {"promt": ["a"]}}, "unknown key 'promt'; did you mean 'prompt'?"),
        ({"base": {"stepz": 3}}, "unknown key 'stepz'; did you mean 'steps'?"),
        ({"variations": [{"sed": 1}]}, "variation 1: unknown key 'sed'; did you mean 'seed'?"),
        ({"grid": {"seed": 1}}, "grid.seed"),
        ({"grid": {"seed": []}}, "grid 'seed' has no values"),
        ({"grid": {"seed": [1]}, "variations": [{"seed": 2}]}, "'seed' is both a grid axis and set by variation 1"),
        ({"base": {"preset": "draft"}}, "base.preset"),
    ],
)
def test_bad_spec_is_one_error_naming_the_key(data, named):
    with pytest.raises(ConfigError) as caught:
        load_spec(data=data)
    assert named in str(caught.value) and "\n" not in str(caught.value)


def test_a_deeper_bad_key_fails_before_anything_renders(tmp_path):
    spec = load_spec(data={**SPEC, "base": {**BASE, "losses.smoothnes.weight": 1}})
    with pytest.raises(ConfigError, match="smoothnes"):
        run_sweep(plan(spec, tmp_path), tmp_path)
    assert not any(tmp_path.glob("*/final.png"))


# -- running -------------------------------------------------------------------------------------------


def test_sequential_sweep_writes_run_folders_and_summaries(reference):
    out, report = reference
    assert report.ok and [r.action for r in report.results] == ["rendered"] * 4
    assert len(finals(out)) == 4
    assert all(read_status(out / r.name)["status"] == "completed" for r in report.results)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"completed": 4}
    assert [row["name"] for row in summary["jobs"]] == sorted(finals(out))
    assert all(isinstance(row["score"], float) for row in summary["jobs"])
    lines = (out / "summary.csv").read_text().splitlines()
    assert len(lines) == 5 and lines[0].startswith("index,name,status,action,seed")
    assert ",a blue square," in lines[3]
    assert Image.open(out / "summary.png").size[0] > 128


class NoRenders(Pipeline):
    """A pipeline that fails the test if anything renders."""

    def render(self, *args, **kwargs):
        raise AssertionError("rendered again")

    def resume(self, *args, **kwargs):
        raise AssertionError("resumed again")


def test_rerun_skips_every_finished_render(reference, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(reference[0], out)
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/final.png")}
    report = run_sweep(plan(load_spec(data=SPEC), out), out, pipeline=NoRenders())
    assert [r.action for r in report.results] == ["skipped"] * 4 and report.ok
    # the bytes are equal; the scores differ in the last float bits (1 torch thread per worker vs 2)
    assert [r.score for r in report.results] == pytest.approx([r.score for r in reference[1].results], rel=1e-5)
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/final.png")} == stamps


class StopAt(Observer):
    """Ctrl-C at a step of the render's own (a preset's layout runs first, in RUN/layout)."""

    def __init__(self, step: int) -> None:
        self.step = step
        self.own = True

    def on_start(self, run):
        self.own = not is_layout_candidate(run.run_dir)

    def on_step(self, state):
        if self.own and state.step + 1 == self.step:
            raise KeyboardInterrupt


def test_an_interrupted_render_is_resumed_to_the_same_bytes(reference, tmp_path):
    out = tmp_path / "cut"
    shutil.copytree(reference[0], out)
    jobs = plan(load_spec(data=SPEC), out)
    cut = jobs[1]
    shutil.rmtree(cut.run_dir)
    values = dict(cut.values)
    with pytest.raises(KeyboardInterrupt):
        Pipeline().render(values.pop("prompt"), cut.preset, out=cut.run_dir, observers=[StopAt(3)], **values)
    assert (cut.run_dir / RunFolder.CHECKPOINT).is_file() and read_status(cut.run_dir)["status"] == "interrupted"
    report = run_sweep(jobs, out)
    assert [r.action for r in report.results] == ["skipped", "resumed", "skipped", "skipped"]
    assert report.ok and finals(out) == finals(reference[0])


def test_a_failing_render_is_recorded_and_the_others_finish(tmp_path):
    spec = load_spec(data={"preset": "draft", "base": {**BASE, "seed": 1},
                           "variations": [{"init_image": "missing.png"}, {"prompt": "a green dot"}]})
    report = run_sweep(plan(spec, tmp_path), tmp_path)
    bad, good = report.results
    assert bad.status == "failed" and "missing.png" in bad.error and "no such file" in bad.error
    assert good.status == "completed" and (tmp_path / good.name / "final.png").is_file()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counts"] == {"failed": 1, "completed": 1}
    assert "missing.png" in (tmp_path / "summary.csv").read_text()
    # a failed render is tried again on the next run; the finished one is not
    again = run_sweep(plan(spec, tmp_path), tmp_path)
    assert [r.action for r in again.results] == ["rendered", "skipped"]


def test_candidates_keep_the_best_by_clip_score(tmp_path):
    spec = load_spec(data={"preset": "draft", "base": {**BASE, "seed": 4}, "grid": {"prompt": ["a red circle"]}})
    (result,) = run_sweep(plan(spec, tmp_path, candidates=2), tmp_path).results
    run = tmp_path / result.name
    assert result.status == "completed" and (run / "candidates.png").is_file()
    assert sorted(p.name for p in (run / "candidates").iterdir()) == ["seed-4", "seed-5"]
    assert result.seed in (4, 5) and isinstance(result.score, float)
    (again,) = run_sweep(plan(spec, tmp_path, candidates=2), tmp_path, pipeline=NoRenders()).results
    assert again.action == "skipped" and again.score == result.score


def test_a_run_folder_holding_another_render_is_refused(reference, tmp_path):
    out = tmp_path / "changed"
    shutil.copytree(reference[0], out)
    spec = with_overrides(load_spec(data=SPEC), ["steps=5"])
    with pytest.raises(ConfigError, match="holds a different render"):
        run_sweep(plan(spec, out), out)


def test_two_worker_processes_give_the_sequential_bytes(reference, tmp_path):
    out = tmp_path / "workers"
    report = run_sweep(plan(load_spec(data=SPEC), out), out, executor=ProcessExecutor(2))
    assert report.ok and [r.action for r in report.results] == ["rendered"] * 4
    assert finals(out) == finals(reference[0])
    # the bytes are equal; the scores differ in the last float bits (1 torch thread per worker vs 2)
    assert [r.score for r in report.results] == pytest.approx([r.score for r in reference[1].results], rel=1e-5)


@pytest.mark.slow
def test_local_ray_gives_the_sequential_bytes(reference, tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = tmp_path / "ray"
        report = run_sweep(plan(load_spec(data=SPEC), out), out, executor=RayExecutor())
        assert report.ok and [r.action for r in report.results] == ["rendered"] * 4
        assert finals(out) == finals(reference[0])
        assert ray.is_initialized()  # a Ray the caller started is left running
    finally:
        ray.shutdown()


def test_gathered_run_folders_come_back_with_the_same_bytes(reference, tmp_path):
    """What a Ray actor does with --gather (render in scratch, send the files), here without Ray."""
    job = plan(load_spec(data=SPEC), tmp_path)[2]
    result, files = RayWorker().call(run_job_gathered, (job, {}))
    assert result.status == "completed" and not job.run_dir.exists()
    assert {"final.png", "settings.yaml", "run.json", "job.json"} <= set(files)
    write_files(job.run_dir, files)
    assert finals(tmp_path) == {job.name: finals(reference[0])[job.name]}


# -- the command line ----------------------------------------------------------------------------------


def test_cli_sweep_end_to_end_in_a_real_process(tmp_path):
    spec = tmp_path / "colours.yaml"
    spec.write_text("preset: draft\nbase: {size: 32, cutouts.count: 4, augmentations: []}\ngrid: {seed: [2]}\n")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red circle\n# not a prompt\n")
    args = [sys.executable, "-m", "pixforge.cli", "sweep", str(spec), "--prompts-file", str(prompts)]
    args += ["--set", "steps=3"]
    done = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, env=os.environ)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "pixforge-out" / "sweep-colours"
    assert "[1/1] completed rendered 000-prompt=a-red-circle_seed=2" in done.stdout
    assert "1 of 1 completed" in done.stdout
    assert list(finals(out)) == ["000-prompt=a-red-circle_seed=2"]
    assert (out / "summary.png").is_file()


@pytest.mark.parametrize(
    "args, expected",
    [
        ([], "sweep needs a SPEC.yaml or --prompts-file FILE"),
        (["nosuch.yaml"], "nosuch.yaml: cannot read"),
        (["--prompts-file", "p.txt", "--set", "stpes=3"], "unknown key 'stpes'; did you mean 'steps'?"),
        (["--prompts-file", "p.txt", "--workers", "2", "--ray", "local"], "do not go together"),
    ],
)
def test_cli_sweep_mistakes_are_one_line(tmp_path, args, expected):
    (tmp_path / "p.txt").write_text("x\n")
    done = CliRunner().invoke(app, ["sweep", *args])
    assert done.exit_code == 1
    assert done.output.startswith("pixforge: error: ") and done.output.count("\n") == 1
    assert expected in done.output and "Traceback" not in done.output


def test_folder_names_never_cut_a_value_mid_number() -> None:
    from pixforge.sweep.plan import MAX_SLUG, slug

    name = slug({"prompt": "a very long prompt about a red circle on a blue background", "optimizer.lr": 0.0123456789,
                 "seed": 123456789, "cutouts.count": 32})
    assert len(name) <= MAX_SLUG
    assert name == "prompt=a-very-long-prompt-about-a-red_optimizer.lr=0.0123456789"  # the seed did not fit whole
