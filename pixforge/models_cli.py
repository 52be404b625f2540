"""``pixforge models``: list, fetch, verify and locate the named weights plugins register."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .console import fail
from .errors import PixforgeError
from .options import flag

models_app = typer.Typer(help="List, download and verify model weights.", no_args_is_help=True)


def _weights():
    from .plugins import default_registry

    return default_registry().weights


def _human(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


@models_app.command("list")
def models_list(as_json: Annotated[bool, flag("--json", help="Machine-readable output.")] = False) -> None:
    """List every named model: kind, size, whether it is on disk, and where it comes from."""
    from .weights import describe

    try:
        rows = [describe(entry) for _, entry in sorted(_weights().items())]
    except PixforgeError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    line = "{:<24} {:<8} {:>9}  {:<8} {}".format
    typer.echo(line("name", "kind", "size", "local", "from"))
    for row in rows:
        typer.echo(line(row["name"], row["kind"], _human(row["size"]), "present" if row["present"] else "-", row["source"]))


@models_app.command("fetch")
def models_fetch(
    names: Annotated[list[str], typer.Argument(help="Model names (see `pixforge models list`).")],
    force: Annotated[bool, flag("--force", help="Download again even if present.")] = False,
) -> None:
    """Download models into the cache (verified, resumable; mirrors tried in order)."""
    from .weights import FetchOptions, ensure_local, lookup

    try:
        weights = _weights()
        entries = [lookup(weights, name) for name in names]
        for entry in entries:
            paths = ensure_local(entry, options=FetchOptions(force=force))
            for path in paths.values():
                typer.echo(f"{entry.name}: {path}")
    except PixforgeError as exc:
        fail(str(exc))


@models_app.command("verify")
def models_verify(
    names: Annotated[list[str] | None, typer.Argument(help="Model names (default: every downloadable one).")] = None,
) -> None:
    """Re-hash cached files against their checksums: ok, corrupt, missing or unchecked (no checksum)."""
    from .weights import check, file_path, lookup

    try:
        weights = _weights()
        entries = [lookup(weights, name) for name in names] if names else [weights[n] for n in sorted(weights)]
    except PixforgeError as exc:
        fail(str(exc))
    corrupt, checked = [], 0
    for entry in entries:
        if entry.open_clip is not None:
            if names:
                typer.echo(f"{entry.name}: served by open_clip (the hub cache checks its own files)")
            continue
        for file in entry.files:
            path = file_path(entry, file)
            status = check(path, file)
            if status == "missing" and not names:
                continue  # verifying the whole cache: report what is there
            typer.echo(f"{status:<9} {entry.name}/{file.name}  {path}")
            checked += 1
            if status == "corrupt":
                corrupt.append(path)
    if not checked and not names:
        typer.echo("no downloaded model files to verify")
    if corrupt:
        fail(f"{len(corrupt)} corrupt file(s); run `pixforge models fetch --force NAME` to replace them")


@models_app.command("show")
def models_show(
    name: Annotated[str, typer.Argument(help="Model name or alias.")],
    as_json: Annotated[bool, flag("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show one model: what it is, where its files are, its preprocessing and (word-level models) its vocabulary."""
    from .weights import describe, lookup

    try:
        entry = lookup(_weights(), name)
    except PixforgeError as exc:
        fail(str(exc))
    row = describe(entry)
    extra = {k: v for k, v in entry.extra.items() if k != "vocabulary"}
    vocabulary = list(entry.extra.get("vocabulary", ()))
    if as_json:
        typer.echo(json.dumps({**row, "preprocess": dict(entry.preprocess), "extra": extra, "vocabulary": vocabulary},
                              indent=2, default=str))
        return
    typer.echo(f"{row['name']}  ({row['kind']}, from {row['source']}, plugin {row['plugin'] or '-'})")
    if row["description"]:
        typer.echo(f"  {row['description']}")
    if row["aliases"]:
        typer.echo(f"  aliases: {', '.join(row['aliases'])}")
    typer.echo(f"  size: {_human(row['size'])}, {'present' if row['present'] else 'not present'} at {row['location']}")
    for file in row["files"]:
        typer.echo(f"  file {file['name']}: {file['path']}")
    if entry.preprocess:
        typer.echo("  preprocessing: " + ", ".join(f"{k} {v}" for k, v in entry.preprocess.items()))
    if vocabulary:
        typer.echo(f"  vocabulary ({len(vocabulary)} words; any other word is read as unknown):")
        typer.echo("    " + " ".join(vocabulary))


@models_app.command("path")
def models_path(name: Annotated[str, typer.Argument(help="Model name.")]) -> None:
    """Print where each file of a model is, or where to put it by hand."""
    from .weights import local_paths, lookup

    try:
        entry = lookup(_weights(), name)
        if entry.open_clip is not None:
            from .weights.openclip import cached_file, expected_location

            typer.echo(str(cached_file(entry) or expected_location(entry)))
            return
    except PixforgeError as exc:
        fail(str(exc))
    for path in local_paths(entry).values():
        typer.echo(str(path))
