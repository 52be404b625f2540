"""Image index and search: format, incremental runs, corrupt files, interrupts, model checks, backends, CLI."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import pixforge_search
import pixforge_search.indexer as indexer
from pixforge import Pipeline
from pixforge.cli import app
from pixforge.errors import ConfigError
from pixforge.locks import LOCK_NAME
from pixforge.executors import Outcome, ProcessExecutor, RayExecutor
from pixforge_search import FORMAT_VERSION, ImageIndex, Searcher, build_index, search
from pixforge_search.backends import ExactBackend, build_hnsw, build_ivf, choose, make_backend, recall_at_k
from pixforge_search.index import HEADER
from pixforge_zoo import world


pixforge_search.register_commands(app)
runner = CliRunner()


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline()


@pytest.fixture
def photos(tmp_path):
    """A folder of 10 world images, one in a sub-folder, plus a non-image file."""
    folder = tmp_path / "photos"
    world.write_samples(folder, 10, seed=5)
    (folder / "sub").mkdir()
    (folder / "sample_00009.png").rename(folder / "sub" / "nested.png")
    return folder


@pytest.fixture
def count_encodes(monkeypatch):
    """Counts the images the indexer embeds."""
    seen: list[int] = []
    original = indexer.embed_images

    def counting(perceptor, images):
        seen.append(len(images))
        return original(perceptor, images)

    monkeypatch.setattr(indexer, "embed_images", counting)
    return seen


def test_index_format_and_exact_search(pipeline, photos) -> None:
    report = build_index(photos, pipeline=pipeline, batch_size=4)
    assert (report.added, report.total, report.embedded) == (10, 10, 10) and not report.skipped
    header = json.loads((photos / ".pixforge-index" / HEADER).read_text())
    assert header["format"] == "pixforge-image-index" and header["format_version"] == FORMAT_VERSION
    assert header["model"] == {
        "perceptor": "clip",
        "settings": {"model": "pixforge-tiny-clip", "pretrained": None, "config": None, "precision": "fp32"},
    }
    assert len(header["shards"]) == 1 and header["count"] == 10  # the batches were compacted at the end
    index = ImageIndex.open(photos)
    assert {e.path for e in index.entries} == {f"sample_{i:05d}.png" for i in range(9)} | {"sub/nested.png"}
    assert np.allclose(np.linalg.norm(index.embeddings, axis=1), 1, atol=1e-5)
    first = index.entries[0]
    stat = (photos / first.path).stat()
    assert (first.size, first.mtime_ns) == (stat.st_size, stat.st_mtime_ns)

    searcher = Searcher(photos, pipeline=pipeline)
    result = searcher.text("a red circle", k=4)
    scores = [hit.score for hit in result.hits]
    assert len(scores) == 4 and scores == sorted(scores, reverse=True) and result.backend == "exact"
    query = pixforge_search.models.embed_texts(searcher.perceptor, ["a red circle"])[0]
    assert np.isclose(scores[0], (index.embeddings @ query).max(), atol=1e-5)
    itself = searcher.image(photos / "sub" / "nested.png", k=1).hits[0]
    assert itself.path == photos / "sub" / "nested.png" and itself.score > 0.999


def test_rerun_embeds_only_new_and_changed_files_and_drops_deleted(pipeline, photos, count_encodes) -> None:
    build_index(photos, pipeline=pipeline)
    count_encodes.clear()
    again = build_index(photos, pipeline=pipeline)
    assert (again.added, again.changed, again.removed, again.embedded, again.total) == (0, 0, 0, 0, 10)
    assert count_encodes == []

    world.write_samples(photos / "more", 3, seed=9)
    (photos / "sample_00000.png").unlink()
    (photos / "sample_00001.png").unlink()
    changed = photos / "sample_00002.png"
    Image.open(photos / "more" / "sample_00000.png").save(changed)
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    report = build_index(photos, pipeline=pipeline)
    assert (report.added, report.changed, report.removed, report.unchanged) == (3, 1, 2, 7)
    assert sum(count_encodes) == 4 and report.total == 11
    paths = {e.path for e in ImageIndex.open(photos).entries}
    assert "sample_00000.png" not in paths and "more/sample_00002.png" in paths


def test_a_corrupt_image_is_reported_and_skipped(pipeline, photos) -> None:
    (photos / "broken.png").write_bytes(np.random.default_rng(1).bytes(500))
    (photos / "empty.jpg").write_bytes(b"")
    reported = []
    report = build_index(photos, pipeline=pipeline, batch_size=3, on_skip=reported.append)
    assert sorted(f.path.name for f in report.skipped) == ["broken.png", "empty.jpg"] == sorted(
        f.path.name for f in reported
    )
    assert report.total == 10 and report.embedded == 10


def test_an_interrupted_run_keeps_its_batches(pipeline, photos, count_encodes) -> None:
    class Stop(Exception):
        pass

    def stop_after_two(done: int, total: int) -> None:
        if done >= 8:
            raise Stop

    with pytest.raises(Stop):
        build_index(photos, pipeline=pipeline, batch_size=4, on_batch=stop_after_two)
    assert len(ImageIndex.open(photos)) == 8
    count_encodes.clear()
    report = build_index(photos, pipeline=pipeline, batch_size=4)
    assert sum(count_encodes) == 2 and (report.added, report.unchanged, report.total) == (2, 8, 10)
    index_dir = photos / ".pixforge-index"
    assert sorted(p.name for p in index_dir.iterdir() if p.name not in (HEADER, LOCK_NAME)) == [
        ImageIndex.open(photos).header["shards"][0]["file"]
    ]


def test_a_crash_between_shard_and_header_leaves_the_last_commit(pipeline, photos, monkeypatch) -> None:
    build_index(photos, pipeline=pipeline)
    index = ImageIndex.open(photos)
    before = index.header["shards"]

    def crash(self, shards):
        raise KeyboardInterrupt

    monkeypatch.setattr(ImageIndex, "_commit", crash)
    with pytest.raises(KeyboardInterrupt):
        index.append([pixforge_search.index.Entry("x.png", 1, 1)], np.ones((1, index.embed_dim)))
    reopened = ImageIndex.open(photos)
    assert reopened.header["shards"] == before and len(reopened) == 10


def test_searching_with_another_model_is_refused(pipeline, photos) -> None:
    build_index(photos, pipeline=pipeline)
    with pytest.raises(ConfigError, match="was built with model 'pixforge-tiny-clip'.*model 'ViT-B-32'"):
        search("a red circle", index=photos, model="ViT-B-32", pipeline=pipeline)
    with pytest.raises(ConfigError, match="cannot be mixed"):
        build_index(photos, pipeline=pipeline, model="ViT-B-32")
    assert search("a red circle", index=photos, model="pixforge-tiny-clip", pipeline=pipeline).hits


def test_index_format_version_and_missing_index(pipeline, photos, tmp_path) -> None:
    build_index(photos, pipeline=pipeline)
    header_path = photos / ".pixforge-index" / HEADER
    header = json.loads(header_path.read_text())
    header_path.write_text(json.dumps({**header, "format_version": 99}))
    with pytest.raises(ConfigError, match="format version 99.*reads version 1.*--rebuild"):
        search("a circle", index=photos, pipeline=pipeline)
    assert build_index(photos, pipeline=pipeline, rebuild=True).embedded == 10
    with pytest.raises(ConfigError, match="no pixforge index"):
        search("a circle", index=tmp_path / "elsewhere", pipeline=pipeline)


def test_backends_agree_and_approximate_recall(tmp_path) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 32))
    vectors = centres[rng.integers(0, 20, 3000)] + 0.5 * rng.normal(size=(3000, 32))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    queries = vectors[:50] + 0.1 * rng.normal(size=(50, 32)).astype(np.float32)
    scores, ids = ExactBackend(vectors).search(queries, 10)
    brute = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    assert (ids == brute).all() and (np.diff(scores, axis=1) <= 1e-6).all()
    for backend in (build_ivf(vectors), build_hnsw(vectors)):
        assert recall_at_k(backend.search(queries, 10)[1], ids) >= 0.9
    saved = tmp_path / "approx-hnsw-g1.faiss"
    make_backend("hnsw", vectors, saved)
    assert saved.is_file() and make_backend("hnsw", vectors, saved).index.ntotal == 3000
    assert choose("auto", 1000) == "exact" and choose("auto", 10**6) != "exact"
    with pytest.raises(ConfigError, match="one of auto, exact, ivf, hnsw"):
        choose("annoy", 10)


def test_approximate_index_without_faiss_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(ConfigError, match=r"pip install pixforge\[search\]"):
        build_hnsw(np.eye(4, dtype=np.float32))


def test_approximate_search_of_an_index(pipeline, photos) -> None:
    build_index(photos, pipeline=pipeline)
    exact = search("a blue square", index=photos, pipeline=pipeline, backend="exact", k=3)
    approx = search("a blue square", index=photos, pipeline=pipeline, backend="hnsw", k=3)
    assert approx.backend == "hnsw" and [h.path for h in approx.hits] == [h.path for h in exact.hits]
    assert len(list((photos / ".pixforge-index").glob("approx-hnsw-*.faiss"))) == 1


def test_cli_index_search_json_and_sheet(photos, tmp_path) -> None:
    (photos / "broken.png").write_bytes(b"not a png")
    done = runner.invoke(app, ["index", str(photos), "-q"])
    assert done.exit_code == 0, done.output
    assert "10 images in" in done.stdout and "10 new" in done.stdout and "1 skipped" in done.stdout
    assert "pixforge: warning: skipped" in done.stderr and "broken.png" in done.stderr

    sheet = tmp_path / "sheet.png"
    found = runner.invoke(app, ["search", "a red circle", "--index", str(photos), "-k", "3", "--json", "--sheet", str(sheet)])
    assert found.exit_code == 0, found.output
    document = json.loads(found.stdout)
    assert set(document) == {"query", "image", "index", "model", "backend", "results"}
    assert document["query"] == "a red circle" and document["image"] is None and document["backend"] == "exact"
    assert document["model"]["settings"]["model"] == "pixforge-tiny-clip"
    assert [r["rank"] for r in document["results"]] == [1, 2, 3]
    assert all(set(r) == {"rank", "path", "score"} and isinstance(r["score"], float) for r in document["results"])
    assert Image.open(sheet).size[0] > 3 * 64

    by_image = runner.invoke(app, ["search", "--image", str(photos / "sample_00003.png"), "--index", str(photos), "-k", "2"])
    assert by_image.exit_code == 0, by_image.output
    assert by_image.stdout.splitlines()[0].split()[1] == "1.0000"


def _same_index(a, b) -> None:
    first, second = ImageIndex.open(a), ImageIndex.open(b)
    assert [e.path for e in first.entries] == [e.path for e in second.entries]
    assert np.allclose(first.embeddings, second.embeddings, atol=1e-5)


def test_worker_processes_build_the_sequential_index(pipeline, photos, tmp_path) -> None:
    build_index(photos, pipeline=pipeline, batch_size=3)
    report = build_index(photos, index=tmp_path / "by-workers", batch_size=3, executor=ProcessExecutor(2, threads=1))
    assert (report.added, report.total) == (10, 10)
    _same_index(photos, tmp_path / "by-workers")


def test_local_ray_builds_the_sequential_index(pipeline, photos, tmp_path) -> None:
    ray = pytest.importorskip("ray")
    build_index(photos, pipeline=pipeline, batch_size=4)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        report = build_index(photos, index=tmp_path / "by-ray", batch_size=4, executor=RayExecutor())
    finally:
        ray.shutdown()
    assert report.total == 10
    _same_index(photos, tmp_path / "by-ray")


class _LosesTheSecondBatch:
    """An executor whose worker for batch 1 dies; the others run here, last batch first."""

    shares_files = True

    def map(self, task, items):
        for index in reversed(range(len(items))):
            if index == 1:
                yield Outcome(index, error="worker process failed: killed")
            else:
                yield Outcome(index, task(Pipeline(), items[index], None))


def test_a_lost_batch_is_skipped_and_embedded_on_the_next_run(pipeline, photos) -> None:
    report = build_index(photos, pipeline=pipeline, batch_size=4, executor=_LosesTheSecondBatch())
    assert report.total == 6 and len(report.skipped) == 4
    assert all("killed" in failure.error for failure in report.skipped)
    again = build_index(photos, pipeline=pipeline, batch_size=4)
    assert (again.added, again.unchanged, again.total) == (4, 6, 10)


def test_cli_index_with_workers(photos) -> None:
    done = runner.invoke(app, ["index", str(photos), "-q", "--workers", "2"])
    assert done.exit_code == 0, done.output
    assert "10 images in" in done.stdout and "10 new" in done.stdout


def test_cli_mistakes_are_one_line(photos, tmp_path) -> None:
    runner.invoke(app, ["index", str(photos), "-q"])
    for args, expected in (
        (["search", "x", "--index", str(photos), "--model", "RN50"], "was built with model"),
        (["search", "--index", str(photos)], "exactly one"),
        (["search", "x", "--index", str(tmp_path / "none")], "no pixforge index"),
        (["index", str(tmp_path / "missing")], "is not a folder"),
        (["index", str(photos / "sub"), "--index", str(photos / ".pixforge-index")], "belongs to folder"),
        (["search", "x", "--index", str(photos), "--backend", "annoy"], "is not one of"),
        (["index", str(photos), "--workers", "2", "--ray", "local"], "do not go together"),
    ):
        done = runner.invoke(app, args)
        assert done.exit_code == 1, done.output
        assert done.stderr.startswith("pixforge: error: ") and expected in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_commands_come_from_the_search_entry_point() -> None:
    import typer

    from pixforge.plugins import make_manager

    manager = make_manager()
    assert manager.get_plugin("search") is pixforge_search
    cli = typer.Typer()
    manager.hook.register_commands(cli=cli)
    manager.hook.register_commands(cli=cli)  # the CLI may ask twice: each command is added once
    names = [command.name for command in cli.registered_commands]
    assert sorted(n for n in names if n in {"classify", "index", "search"}) == ["classify", "index", "search"]


def test_attribute_queries_find_the_right_image_first(tmp_path) -> None:
    """Ten images, one per shape colour; a full-caption query must rank its own image first."""
    colors = list(world.COLORS)
    scenes = [
        world.Scene(world.SHAPES[i % len(world.SHAPES)], c, colors[(i + 3) % len(colors)], "large", "centre")
        for i, c in enumerate(colors)
    ]
    for i, scene in enumerate(scenes):
        world.to_pil(world.render_scene(scene, 64, rng=i)).save(tmp_path / f"{scene.color}_{scene.shape}.png")
    pipeline = Pipeline()
    build_index(tmp_path, pipeline=pipeline, model="pixforge-tiny-clip")
    searcher = Searcher(tmp_path, pipeline=pipeline)
    hits = 0
    for scene in scenes:
        query = f"a {scene.color} {scene.shape} on a {scene.background} background"
        hits += searcher.text(query, k=1).hits[0].path.name == f"{scene.color}_{scene.shape}.png"
    print(f"top-1 hits: {hits}/{len(scenes)}")
    assert hits >= 9
