"""A shared or damaged index, odd files in an image folder, and writers that die or overlap."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faultkit import FifoWatch, png_claiming, run_main, run_process
from pixforge import Pipeline
from pixforge.errors import ConfigError
from pixforge.locks import folder_lock
from pixforge_search import build_index
from pixforge_search import index as index_module
from pixforge_search.index import DEFAULT_DIRNAME, HEADER, ImageIndex


def make_images(folder: Path, count: int = 4) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        Image.new("RGB", (32, 32), ((n * 60) % 256, 40, 200 - n * 40)).save(folder / f"img_{n:02d}.png")
    return folder


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline()


@pytest.fixture(scope="module")
def built(tmp_path_factory, pipeline: Pipeline) -> Path:
    folder = make_images(tmp_path_factory.mktemp("built") / "photos")
    build_index(folder, pipeline=pipeline)
    return folder


@pytest.fixture
def photos(tmp_path: Path, built: Path) -> Path:
    copy = tmp_path / "photos"
    shutil.copytree(built, copy)
    return copy


def header_of(photos: Path) -> dict:
    return json.loads((photos / DEFAULT_DIRNAME / HEADER).read_text())


def set_header(photos: Path, **changes) -> None:
    header = {**header_of(photos), **changes}
    (photos / DEFAULT_DIRNAME / HEADER).write_text(json.dumps(header))


def shard_of(photos: Path) -> Path:
    return photos / DEFAULT_DIRNAME / header_of(photos)["shards"][0]["file"]


def rewrite_shard(photos: Path, paths: list[str]) -> None:
    shard = shard_of(photos)
    with np.load(shard) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["paths"] = np.array(paths + list(arrays["paths"][len(paths):]), dtype=np.str_)
    with open(shard, "wb") as handle:
        np.savez(handle, **arrays)


DAMAGE = {
    "model null": lambda p: set_header(p, model=None),
    "model a string": lambda p: set_header(p, model="clip"),
    "shards a number": lambda p: set_header(p, shards=5),
    "shard without count": lambda p: set_header(p, shards=[{"file": header_of(p)["shards"][0]["file"]}]),
    "shard outside the folder": lambda p: set_header(p, shards=[{"file": "../../etc/passwd", "count": 1}]),
    "shard a missing file": lambda p: set_header(p, shards=[{"file": "shard-999999.npz", "count": 1}]),
    "embed_dim a string": lambda p: set_header(p, embed_dim="x"),
    "embed_dim zero": lambda p: set_header(p, embed_dim=0),
    "generation negative": lambda p: set_header(p, generation=-1),
    "root elsewhere": lambda p: set_header(p, root="/"),
    "header not json": lambda p: (p / DEFAULT_DIRNAME / HEADER).write_text("{nope"),
    "header a list": lambda p: (p / DEFAULT_DIRNAME / HEADER).write_text("[]"),
    "truncated shard": lambda p: shard_of(p).write_bytes(shard_of(p).read_bytes()[:200]),
    "zero-byte shard": lambda p: shard_of(p).write_bytes(b""),
    "shard of random bytes": lambda p: shard_of(p).write_bytes(os.urandom(1000)),
    "wrong row count": lambda p: set_header(p, shards=[{"file": shard_of(p).name, "count": 99}]),
    "entry ../": lambda p: rewrite_shard(p, ["../../../etc/passwd"]),
    "entry absolute": lambda p: rewrite_shard(p, ["/etc/passwd"]),
    "entry with a dot part": lambda p: rewrite_shard(p, ["a/../../x.png"]),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_index_is_one_line_for_search(damage: str, photos: Path, capsys, monkeypatch) -> None:
    DAMAGE[damage](photos)
    done = run_main(capsys, monkeypatch, "search", "a red circle", "--index", str(photos), "--sheet",
                    str(photos.parent / "sheet.png"))
    assert done.clean_failure, done.explain()
    assert "passwd" not in done.out and not (photos.parent / "sheet.png").exists()


@pytest.mark.parametrize("damage", ["model null", "truncated shard", "zero-byte shard", "shards a number"])
def test_a_damaged_index_is_one_line_for_index(damage: str, photos: Path, capsys, monkeypatch) -> None:
    DAMAGE[damage](photos)
    done = run_main(capsys, monkeypatch, "index", str(photos), "-q")
    assert done.clean_failure and "--rebuild" in done.err, done.explain()
    assert run_main(capsys, monkeypatch, "index", str(photos), "-q", "--rebuild").code == 0


def test_a_symlink_out_of_the_folder_is_no_result(photos: Path, tmp_path: Path) -> None:
    outside = make_images(tmp_path / "outside", 1) / "img_00.png"
    first = photos / "img_00.png"
    first.unlink()
    first.symlink_to(outside)  # the entry's name is inside, the file it leads to is not
    index = ImageIndex.open(photos)
    entry = next(e for e in index.entries if e.path == "img_00.png")
    with pytest.raises(ConfigError, match="outside the indexed folder"):
        index.full_path(entry)


def test_a_bomb_and_a_fifo_in_the_folder_are_skipped_with_a_warning(tmp_path: Path, capsys, monkeypatch) -> None:
    folder = make_images(tmp_path / "odd", 2)
    png_claiming(folder / "bomb.png", 40000, 40000)
    with warnings.catch_warnings(), FifoWatch(folder / "pipe.png") as fifo:
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        done = run_main(capsys, monkeypatch, "index", str(folder), "-q")
    assert done.code == 0, done.explain()
    assert not fifo.opened
    warned = [line for line in done.err.splitlines() if line.startswith("pixforge: warning:")]
    assert len(warned) == 2 and any("bomb.png" in w and "pixels" in w for w in warned)
    assert any("pipe.png" in w and "not a regular file" in w for w in warned)
    assert "2 images" in done.out and "2 skipped" in done.out


def test_classify_skips_a_fifo_and_a_bomb(tmp_path: Path, capsys, monkeypatch) -> None:
    folder = make_images(tmp_path / "odd", 1)
    png_claiming(folder / "bomb.png", 40000, 40000)
    with FifoWatch(folder / "pipe.png") as fifo:
        done = run_main(capsys, monkeypatch, "classify", str(folder), str(fifo.path), "--labels", "red,blue")
    assert done.code == 0 and not fifo.opened, done.explain()
    assert done.err.count("pixforge: warning: skipped") == 3  # the fifo (by the folder walk and by name), the bomb


def test_a_fifo_index_walk_in_a_real_process_does_not_hang(tmp_path: Path) -> None:
    folder = make_images(tmp_path / "odd", 1)
    os.mkfifo(folder / "pipe.png")
    done = run_process("index", str(folder), "-q", timeout=120)
    assert done.code == 0 and "pipe.png" in done.err, done.explain()


def test_a_newline_in_a_file_name_stays_on_one_line(tmp_path: Path, capsys, monkeypatch, pipeline) -> None:
    folder = make_images(tmp_path / "nl", 2)
    (folder / "img_00.png").rename(folder / "two\nlines.png")
    assert run_main(capsys, monkeypatch, "index", str(folder), "-q").code == 0
    done = run_main(capsys, monkeypatch, "search", "red", "--index", str(folder), "-k", "2")
    assert done.code == 0 and len(done.out.splitlines()) == 2 and "two\\nlines.png" in done.out, done.explain()
    as_json = run_main(capsys, monkeypatch, "search", "red", "--index", str(folder), "-k", "2", "--json")
    assert any(r["path"].endswith("two\nlines.png") for r in json.loads(as_json.out)["results"])
    classified = run_main(capsys, monkeypatch, "classify", str(folder), "--labels", "red,blue", "--top", "1")
    assert "two\\nlines.png" in classified.out and "two\nlines" not in classified.out


def test_a_second_writer_waits_then_says_so(photos: Path, monkeypatch, pipeline) -> None:
    import pixforge_search.indexer as indexer

    monkeypatch.setattr(indexer, "LOCK_WAIT", 0.2)
    with folder_lock(photos / DEFAULT_DIRNAME, "index"):
        with pytest.raises(ConfigError, match="in use by another pixforge process"):
            build_index(photos, pipeline=pipeline)
    assert build_index(photos, pipeline=pipeline).unchanged == 4  # the lock is gone with its holder


def test_a_reader_starts_again_when_a_writer_replaced_the_index(photos: Path, monkeypatch) -> None:
    real = index_module.read_header
    stale = {**header_of(photos), "shards": [{"file": "shard-000000.npz", "count": 4}]}  # compacted away
    calls = []

    def racing(folder):
        calls.append(folder)
        return stale if len(calls) == 1 else real(folder)

    monkeypatch.setattr(index_module, "read_header", racing)
    assert len(ImageIndex.open(photos)) == 4 and len(calls) >= 2


def _index_cmd(folder: Path) -> list[str]:
    return [sys.executable, "-m", "pixforge.cli", "index", str(folder), "-q", "--batch-size", "2"]


def test_two_writers_killed_with_sigkill_leave_a_whole_index(tmp_path: Path) -> None:
    folder = make_images(tmp_path / "many", 12)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for delay in (1.5, 3.0):
        runs = [subprocess.Popen(_index_cmd(folder), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
                for _ in range(2)]
        time.sleep(delay)
        for run in runs:
            run.send_signal(signal.SIGKILL)
            run.wait(timeout=30)
        if (folder / DEFAULT_DIRNAME / HEADER).is_file():
            ImageIndex.open(folder)  # whole: never "damaged"
    done = run_process("index", str(folder), "-q")
    assert done.code == 0 and "12 images" in done.out, done.explain()


def test_two_concurrent_writers_both_finish_and_agree(tmp_path: Path) -> None:
    folder = make_images(tmp_path / "pair", 6)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = [subprocess.Popen(_index_cmd(folder), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert len(ImageIndex.open(folder)) == 6


@pytest.mark.parametrize("where", ["/proc/pixforge-nope/sheet.png", "{file}/sheet.png"])
def test_a_sheet_that_cannot_be_written_is_one_line(where: str, photos: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    sheet = where.format(file=blocker)
    done = run_main(capsys, monkeypatch, "search", "red", "--index", str(photos), "--sheet", sheet)
    assert done.clean_failure and "nothing half-written" in done.err, done.explain()


def test_readers_never_see_damage_while_a_writer_rebuilds(photos: Path) -> None:
    make_images(photos, 10)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    writer = subprocess.Popen([*_index_cmd(photos), "--rebuild", "--batch-size", "1"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
    reads = 0
    try:
        while writer.poll() is None:
            ImageIndex.open(photos)  # raises if a reader ever saw a half-made index
            reads += 1
    finally:
        writer.communicate(timeout=300)
    assert writer.returncode == 0 and reads > 0


def test_an_index_grants_no_trust(photos: Path) -> None:
    header = header_of(photos)
    header["model"]["settings"]["trust_checkpoint"] = True
    (photos / DEFAULT_DIRNAME / HEADER).write_text(json.dumps(header))
    from pixforge.errors import PixforgeWarning

    with pytest.warns(PixforgeWarning, match="trust"):
        assert "trust_checkpoint" not in ImageIndex.open(photos).model["settings"]
