"""Where downloaded weights live: ``<cache>/<kind>/<entry>/<file>``, with ``<cache>`` from ``PIXFORGE_CACHE``
or the platform's user cache folder. One place to look, one place to put a file by hand."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .entries import WeightEntry, WeightFile

CACHE_ENV = "PIXFORGE_CACHE"
OFFLINE_ENV = "PIXFORGE_OFFLINE"


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    """``$PIXFORGE_CACHE``, else ``platformdirs.user_cache_dir("pixforge")``."""
    env = os.environ if env is None else env
    configured = env.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("pixforge"))


def entry_dir(entry: WeightEntry, root: Path | None = None) -> Path:
    """The folder of an entry's downloaded files."""
    return (root if root is not None else cache_root()) / entry.kind / entry.name


def file_path(entry: WeightEntry, file: WeightFile, root: Path | None = None) -> Path:
    """Where ``file`` is used from: its shipped path, else its place in the cache (present or not)."""
    if file.shipped is not None:
        return file.shipped
    return entry_dir(entry, root) / file.name


def offline(env: Mapping[str, str] | None = None) -> bool:
    """Whether ``PIXFORGE_OFFLINE`` forbids downloads (any value but empty, 0, false, no)."""
    env = os.environ if env is None else env
    return env.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB chunks (weights can be gigabytes)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def mismatch(path: Path, file: WeightFile) -> str | None:
    """Why the file at ``path`` is not ``file`` (wrong size or SHA-256), or None when it matches."""
    size = path.stat().st_size
    if file.size is not None and size != file.size:
        return f"it has {size} bytes, expected {file.size}"
    if file.sha256 is not None:
        actual = sha256_file(path)
        if actual != file.sha256:
            return f"its SHA-256 is {actual}, expected {file.sha256}"
    return None


def check(path: Path, file: WeightFile) -> str:
    """``ok``, ``corrupt``, ``missing`` or ``unchecked`` (present, but no checksum to compare with)."""
    if not path.is_file():
        return "missing"
    if mismatch(path, file) is not None:
        return "corrupt"
    return "ok" if file.sha256 is not None else "unchecked"
