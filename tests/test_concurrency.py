"""Renders that overlap (one --out, threads of one process), file modes, and what a re-render keeps."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

from faultkit import TINY, answers_ctrl_c, run_main
from pixforge import Pipeline
from pixforge.errors import ConfigError
from pixforge.locks import run_folder_lock
from pixforge.run_folder import RunFolder

SMALL = dict(steps=2, size=32, overrides=["cutouts.count=2", "checkpoint_every=1"])


def test_a_second_render_into_a_busy_run_folder_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    with run_folder_lock(run):
        with pytest.raises(ConfigError, match="in use by another pixforge process.*another --out"):
            Pipeline().render("x", out=run, seed=0, **SMALL)
    assert not (run / "final.png").exists()
    Pipeline().render("x", out=run, seed=0, **SMALL)  # free again once the holder is gone
    assert (run / "final.png").is_file()


def test_two_processes_into_one_out_never_mix(tmp_path: Path) -> None:
    import signal
    import time

    run = tmp_path / "run"
    args = [sys.executable, "-m", "pixforge.cli", "render", "a red circle", "--size", "32", "--set",
            "cutouts.count=2", "-q", "--out", str(run)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen([*args, "--seed", "1", "--steps", "100000"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env, preexec_fn=answers_ctrl_c)
    try:
        while not (run / "losses.csv").exists() and first.poll() is None:
            time.sleep(0.05)
        second = subprocess.run([*args, "--seed", "2", "--steps", "2"], capture_output=True, text=True, env=env,
                                timeout=300)
    finally:
        first.send_signal(signal.SIGINT)  # Ctrl-C: the first render keeps its image and settings
        try:
            first.communicate(timeout=300)
        finally:
            first.kill()  # never leave a 100000-step render running
    assert first.returncode == 130
    assert second.returncode == 1 and "in use by another pixforge process" in second.stderr, second.stderr
    assert "Traceback" not in second.stderr
    assert "seed: 1" in (run / "settings.yaml").read_text()
    assert Image.open(run / "final.png").text["pixforge:seed"] == "1"
    assert (run / "losses.csv").read_text().count("step") == 1  # one header: one render's log


def test_renders_in_threads_give_the_bytes_of_sequential_renders(tmp_path: Path) -> None:
    pipe = Pipeline()
    prompts = ["a red circle", "a blue square"]
    for n, prompt in enumerate(prompts):
        pipe.render(prompt, out=tmp_path / f"seq{n}", seed=n, **SMALL)
    errors: list[BaseException] = []

    def render(n: int) -> None:
        try:
            pipe.render(prompts[n], out=tmp_path / f"thr{n}", seed=n, **SMALL)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=render, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors
    for n in range(2):
        assert (tmp_path / f"thr{n}" / "final.png").read_bytes() == (tmp_path / f"seq{n}" / "final.png").read_bytes()


def test_building_vqgans_in_threads_never_touches_sys_stdout() -> None:
    from pixforge_vqgan.model import VQAutoencoder
    from pixforge_vqgan.spec import VQSpec

    spec = VQSpec(kind="vq", ddconfig={"double_z": False, "z_channels": 8, "resolution": 32, "in_channels": 3,
                                       "out_ch": 3, "ch": 8, "ch_mult": [1, 2], "num_res_blocks": 1,
                                       "attn_resolutions": [], "dropout": 0.0}, n_embed=16, embed_dim=8)
    before = sys.stdout
    seen: list[object] = []

    def build() -> None:
        for _ in range(3):
            VQAutoencoder(spec)
            seen.append(sys.stdout)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sys.stdout is before and all(s is before for s in seen)
    assert not any(isinstance(s, io.StringIO) for s in seen)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_run_files_get_the_mode_the_umask_gives(tmp_path: Path, umask: int) -> None:
    script = (
        "import os, sys; os.umask(int(sys.argv[1], 8)); from pixforge import Pipeline; "
        "Pipeline().render('x', out=sys.argv[2], seed=0, steps=2, size=32, overrides=['cutouts.count=2', 'checkpoint_every=1'])"
    )
    subprocess.run([sys.executable, "-c", script, oct(umask), str(tmp_path / "run")], check=True,
                   env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True)
    expected = 0o666 & ~umask
    for name in ("final.png", "settings.yaml", "run.json", "losses.csv"):
        assert (tmp_path / "run" / name).stat().st_mode & 0o777 == expected, name


def test_a_checkpoint_gets_the_umask_mode_too(tmp_path: Path) -> None:
    from pixforge.files import ordinary_mode

    class Stop(Exception):
        pass

    from pixforge import Observer
    from pixforge.run_folder import is_layout_candidate

    class StopAt(Observer):
        own = True

        def on_start(self, run):  # the default's layout runs first, in RUN/layout: stop in the render's own steps
            self.own = not is_layout_candidate(run.run_dir)

        def on_step(self, state):
            if self.own and state.step == 1:
                raise Stop

    with pytest.raises(Stop):
        Pipeline().render("x", out=tmp_path / "run", seed=0, steps=4, size=32, observers=[StopAt()],
                          overrides=["cutouts.count=2", "checkpoint_every=1"])
    assert (tmp_path / "run" / RunFolder.CHECKPOINT).stat().st_mode & 0o777 == ordinary_mode()


def test_a_fresh_render_into_an_old_folder_starts_a_fresh_log(tmp_path: Path) -> None:
    pipe = Pipeline()
    pipe.render("x", out=tmp_path / "run", seed=0, **SMALL)
    pipe.render("x", out=tmp_path / "run", seed=1, **SMALL)
    lines = (tmp_path / "run" / "losses.csv").read_text().splitlines()
    assert lines[0].startswith("step") and len(lines) == 3 and "step" not in "".join(lines[1:])


def test_a_huge_sweeps_summary_sheet_is_capped(tmp_path: Path) -> None:
    from pixforge.sweep.job import JobResult
    from pixforge.sweep.plan import Job
    from pixforge.sweep.summary import MAX_SHEET_TILES, rows, sheet

    jobs = [Job(n, f"{n:05d}", tmp_path / f"{n:05d}", "default", {"seed": n}, {"seed": n}) for n in range(3000)]
    results = [JobResult(n, job.name, str(job.run_dir), "failed", "rendered") for n, job in enumerate(jobs)]
    picture = sheet(jobs, rows(jobs, results))
    assert picture.width * picture.height < 10_000_000 and MAX_SHEET_TILES == 200


def test_the_cli_refuses_a_busy_out_in_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    run = tmp_path / "run"
    run.mkdir()
    with run_folder_lock(run):
        done = run_main(capsys, monkeypatch, "render", "x", *TINY, "--out", str(run))
    assert done.clean_failure and "--out" in done.err, done.explain()
