"""The ``classify``, ``index`` and ``search`` commands, added to the root ``pixforge`` command line."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from pixforge.console import fail, warn
from pixforge.errors import PixforgeError
from pixforge.executor_options import RayOption, WorkersOption
from pixforge.files import printable
from pixforge.hookspecs import hookimpl
from pixforge.options import flag
from pixforge.terminal import stderr_progress, wants_bar

from .names import DEFAULT_MODEL

#: inputs at least this large get a progress bar (on a terminal)
PROGRESS_FROM = 64


@contextmanager
def progress_bar(label: str, enabled: bool) -> Iterator[Callable[[int, int], None]]:
    """A ``(done, total)`` callback that shows a rich bar on stderr once ``total`` reaches PROGRESS_FROM;
    silent when stderr is not a terminal (logs, CI, pipes)."""
    if not (enabled and wants_bar()):
        yield lambda done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    shown: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in shown:
            if total < PROGRESS_FROM:
                return
            shown["bar"] = stderr_progress(
                TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
            )
            shown["bar"].start()
            shown["task"] = shown["bar"].add_task(label, total=total)
        shown["bar"].update(shown["task"], completed=done, total=total)

    try:
        yield update
    finally:
        if "bar" in shown:
            shown["bar"].stop()


def classify_command(
    images: Annotated[list[str], typer.Argument(help="Image files, folders (searched recursively) or globs.")],
    labels: Annotated[Optional[str], typer.Option("--labels", "-l", help="Comma-separated labels.")] = None,
    labels_file: Annotated[Optional[Path], typer.Option(help="A file with one label per line.")] = None,
    templates: Annotated[
        str, typer.Option("--templates", "-t", help="none, simple, selected, imagenet, or a file of templates.")
    ] = "none",
    model: Annotated[str, typer.Option("--model", "-m", help="A clip model name.")] = DEFAULT_MODEL,
    pretrained: Annotated[Optional[str], typer.Option(help="Pretrained tag or weights file.")] = None,
    top: Annotated[int, typer.Option("--top", "-k", min=1, help="Labels shown per image.")] = 5,
    multi_label: Annotated[
        bool, flag("--multi-label", help="Independent sigmoid per label (models trained that way).")
    ] = False,
    as_json: Annotated[bool, flag("--json", help="Print JSON.")] = False,
    as_csv: Annotated[bool, flag("--csv", help="Print CSV rows: path,rank,label,score.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per batch.")] = 64,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda[:N] or mps.")] = "auto",
    quiet: Annotated[bool, flag("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Zero-shot classify IMAGES against labels with a CLIP model."""
    from .classifier import classify, parse_labels, read_labels_file

    if as_json and as_csv:
        fail("give --json or --csv, not both")
    if (labels is None) == (labels_file is None):
        fail("classify needs --labels 'a,b,c' or --labels-file FILE (one of them)")
    try:
        names = parse_labels(labels) if labels is not None else read_labels_file(labels_file)  # type: ignore[arg-type]
        with progress_bar("classify", not quiet) as progress:
            result = classify(
                images, names, model=model, pretrained=pretrained, templates=templates, multi_label=multi_label,
                device=device, batch_size=batch_size, progress=progress,
            )
    except PixforgeError as exc:
        fail(str(exc))
    for failure in result.skipped:
        warn(printable(f"skipped {failure.path} ({failure.error})"))
    if as_json:
        typer.echo(json.dumps(result.to_json(top), indent=2))
    elif as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["path", "rank", "label", "score"])
        for row, path in enumerate(result.paths):
            for rank, (label, score) in enumerate(result.top(row, top), 1):
                writer.writerow([path, rank, label, f"{score:.6f}"])
    else:
        for row, path in enumerate(result.paths):
            typer.echo(printable(path))
            for label, score in result.top(row, top):
                typer.echo(f"  {score:6.3f}  {label}")
    if not result.paths:
        fail("no image could be read")


def index_command(
    folder: Annotated[Path, typer.Argument(help="The folder of images to index (searched recursively).")],
    index: Annotated[
        Optional[Path], typer.Option("--index", help="Index folder (default: FOLDER/.pixforge-index).")
    ] = None,
    model: Annotated[
        Optional[str], typer.Option("--model", "-m", help=f"A clip model name (new index: {DEFAULT_MODEL}).")
    ] = None,
    pretrained: Annotated[Optional[str], typer.Option(help="Pretrained tag or weights file.")] = None,
    rebuild: Annotated[bool, flag("--rebuild", help="Start over: re-embed every image.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per batch (each batch is saved at once).")] = 64,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda[:N] or mps.")] = "auto",
    workers: WorkersOption = 1,
    ray: RayOption = None,
    quiet: Annotated[bool, flag("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Embed every image under FOLDER into a search index; re-running only embeds what changed.

    With --workers or --ray, batches are embedded on the workers sweeps render on (on Ray, every node must read the images).
    """
    from pixforge.executors import make_executor

    from .indexer import build_index
    from .searcher import display_path

    done = {"images": 0}

    def on_batch(count: int, total: int) -> None:
        done["images"] = count
        progress(count, total)

    try:
        executor = make_executor(workers, ray)
        with progress_bar("index", not quiet) as progress:
            report = build_index(
                folder, index=index, model=model, pretrained=pretrained, device=device, batch_size=batch_size,
                rebuild=rebuild, on_batch=on_batch, on_skip=lambda f: warn(printable(f"skipped {f.path} ({f.error})")),
                executor=executor,
            )
    except PixforgeError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        typer.echo(
            f"pixforge: interrupted; the {done['images']} images done so far are saved, run again to finish",
            err=True,
        )
        raise typer.Exit(130) from None
    skipped = f", {len(report.skipped)} skipped" if report.skipped else ""
    typer.echo(
        f"{report.total} images in {display_path(report.index)}: {report.added} new, {report.changed} changed, "
        f"{report.removed} removed, {report.unchanged} unchanged{skipped} "
        f"({report.embedded} embedded in {report.seconds:.1f} s, {report.images_per_second:.0f} images/s)"
    )


def search_command(
    query: Annotated[Optional[str], typer.Argument(help="What to look for, in words.")] = None,
    image: Annotated[Optional[Path], typer.Option("--image", help="Find images similar to this one.")] = None,
    index: Annotated[
        Path, typer.Option("--index", help="Index folder, or an image folder holding .pixforge-index.")
    ] = Path("."),
    k: Annotated[int, typer.Option("-k", min=1, help="How many results.")] = 10,
    as_json: Annotated[bool, flag("--json", help="Print JSON.")] = False,
    sheet: Annotated[Optional[Path], typer.Option("--sheet", help="Also write a contact sheet PNG.")] = None,
    model: Annotated[
        Optional[str], typer.Option("--model", "-m", help="Must be the index's model (default: it is).")
    ] = None,
    pretrained: Annotated[Optional[str], typer.Option(help="Must be the index's weights (default: they are).")] = None,
    backend: Annotated[str, typer.Option(help="auto, exact, ivf or hnsw (approximate ones need faiss).")] = "auto",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda[:N] or mps.")] = "auto",
) -> None:
    """Search an index by a text QUERY (or --image) and print the best matches with cosine scores."""
    from .searcher import display_path, search
    from .sheet import contact_sheet

    try:
        result = search(
            query, image=image, index=index, k=k, model=model, pretrained=pretrained, device=device, backend=backend
        )
        if sheet is not None:
            title = f"{query!r}" if query is not None else f"like {image}"
            contact_sheet(
                [(hit.path, f"{hit.rank}. {hit.score:.3f}\n{printable(hit.path.name)}") for hit in result.hits], sheet,
                title=title,
            )
    except PixforgeError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        for hit in result.hits:
            typer.echo(f"{hit.rank:3d}  {hit.score:.4f}  {display_path(hit.path)}")
    if sheet is not None and not as_json:
        typer.echo(f"contact sheet: {sheet}")


COMMANDS: dict[str, Callable[..., Any]] = {
    "classify": classify_command,
    "index": index_command,
    "search": search_command,
}


@hookimpl
def register_commands(cli: Any) -> None:
    """Add the commands once, however often the hook is called on the same app."""
    present = {command.name for command in cli.registered_commands}
    for name, function in COMMANDS.items():
        if name not in present:
            cli.command(name)(function)
