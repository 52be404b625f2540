"""What a named model is made of: its files, where each can come from, and what loading it needs.

Entries are plain data, so a plugin registers them without importing torch, and ``pixforge models list``
can show every model without touching the network.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from types import MappingProxyType
from typing import Any

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: one part of a name that becomes a folder under the cache: no separators, no "..", no scheme
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+@-]*$")
_KIND = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_URL_SCHEMES = ("http://", "https://")
_FORMATS = {".safetensors": "safetensors", ".ckpt": "torch", ".pt": "torch", ".pth": "torch", ".bin": "torch",
            ".pkl": "pickle", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}


@dataclass(frozen=True)
class WeightFile:
    """One file of a model. It comes from ``shipped`` (a file inside an installed package, used in place)
    or from ``urls``, tried in order; ``sha256`` and ``size`` verify a download."""

    name: str
    urls: tuple[str, ...] = ()
    sha256: str | None = None
    size: int | None = None
    shipped: Path | None = None
    #: how to read it: safetensors, torch, pickle, yaml, json… (default: from the file name's suffix)
    format: str = ""

    def __post_init__(self) -> None:
        if not self.name or not _PART.match(self.name) or PurePath(self.name).name != self.name:
            raise ValueError(f"weight file name {self.name!r} must be a plain file name (letters, digits, ._+@-)")
        object.__setattr__(self, "urls", tuple(self.urls))
        if self.sha256 is not None:
            object.__setattr__(self, "sha256", self.sha256.lower())
            if not _SHA256.match(self.sha256):
                raise ValueError(f"weight file '{self.name}': sha256 must be 64 hex digits")
        if self.size is not None and self.size < 0:
            raise ValueError(f"weight file '{self.name}': size must not be negative")
        if self.shipped is not None:
            object.__setattr__(self, "shipped", Path(self.shipped))
        if not self.format:
            object.__setattr__(self, "format", _FORMATS.get(PurePath(self.name).suffix.lower(), "binary"))


@dataclass(frozen=True)
class WeightEntry:
    """A named model: its kind (``clip``, ``vqgan``, ``dvae``…), its files, and what loading it needs.

    A name served by open_clip's own pretrained mechanism sets ``open_clip=(model, tag)`` and lists no
    files: open_clip downloads it into the Hugging Face hub cache.
    """

    name: str
    kind: str
    description: str = ""
    files: tuple[WeightFile, ...] = ()
    open_clip: tuple[str, str] | None = None
    #: preprocessing a perceptor needs (image_size, mean, std, interpolation…)
    preprocess: Mapping[str, Any] = field(default_factory=dict)
    #: anything else the loading plugin needs (a VQGAN's factor and codebook size, say)
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: other names users know it by (Pixray's and VQGAN-CLIP's)
    aliases: tuple[str, ...] = ()
    #: the plugin that registered it (filled in by the registry)
    plugin: str = ""

    def __post_init__(self) -> None:
        if not self.name or not self.kind:
            raise ValueError("a weight entry needs a name and a kind")
        # name and kind become folders under PIXFORGE_CACHE: nothing in them may lead outside it
        if not isinstance(self.kind, str) or not _KIND.match(self.kind):
            raise ValueError(f"weight entry kind {self.kind!r} must be lower-case letters, digits, _ or -")
        parts = self.name.split("/") if isinstance(self.name, str) else [""]
        if not all(_PART.match(part) for part in parts) or (len(parts) > 1 and self.open_clip is None):
            raise ValueError(
                f"weight entry name {self.name!r} must be letters, digits and ._+@- (a '/' only in an open_clip "
                "tag's name), without '..', backslashes or a URL scheme"
            )
        for alias in self.aliases:
            if not isinstance(alias, str) or not all(_PART.match(part) for part in alias.split("/")):
                raise ValueError(f"weight entry '{self.name}': alias {alias!r} is not a plain name")
        object.__setattr__(self, "files", tuple(self.files))
        object.__setattr__(self, "aliases", tuple(self.aliases))
        object.__setattr__(self, "preprocess", MappingProxyType(dict(self.preprocess)))
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError(f"weight entry '{self.name}' lists a file name twice")
        if self.open_clip is not None:
            object.__setattr__(self, "open_clip", tuple(self.open_clip))
            if len(self.open_clip) != 2 or self.files:
                raise ValueError(f"weight entry '{self.name}': open_clip=(model, tag) entries list no files")
        elif not self.files:
            raise ValueError(f"weight entry '{self.name}' has no files and no open_clip source")
        for file in self.files:
            if file.shipped is None and not file.urls:
                raise ValueError(f"weight entry '{self.name}': file '{file.name}' has neither urls nor shipped")
            for url in file.urls:  # file://, ftp:// or a bare path would read from anywhere on this machine
                if not isinstance(url, str) or not url.lower().startswith(_URL_SCHEMES):
                    raise ValueError(f"weight entry '{self.name}': file '{file.name}': url {url!r} must be http(s)://")

    def file(self, name: str) -> WeightFile:
        """The file called ``name``; a KeyError lists the entry's files."""
        for file in self.files:
            if file.name == name:
                return file
        names = ", ".join(f.name for f in self.files)
        raise KeyError(f"weight entry '{self.name}' has no file '{name}' (it has: {names})")

    @property
    def shipped(self) -> bool:
        """Whether every file ships inside an installed package (nothing to download)."""
        return bool(self.files) and all(f.shipped is not None for f in self.files)

    @property
    def size(self) -> int | None:
        """The total size in bytes, when every file's size is known."""
        sizes = [f.size for f in self.files if f.size is not None]
        return sum(sizes) if self.files and len(sizes) == len(self.files) else None
