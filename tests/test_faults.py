"""Bad inputs and machine faults: each ends with one ``pixforge: error:`` line, no traceback, no hang, no
half-written file. In this process through ``pixforge.cli.main`` where that is faithful; in real processes
where the fault needs one (a full disk is ``RLIMIT_FSIZE`` with SIGXFSZ ignored: writes fail with EFBIG)."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from faultkit import TINY, FifoWatch, leftovers, png_claiming, run_main, run_process
from pixforge.outputs import SETTINGS_KEY, png_bytes


def _png(path: Path, text: dict[str, str] | None = None) -> Path:
    path.write_bytes(png_bytes(Image.new("RGB", (16, 16), (200, 30, 30)), text))
    return path


def _write(path: Path, data: str | bytes) -> Path:
    (path.write_bytes if isinstance(data, bytes) else path.write_text)(data)  # type: ignore[operator]
    return path


def _file(path: Path) -> Path:
    return _write(path, "not a folder")


#: (id, setup(tmp) → arguments, words the one error line must hold)
Case = tuple[str, Callable[[Path], list[str]], str]

CASES: list[Case] = [
    ("out under /proc", lambda t: ["render", "x", *TINY, "--out", "/proc/pixforge-nope/run"], "/proc/pixforge-nope"),
    ("out below a file", lambda t: ["render", "x", *TINY, "--out", str(_file(t / "f") / "run")], "f"),
    ("out is a file", lambda t: ["render", "x", *TINY, "--out", str(_file(t / "f"))], "f"),
    ("size 8192x8192", lambda t: ["render", "x", "-q", "--size", "8192x8192", "--out", "o"], "--size"),
    ("cutouts 100000", lambda t: ["render", "x", "-q", "--size", "32", "--set", "cutouts.count=100000", "--out", "o"],
     "cutouts.count"),
    ("size too large", lambda t: ["render", "x", "-q", "--size", "9000", "--out", "o"], "8192"),
    ("from a bomb png", lambda t: ["render", "--from", str(png_claiming(t / "b.png", 30000, 30000)), "-q"], "pixels"),
    ("from zero bytes", lambda t: ["render", "--from", str(_write(t / "z.png", b"")), "-q"], "z.png"),
    ("from a folder", lambda t: ["render", "--from", str(t), "-q"], "--from"),
    ("from a png without settings", lambda t: ["render", "--from", str(_png(t / "p.png")), "-q"], "no pixforge settings"),
    ("from settings that are a list", lambda t: ["render", "--from", str(_png(t / "p.png", {SETTINGS_KEY: "[1, 2]"})),
                                                 "-q"], "damaged"),
    ("from settings with a bad key", lambda t: ["render", "--from", str(_png(t / "p.png", {SETTINGS_KEY: "stpes: 3"})),
                                                "-q"], "generator"),
    ("preset with bad yaml", lambda t: ["render", "x", "--preset", str(_write(t / "p.yaml", "a: [1,\n")), "-q"],
     "invalid YAML"),
    ("preset not utf-8", lambda t: ["render", "x", "--preset", str(_write(t / "p.yaml", b"\xff\xfe\x00")), "-q"],
     "UTF-8"),
    ("preset a folder", lambda t: ["render", "x", "--preset", str(t / "d.yaml"), "-q"], "d.yaml"),
    ("empty sweep file", lambda t: ["sweep", str(_write(t / "s.yaml", ""))], "empty"),
    ("comment-only sweep file", lambda t: ["sweep", str(_write(t / "s.yaml", "# nothing\n"))], "empty"),
    ("sweep file a list", lambda t: ["sweep", str(_write(t / "s.yaml", "[1, 2]\n"))], "mapping"),
    ("sweep out under /proc", lambda t: ["sweep", str(_write(t / "s.yaml", "base: {steps: 1, size: 32}\n")), "--out",
                                         "/proc/pixforge-nope"], "/proc/pixforge-nope"),
    ("resume no folder", lambda t: ["render", "--resume", str(t / "nope")], "settings.yaml"),
    ("resume a file", lambda t: ["render", "--resume", str(_file(t / "f"))], "settings.yaml"),
    ("zoo samples under /proc", lambda t: ["zoo", "samples", "/proc/pixforge-nope", "--n", "1", "--size", "16"],
     "/proc/pixforge-nope"),
    ("index a file", lambda t: ["index", str(_file(t / "f"))], "not a folder"),
    ("index into /proc", lambda t: ["index", str(t), "--index", "/proc/pixforge-nope/idx"], "/proc/pixforge-nope"),
    ("index into a file", lambda t: ["index", str(t / "imgs"), "--index", str(_file(t / "f"))], "not a folder"),
    ("classify a missing file", lambda t: ["classify", str(t / "nope.png"), "--labels", "a,b"], "nope.png"),
    ("labels file not utf-8", lambda t: ["classify", str(_png(t / "a.png")), "--labels-file",
                                         str(_write(t / "l.txt", b"\xff\xfe"))], "UTF-8"),
    ("prompts file a folder", lambda t: ["sweep", "--prompts-file", str(t)], "folder"),
]


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for n, colour in enumerate([(255, 0, 0), (0, 0, 255)]):
        Image.new("RGB", (32, 32), colour).save(folder / f"i{n}.png")
    (tmp_path / "d.yaml").mkdir()
    return folder


@pytest.mark.parametrize("name, setup, words", CASES, ids=[c[0] for c in CASES])
def test_one_clear_line(name: str, setup, words: str, tmp_path: Path, images: Path, capsys, monkeypatch) -> None:
    done = run_main(capsys, monkeypatch, *setup(tmp_path))
    assert done.clean_failure, done.explain()
    assert words in done.err, done.explain()
    assert not leftovers(tmp_path)


#: a FIFO where a file is read: none may be opened for reading (it would block for ever)
FIFO_CASES: list[tuple[str, Callable[[Path, Path], list[str]]]] = [
    ("render --from", lambda t, f: ["render", "--from", str(f), "-q"]),
    ("render --preset", lambda t, f: ["render", "x", "--preset", str(f), "-q"]),
    ("sweep file", lambda t, f: ["sweep", str(f)]),
    ("sweep --prompts-file", lambda t, f: ["sweep", "--prompts-file", str(f)]),
    ("classify --labels-file", lambda t, f: ["classify", str(_png(t / "a.png")), "--labels-file", str(f)]),
    ("classify --templates", lambda t, f: ["classify", str(_png(t / "a.png")), "--labels", "a,b", "--templates", str(f)]),
    ("init image", lambda t, f: ["render", "x", *TINY, "--set", f"init_image={f}", "--out", str(t / "o")]),
    ("image prompt", lambda t, f: ["render", "x", *TINY, "--set", f"prompts.images=[{f}]", "--out", str(t / "o")]),
    ("pixel init image", lambda t, f: ["render", "x", *TINY, "--set", "generator={name: pixel, settings: {init: image, "
                                       f"init_image: {f}}}", "--out", str(t / "o")]),
]


@pytest.mark.parametrize("name, args", FIFO_CASES, ids=[c[0] for c in FIFO_CASES])
def test_a_fifo_is_never_opened(name: str, args, tmp_path: Path, capsys, monkeypatch) -> None:
    with FifoWatch(tmp_path / "x.yaml" if "preset" in name or "sweep file" in name else tmp_path / "x.png") as fifo:
        done = run_main(capsys, monkeypatch, *args(tmp_path, fifo.path))
    assert not fifo.opened, f"something opened the FIFO for reading\n{done.explain()}"
    assert done.clean_failure, done.explain()


def test_a_full_disk_while_rendering_keeps_nothing_half_written(tmp_path: Path) -> None:
    done = run_process("render", "x", *TINY, "--out", str(tmp_path / "run"), file_limit=600)
    assert done.clean_failure, done.explain()
    assert str(tmp_path / "run") in done.err and "nothing half-written" in done.err
    assert not leftovers(tmp_path)


def test_a_full_disk_while_writing_zoo_samples(tmp_path: Path) -> None:
    done = run_process("zoo", "samples", str(tmp_path / "s"), "--n", "3", "--size", "64", file_limit=300)
    assert done.clean_failure, done.explain()
    assert not leftovers(tmp_path)


def test_a_full_disk_while_indexing_leaves_a_whole_index(tmp_path: Path, images: Path) -> None:
    done = run_process("index", str(images), "-q", file_limit=700)
    assert done.clean_failure, done.explain()
    assert ".pixforge-index" in done.err and not leftovers(tmp_path)


def test_no_space_left_in_process_names_the_file(tmp_path: Path, capsys, monkeypatch) -> None:
    import pixforge.outputs as outputs

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(outputs.os, "fsync", full)
    done = run_main(capsys, monkeypatch, "render", "x", *TINY, "--out", str(tmp_path / "run"))
    assert done.clean_failure and "disk is full" in done.err and "settings.yaml" in done.err, done.explain()
    assert not leftovers(tmp_path)


def test_a_full_disk_while_writing_a_sweep_summary(tmp_path: Path, capsys, monkeypatch) -> None:
    import pixforge.sweep.summary as summary

    spec = _write(tmp_path / "s.yaml", "base: {steps: 1, size: 32, cutouts.count: 2}\n")

    def full(path, text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(summary, "atomic_write_text", full)
    done = run_main(capsys, monkeypatch, "sweep", str(spec), "--out", str(tmp_path / "sw"), "-q")
    assert done.clean_failure and "summary.json" in done.err, done.explain()
    # the render itself finished and is kept
    (run,) = [p for p in (tmp_path / "sw").iterdir() if p.is_dir()]
    assert json.loads((run / "run.json").read_text())["status"] == "completed"


def _failing_plugin(error: BaseException) -> object:
    """A plugin whose loss fails at its second call, the way a component running out of memory does."""
    from pixforge import Loss, StrictModel
    from pixforge.hookspecs import hookimpl

    class Settings(StrictModel):
        pass

    class Boom(Loss):
        def __init__(self, settings, context) -> None:
            super().__init__(settings, context)
            self.calls = 0

        def __call__(self, state):
            self.calls += 1
            if self.calls > 1:
                raise error
            return state.image.mean() * 0

    Boom.Settings = Settings

    class Plugin:
        @hookimpl
        def register_losses(self, register):
            register("boom", Boom)

    return Plugin()


@pytest.mark.parametrize("error, words", [(MemoryError(), "out of memory"),
                                          (RuntimeError("DefaultCPUAllocator: can't allocate memory"), "out of memory"),
                                          (RuntimeError("something broke"), "RuntimeError: something broke")])
def test_a_failed_render_says_why_in_run_json(tmp_path: Path, error: BaseException, words: str) -> None:
    from pixforge import Pipeline

    pipe = Pipeline(plugins=[_failing_plugin(error)])
    with pytest.raises(type(error)):
        pipe.render("x", out=tmp_path / "run", seed=0, steps=3, size=32,
                    overrides=["cutouts.count=2", "losses=[{name: boom}]"])
    status = json.loads((tmp_path / "run" / "run.json").read_text())
    assert status["status"] == "failed" and words in status["message"]
    assert (tmp_path / "run" / "final.png").is_file()


def test_out_of_memory_in_the_cli_is_one_line(capsys, monkeypatch) -> None:
    import pixforge.pipeline as pipeline

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(pipeline.Pipeline, "render", no_memory)
    done = run_main(capsys, monkeypatch, "render", "x", "-q")
    assert done.clean_failure and "out of memory" in done.err and "--size" in done.err, done.explain()
