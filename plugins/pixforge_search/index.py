"""The on-disk image index: a folder with a JSON header and shards of embeddings.

Layout of an index folder (format version 1)::

    index.json           header: format, format_version, model (perceptor + settings), embed_dim,
                         root (the image folder, relative to the index folder), generation,
                         shards [{file, count}], count, updated
    shard-000007.npz     embeddings float32 [n, D] (L2-normalised), paths (relative to root, "/"),
                         sizes int64 [n], mtime_ns int64 [n]
    approx-hnsw-g7.faiss an approximate search index built from generation 7 (optional, rebuilt when stale)

Every change is a new shard (or a new compacted shard) written under a temporary name and renamed,
followed by the header, also written and renamed. A crash at any moment leaves the last header, which
names only complete shards: an interrupted run keeps every batch it committed. Files the header does
not name are leftovers of an interrupted write and are removed the next time the index is written.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from pixforge.errors import ConfigError
from pixforge.files import is_regular, printable
from pixforge.trust import without_trust

FORMAT = "pixforge-image-index"
FORMAT_VERSION = 1
HEADER = "index.json"
#: the index folder's name inside an image folder, when no other place is given
DEFAULT_DIRNAME = ".pixforge-index"
#: the only file names a header may give its shards
SHARD_NAME = re.compile(r"^shard-[0-9]{6,}\.npz$")
#: how often a reader starts again when a writer replaced the index under it
READ_ATTEMPTS = 5


@dataclass(frozen=True)
class Entry:
    """One indexed image: its path relative to the root, and what tells whether it changed."""

    path: str
    size: int
    mtime_ns: int


def index_dir_for(path: Path) -> Path:
    """An index folder, or an image folder holding one in ``.pixforge-index``."""
    path = Path(path).expanduser()
    if (path / HEADER).is_file():
        return path
    if (path / DEFAULT_DIRNAME / HEADER).is_file():
        return path / DEFAULT_DIRNAME
    raise ConfigError(
        f"no pixforge index at '{path}' (nor in '{path / DEFAULT_DIRNAME}'); build one with `pixforge index DIR`"
    )


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through a temporary file and a rename, so readers see the old or the new file."""
    temporary = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with open(temporary, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:  # a full disk names no file: say which one, and that nothing half-written is kept
        if exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
    finally:
        temporary.unlink(missing_ok=True)


class ImageIndex:
    """An open index: header fields, entries and embeddings in memory, and the folder they live in."""

    def __init__(self, folder: Path, header: dict[str, Any], entries: list[Entry], embeddings: np.ndarray) -> None:
        self.folder = folder
        self.header = header
        self.entries = entries
        #: appended batches, joined only when the embeddings are read (no quadratic copying)
        self._parts = [embeddings]

    @property
    def embeddings(self) -> np.ndarray:
        """``[len(self), embed_dim]`` float32 unit vectors, in ``entries`` order."""
        if len(self._parts) > 1:
            self._parts = [np.concatenate(self._parts)]
        return self._parts[0]

    # -- reading ---------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path) -> ImageIndex:
        """Open an index folder (or the one inside an image folder); a clear error if it is not usable.

        Readers take no lock: a writer commits a new header only after its shards are complete, so a shard
        that vanishes while it is read means a newer header exists, and the read starts again from it.
        """
        folder = index_dir_for(path)
        for attempt in range(READ_ATTEMPTS):
            header = read_header(folder)
            try:
                return cls._read(folder, header)
            except ShardGone:
                if attempt + 1 == READ_ATTEMPTS or read_header(folder) == header:
                    raise damaged(folder, "a shard its header names is missing") from None
        raise AssertionError("unreachable")

    @classmethod
    def _read(cls, folder: Path, header: dict[str, Any]) -> ImageIndex:
        entries: list[Entry] = []
        parts: list[np.ndarray] = []
        for shard in header["shards"]:
            shard_entries, vectors = read_shard(folder / shard["file"], header["embed_dim"])
            if len(shard_entries) != shard["count"]:
                raise damaged(folder, f"shard {shard['file']} holds {len(shard_entries)} rows, not {shard['count']}")
            entries.extend(shard_entries)
            parts.append(vectors)
        embeddings = np.concatenate(parts) if parts else np.zeros((0, header["embed_dim"]), dtype=np.float32)
        return cls(folder, header, entries, embeddings)

    @property
    def model(self) -> dict[str, Any]:
        return self.header["model"]

    @property
    def embed_dim(self) -> int:
        return int(self.header["embed_dim"])

    @property
    def root(self) -> Path:
        """The image folder the entries' paths are relative to."""
        return Path(os.path.normpath(self.folder / self.header["root"]))

    @property
    def generation(self) -> int:
        return int(self.header["generation"])

    def __len__(self) -> int:
        return len(self.entries)

    def full_path(self, entry: Entry) -> Path:
        """Where an entry's image lies: always inside the indexed folder (checked when the shard was read,
        and again here through symlinks), so a shared index cannot point a search at other files."""
        path = self.root / entry.path
        root = self.root.resolve()
        if not path.resolve().is_relative_to(root):
            raise damaged(self.folder, f"entry '{printable(entry.path)}' leads outside the indexed folder")
        return path

    # -- writing ---------------------------------------------------------------------------------

    @classmethod
    def create(cls, folder: Path, root: Path, model: dict[str, Any], embed_dim: int) -> ImageIndex:
        """A new, empty index in ``folder`` (created) for images under ``root``."""
        folder.mkdir(parents=True, exist_ok=True)
        header = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": model,
            "embed_dim": int(embed_dim),
            "root": os.path.relpath(root.resolve(), folder.resolve()),
            "generation": 0,
            "shards": [],
            "count": 0,
        }
        index = cls(folder, header, [], np.zeros((0, embed_dim), dtype=np.float32))
        index._commit([])
        index.remove_leftovers()
        return index

    def append(self, entries: list[Entry], embeddings: np.ndarray) -> None:
        """Add one batch as a new shard and commit it: from here on it survives any interruption."""
        if not entries:
            return
        vectors = self._checked(entries, embeddings)
        name = self._write_shard(entries, vectors)
        self.entries.extend(entries)
        self._parts.append(vectors)
        self._commit([*self.header["shards"], {"file": name, "count": len(entries)}])

    def keep(self, rows: np.ndarray | list[int]) -> None:
        """Keep only ``rows`` (dropping deleted or changed images), compacted into one shard."""
        rows = np.asarray(rows, dtype=np.int64)
        self._parts = [self.embeddings[rows]]
        self.entries = [self.entries[i] for i in rows]
        self.compact()

    def compact(self) -> None:
        """Rewrite all rows as one shard (fewer files to read when searching)."""
        if self.entries:
            name = self._write_shard(self.entries, self.embeddings)
            self._commit([{"file": name, "count": len(self.entries)}])
        else:
            self._commit([])
        self.remove_leftovers()

    def _checked(self, entries: list[Entry], embeddings: np.ndarray) -> np.ndarray:
        vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
        if vectors.shape != (len(entries), self.embed_dim):
            raise ValueError(f"expected embeddings of shape {(len(entries), self.embed_dim)}, got {vectors.shape}")
        return vectors

    def _write_shard(self, entries: list[Entry], vectors: np.ndarray) -> str:
        self.header["generation"] = self.generation + 1
        name = f"shard-{self.generation:06d}.npz"
        paths = np.array([e.path for e in entries], dtype=np.str_)
        sizes = np.array([e.size for e in entries], dtype=np.int64)
        mtimes = np.array([e.mtime_ns for e in entries], dtype=np.int64)

        def write(handle: IO[bytes]) -> None:
            np.savez(handle, embeddings=vectors, paths=paths, sizes=sizes, mtime_ns=mtimes)

        atomic_write(self.folder / name, write)
        return name

    def _commit(self, shards: list[dict[str, Any]]) -> None:
        self.header.update(shards=shards, count=len(self.entries), updated=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        text = json.dumps(self.header, indent=1).encode("utf-8")

        def write(handle: IO[bytes]) -> None:
            handle.write(text)

        atomic_write(self.folder / HEADER, write)

    def remove_leftovers(self) -> None:
        """Shards the header no longer names, and temporary files of interrupted writes."""
        named = {shard["file"] for shard in self.header["shards"]}
        current = f"-g{self.generation}."
        for path in self.folder.iterdir():
            stale_shard = path.name.startswith("shard-") and path.suffix == ".npz" and path.name not in named
            stale_approx = path.name.startswith("approx-") and current not in path.name
            if stale_shard or stale_approx or ".tmp-" in path.name:
                path.unlink(missing_ok=True)

    def approx_path(self, kind: str) -> Path:
        """Where the approximate search index of ``kind`` built on this generation is kept."""
        return self.folder / f"approx-{kind}-g{self.generation}.faiss"


def damaged(folder: Path, why: str) -> ConfigError:
    return ConfigError(f"index '{folder}' is damaged ({why}); rebuild it with `pixforge index DIR --rebuild`")


class ShardGone(Exception):
    """A shard named by the header vanished while it was read (a writer compacted the index meanwhile)."""


def read_header(folder: Path) -> dict[str, Any]:
    """The header, checked for the format, its version and the type of every field a reader uses."""
    path = folder / HEADER
    if not is_regular(path):
        raise damaged(folder, f"{HEADER} is not a regular file")
    try:
        header = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise damaged(folder, f"{HEADER} cannot be read: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ConfigError(f"'{folder / HEADER}' is not a pixforge image index")
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise ConfigError(
            f"index '{folder}' has format version {version}, this pixforge reads version {FORMAT_VERSION}; "
            "rebuild it with `pixforge index DIR --rebuild`"
        )
    missing = {"model", "embed_dim", "root", "generation", "shards"} - set(header)
    if missing:
        raise damaged(folder, f"the header lacks {', '.join(sorted(missing))}")
    check_header(folder, header)
    header["model"] = without_trust(header["model"], f"index '{printable(folder)}'")  # an index grants no trust
    return header


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_header(folder: Path, header: dict[str, Any]) -> None:
    """Every header field of the right type, shard names plain ``shard-N.npz`` names (nothing outside the
    folder), and the default layout's root the folder holding it."""
    model = header["model"]
    if not isinstance(model, dict) or not isinstance(model.get("perceptor"), str) or not isinstance(
        model.get("settings"), dict
    ):
        raise damaged(folder, f"'model' is {model!r}, not a perceptor spec")
    if not _whole(header["embed_dim"]) or header["embed_dim"] == 0:
        raise damaged(folder, f"'embed_dim' is {header['embed_dim']!r}, not a positive whole number")
    if not _whole(header["generation"]):
        raise damaged(folder, f"'generation' is {header['generation']!r}, not a whole number")
    if not isinstance(header["root"], str):
        raise damaged(folder, f"'root' is {header['root']!r}, not a folder path")
    if folder.name == DEFAULT_DIRNAME and os.path.normpath(header["root"]) != "..":
        raise damaged(folder, f"'root' is {header['root']!r}; an index in {DEFAULT_DIRNAME} indexes the folder holding it")
    shards = header["shards"]
    if not isinstance(shards, list):
        raise damaged(folder, f"'shards' is {shards!r}, not a list")
    for shard in shards:
        if not (isinstance(shard, dict) and isinstance(shard.get("file"), str) and SHARD_NAME.match(shard["file"])
                and _whole(shard.get("count"))):
            raise damaged(folder, f"shard entry {printable(shard)[:80]} is not {{file: shard-N.npz, count: N}}")


def safe_entry_path(text: str) -> bool:
    """An entry path is relative and "/"-separated, without empty, "." or ".." parts (other names, odd
    characters included, are real file names)."""
    parts = text.split("/")
    return bool(text) and not text.startswith("/") and "\0" not in text and all(part not in ("", ".", "..") for part in parts)


def read_shard(path: Path, embed_dim: int) -> tuple[list[Entry], np.ndarray]:
    """One shard's entries and ``[n, embed_dim]`` embeddings."""
    if not path.exists():
        raise ShardGone(path.name)
    if not is_regular(path):
        if not path.exists():  # removed between the two looks: a writer replaced the index
            raise ShardGone(path.name)
        raise damaged(path.parent, f"shard {path.name} is not a regular file")
    try:
        with np.load(path, allow_pickle=False) as data:
            vectors = np.asarray(data["embeddings"], dtype=np.float32)
            paths, sizes, mtimes = data["paths"].tolist(), data["sizes"].tolist(), data["mtime_ns"].tolist()
    except FileNotFoundError:
        raise ShardGone(path.name) from None
    except Exception as exc:  # truncated (BadZipFile), empty (EOFError), wrong arrays: all mean damaged
        raise damaged(path.parent, f"shard {path.name} cannot be read: {type(exc).__name__}: {exc}") from None
    if vectors.ndim != 2 or vectors.shape[1] != embed_dim or not (len(vectors) == len(paths) == len(sizes) == len(mtimes)):
        raise damaged(path.parent, f"shard {path.name} has embeddings of shape {vectors.shape}")
    bad = next((p for p in paths if not (isinstance(p, str) and safe_entry_path(p))), None)
    if bad is not None:
        raise damaged(path.parent, f"shard {path.name} names '{printable(bad)}', which is not inside the indexed folder")
    return [Entry(p, int(s), int(m)) for p, s, m in zip(paths, sizes, mtimes)], vectors
