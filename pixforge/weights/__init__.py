"""Named model weights: a registry plugins fill through the ``register_weights`` hook, verified and
resumable downloads into a cache, and loading that runs no code from an unknown file.

A plugin registers ``WeightEntry(...)`` objects; a component calls ``ensure_local(lookup(weights, name))``
for the paths of its files and ``load_checkpoint(path, trusted_sha256=...)`` to read one.
"""

from __future__ import annotations

from .cache import cache_root, check, entry_dir, file_path, sha256_file
from .download import DownloadError, FetchOptions, fetch_file
from .entries import WeightEntry, WeightFile
from .registry import collect, describe, ensure_local, is_present, local_paths, lookup, trusted_sha256
from .safe_load import load_checkpoint

__all__ = [
    "DownloadError",
    "FetchOptions",
    "WeightEntry",
    "WeightFile",
    "cache_root",
    "check",
    "collect",
    "describe",
    "ensure_local",
    "entry_dir",
    "fetch_file",
    "file_path",
    "is_present",
    "load_checkpoint",
    "local_paths",
    "lookup",
    "sha256_file",
    "trusted_sha256",
]
