"""The named weights plugins register, looked up by name (or alias) and made present on disk."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, suggest
from ..registration import Claims, call_each_plugin, require
from .cache import file_path, offline
from .download import FetchOptions, fetch_file
from .entries import WeightEntry

if TYPE_CHECKING:
    import pluggy


def collect(manager: pluggy.PluginManager) -> dict[str, WeightEntry]:
    """Every entry from the ``register_weights`` hook; a name (or alias) registered twice is a PluginError."""
    entries: dict[str, WeightEntry] = {}
    claims = Claims("model")

    def make_register(plugin: str) -> Callable[[WeightEntry], None]:
        def register(entry: WeightEntry) -> None:
            require(plugin, "model weights", entry, WeightEntry, as_class=False)
            for key in (entry.name, *entry.aliases):
                claims.claim(key, entry, plugin)
            entries[entry.name] = replace(entry, plugin=plugin)

        return register

    call_each_plugin(manager, "register_weights", make_register)
    return entries


def lookup(weights: Mapping[str, WeightEntry], name: str, kind: str | None = None) -> WeightEntry:
    """The entry called ``name`` (or aliased so), of ``kind`` if given; a ConfigError suggests a close name."""
    entry = weights.get(name) or next((e for e in weights.values() if name in e.aliases), None)
    candidates = [key for n, e in weights.items() if kind is None or e.kind == kind for key in (n, *e.aliases)]
    if entry is None or (kind is not None and entry.kind != kind):
        what = f"{kind} model" if kind else "model"
        raise ConfigError(f"unknown {what} '{name}'; {suggest(name, candidates)} (see `pixforge models list`)")
    return entry


def trusted_sha256(weights: Mapping[str, WeightEntry]) -> set[str]:
    """The SHA-256 of every registered file: such files may be fully unpickled."""
    return {f.sha256 for e in weights.values() for f in e.files if f.sha256}


def local_paths(entry: WeightEntry, cache: Path | None = None) -> dict[str, Path]:
    """Where each file of ``entry`` is used from (shipped, or its cache place), whether it exists or not."""
    return {f.name: file_path(entry, f, cache) for f in entry.files}


def is_present(entry: WeightEntry, cache: Path | None = None) -> bool:
    """Whether every file is on disk (for open_clip names: in the hub cache)."""
    if entry.open_clip is not None:
        from .openclip import cached_file

        return cached_file(entry) is not None
    return all(path.is_file() for path in local_paths(entry, cache).values())


def ensure_local(
    entry: WeightEntry,
    allow_download: bool | None = None,
    *,
    cache: Path | None = None,
    options: FetchOptions | None = None,
) -> dict[str, Path]:
    """File name → path of every file of ``entry``, downloading what is missing (unless not allowed).

    ``allow_download=None`` means: allowed unless ``PIXFORGE_OFFLINE`` is set. An open_clip name returns
    its one weights file in the hub cache.
    """
    options = options or FetchOptions()
    if allow_download is not None:
        options = replace(options, allow_download=allow_download)
    if entry.open_clip is not None:
        from .openclip import ensure

        path = ensure(entry, options.allow_download if options.allow_download is not None else not offline())
        return {path.name: path}
    paths: dict[str, Path] = {}
    for file in entry.files:
        path = file_path(entry, file, cache)
        if file.shipped is not None:
            if not path.is_file():
                raise ConfigError(
                    f"model '{entry.name}': shipped file '{path}' is missing; reinstall the package of plugin "
                    f"'{entry.plugin or '?'}'"
                )
        else:
            fetch_file(entry.name, file, path, options)
        paths[file.name] = path
    return paths


def _size_on_disk(entry: WeightEntry, cache: Path | None) -> int | None:
    """The total size of an entry's files as they are on disk (a shipped model's), when every one is there."""
    paths = list(local_paths(entry, cache).values())
    if not paths or not all(path.is_file() for path in paths):
        return None
    return sum(path.stat().st_size for path in paths)


def describe(entry: WeightEntry, cache: Path | None = None) -> dict[str, Any]:
    """One row of ``pixforge models list --json``."""
    if entry.open_clip is not None:
        from .openclip import cached_file, expected_location

        found = cached_file(entry)
        source = f"open_clip:{entry.open_clip[0]}/{entry.open_clip[1]}"
        location = str(found or expected_location(entry))
    else:
        found = None
        source = "shipped" if entry.shipped else "download"
        location = str(next(iter(local_paths(entry, cache).values())).parent)
    return {
        "name": entry.name,
        "kind": entry.kind,
        "description": entry.description,
        "size": entry.size if entry.size is not None else _size_on_disk(entry, cache),
        "present": found is not None if entry.open_clip is not None else is_present(entry, cache),
        "source": source,
        "location": location,
        "plugin": entry.plugin,
        "aliases": list(entry.aliases),
        "files": [
            {"name": f.name, "size": f.size, "sha256": f.sha256, "format": f.format, "urls": list(f.urls),
             "path": str(file_path(entry, f, cache))}
            for f in entry.files
        ],
    }
