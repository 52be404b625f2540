"""Building an image index incrementally: embed only new or changed files, drop deleted ones.

Batches are embedded here, or on any ``pixforge.executors`` executor (worker processes, Ray), the
same ones sweeps render on; whoever embeds them, batches are committed to disk here, one at a time and
in order (see ``index.py``), so an interrupted run keeps its work and the next run embeds only what is
left, and the index does not depend on which worker finished first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pixforge.errors import ConfigError
from pixforge.executors import Executor, Outcome, SequentialExecutor
from pixforge.files import printable
from pixforge.locks import LOCK_NAME, folder_lock
from pixforge.pipeline import Pipeline

from .images import LoadFailure, batched, describe_error, load_batch, walk_images
from .index import DEFAULT_DIRNAME, HEADER, Entry, ImageIndex
from .models import DEFAULT_MODEL, ModelChoice, describe, embed_images, embed_texts, load_perceptor, normalised_spec

#: called after each committed batch with (images done in this run, images to do in this run)
BatchCallback = Callable[[int, int], None]
SkipCallback = Callable[[LoadFailure], None]
#: how long a second ``pixforge index`` of the same index waits for the first to finish
LOCK_WAIT = 600.0


@dataclass
class IndexReport:
    """What a run of ``build_index`` did: ``total = unchanged + added + changed``; ``removed`` files are
    gone from disk, ``skipped`` ones could not be read (a changed file that became unreadable is dropped)."""

    index: Path
    root: Path
    model: dict[str, Any]
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded: int = 0
    total: int = 0
    skipped: list[LoadFailure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0


def build_index(
    folder: str | Path,
    *,
    index: str | Path | None = None,
    model: str | None = None,
    pretrained: str | None = None,
    pipeline: Pipeline | None = None,
    device: str = "auto",
    batch_size: int = 64,
    rebuild: bool = False,
    on_batch: BatchCallback | None = None,
    on_skip: SkipCallback | None = None,
    executor: Executor | None = None,
) -> IndexReport:
    """Embed every image under ``folder`` into the index (default ``folder/.pixforge-index``).

    An existing index is updated: only new or changed files (by size and mtime) are embedded. Its
    model is kept unless another is named, which is refused unless ``rebuild`` starts over. With an
    ``executor`` the batches are embedded by its workers (which must be able to read the images).
    """
    started = time.perf_counter()
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ConfigError(f"'{root}' is not a folder of images")
    target = Path(index).expanduser() if index is not None else root / DEFAULT_DIRNAME
    if target.resolve() == root.resolve():
        raise ConfigError("the index needs a folder of its own, not the image folder (default: DIR/.pixforge-index)")
    if target.exists() and not target.is_dir():
        raise ConfigError(f"'{printable(target)}' exists and is not a folder; give another --index")
    target.mkdir(parents=True, exist_ok=True)
    # one writer at a time; a writer that died (even by kill -9) holds nothing, and its header is whole
    with folder_lock(target, "index", wait=LOCK_WAIT, hint=f"; it waited {LOCK_WAIT:.0f} s"):
        _check_target(target)
        return _build(root, target, model, pretrained, pipeline, device, batch_size, rebuild, on_batch, on_skip,
                      executor, started)


def _build(
    root: Path, target: Path, model: str | None, pretrained: str | None, pipeline: Pipeline | None, device: str,
    batch_size: int, rebuild: bool, on_batch: BatchCallback | None, on_skip: SkipCallback | None,
    executor: Executor | None, started: float,
) -> IndexReport:
    pipeline = pipeline if pipeline is not None else Pipeline()
    existing = None if rebuild or not (target / HEADER).is_file() else ImageIndex.open(target)
    if existing is not None and existing.root.resolve() != root.resolve():
        raise ConfigError(f"index '{target}' belongs to folder '{existing.root}', not '{root}'; give another --index")
    spec = _model_spec(pipeline, existing, model, pretrained)
    perceptor = load_perceptor(pipeline, spec, device)
    if existing is None:  # the embedding width, from one short text
        image_index = ImageIndex.create(target, root, spec, embed_texts(perceptor, ["a"]).shape[1])
    else:
        image_index = existing
        image_index.remove_leftovers()
    report = IndexReport(index=target, root=root, model=spec)

    on_disk = _scan(root, target, report, on_skip)
    changed = _drop_stale(image_index, on_disk, report)
    indexed = {entry.path for entry in image_index.entries}
    todo = sorted(rel for rel in on_disk if rel not in indexed)

    batches = [
        EmbedBatch(spec, device, tuple(on_disk[rel][0].absolute() for rel in batch), perceptor.input_size, tuple(batch))
        for batch in batched(todo, batch_size)
    ]
    done = 0
    for batch, outcome in _in_order(batches, (executor or SequentialExecutor(pipeline)).map(embed_batch, batches)):
        if outcome.error is not None:  # its worker died: the files stay out of the index, for the next run
            for path in batch.paths:
                _skip(report, LoadFailure(path, outcome.error), on_skip)
        else:
            loaded, vectors, failures = outcome.value
            for failure in failures:
                _skip(report, failure, on_skip)
            if loaded:
                entries = [Entry(batch.names[i], on_disk[batch.names[i]][1], on_disk[batch.names[i]][2]) for i in loaded]
                image_index.append(entries, vectors)
                report.embedded += len(entries)
                report.changed += sum(entry.path in changed for entry in entries)
        done += len(batch.paths)
        if on_batch is not None:
            on_batch(done, len(todo))
    if len(image_index.header["shards"]) > 1:
        image_index.compact()
    report.added = report.embedded - report.changed
    report.total = len(image_index)
    report.seconds = time.perf_counter() - started
    return report


@dataclass(frozen=True)
class EmbedBatch:
    """One batch of image files to embed, with all a worker needs to load the same model."""

    spec: dict[str, Any]
    device: str
    paths: tuple[Path, ...]
    size: int
    #: the files' paths relative to the indexed folder
    names: tuple[str, ...]


Embedded = tuple[list[int], np.ndarray, list[LoadFailure]]


def embed_batch(pipeline: Pipeline, batch: EmbedBatch, device: str | None) -> Embedded:
    """A worker's task: load ``batch``'s images and embed them → (positions that loaded, vectors, failures).

    The model comes from the worker pipeline's cache, so it loads once per worker.
    """
    perceptor = load_perceptor(pipeline, batch.spec, device or batch.device)
    pixels, loaded, failures = load_batch(list(batch.paths), batch.size)
    vectors = embed_images(perceptor, pixels) if loaded else np.zeros((0, 0), dtype=np.float32)
    return loaded, vectors, failures


def _in_order(batches: list[EmbedBatch], outcomes: Iterator[Outcome[Any]]) -> Iterator[tuple[EmbedBatch, Outcome[Any]]]:
    """Outcomes arrive as workers finish; hand them on in batch order, holding early ones back."""
    waiting: dict[int, Outcome[Any]] = {}
    next_index = 0
    for outcome in outcomes:
        waiting[outcome.index] = outcome
        while next_index in waiting:
            yield batches[next_index], waiting.pop(next_index)
            next_index += 1


#: relative path → (path, size, mtime_ns)
OnDisk = dict[str, tuple[Path, int, int]]


def _scan(root: Path, target: Path, report: IndexReport, on_skip: SkipCallback | None) -> OnDisk:
    """Every image under ``root`` (outside the index folder) with its size and mtime."""
    on_disk: OnDisk = {}
    for path in walk_images(root, exclude=target, on_skip=lambda failure: _skip(report, failure, on_skip)):
        try:
            stat = path.stat()
        except OSError as exc:
            _skip(report, LoadFailure(path, describe_error(exc)), on_skip)
            continue
        on_disk[path.relative_to(root).as_posix()] = (path, stat.st_size, stat.st_mtime_ns)
    return on_disk


def _drop_stale(image_index: ImageIndex, on_disk: OnDisk, report: IndexReport) -> set[str]:
    """Drop entries whose file is gone or changed (size or mtime); returns the changed paths."""
    keep: list[int] = []
    changed: set[str] = set()
    for row, entry in enumerate(image_index.entries):
        now = on_disk.get(entry.path)
        if now is None:
            report.removed += 1
        elif (now[1], now[2]) != (entry.size, entry.mtime_ns):
            changed.add(entry.path)
        else:
            keep.append(row)
    report.unchanged = len(keep)
    if len(keep) != len(image_index):
        image_index.keep(keep)
    return changed


def _check_target(target: Path) -> None:
    """An index folder, or an empty one: never a folder of other files (the index cleans up its own)."""
    if not (target / HEADER).is_file() and any(p.name != LOCK_NAME for p in target.iterdir()):
        raise ConfigError(f"'{printable(target)}' exists and is not a pixforge index; give another --index")


def _model_spec(
    pipeline: Pipeline, existing: ImageIndex | None, model: str | None, pretrained: str | None
) -> dict[str, Any]:
    """The index's own model, or the one asked for (which must match an existing index)."""
    if model is None and pretrained is None:
        return existing.model if existing is not None else normalised_spec(pipeline, ModelChoice(DEFAULT_MODEL))
    requested = normalised_spec(pipeline, ModelChoice(model=model or DEFAULT_MODEL, pretrained=pretrained))
    if existing is not None and requested != existing.model:
        raise ConfigError(
            f"index '{existing.folder}' was built with {describe(existing.model)}, not {describe(requested)}; "
            "embeddings of two models cannot be mixed: leave out --model to update it, or add --rebuild "
            "to re-embed everything"
        )
    return requested


def _skip(report: IndexReport, failure: LoadFailure, on_skip: SkipCallback | None) -> None:
    report.skipped.append(failure)
    if on_skip is not None:
        on_skip(failure)
