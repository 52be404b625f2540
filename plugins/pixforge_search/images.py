"""Finding images (files, folders, globs), loading them into model-sized tensors, reporting bad ones.

A file that cannot be read or decoded becomes a ``LoadFailure`` instead of an exception: one corrupt
image must never stop a run over thousands.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PIL import Image

from pixforge.errors import ConfigError
from pixforge.files import is_regular, printable
from pixforge.outputs import open_image

#: the suffixes a folder walk picks up (an image named explicitly is tried whatever its suffix)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"})

T = TypeVar("T")
#: why a FIFO, socket or device named like an image is skipped
NOT_REGULAR = "not a regular file (a FIFO, socket or device); skipped"


@dataclass(frozen=True)
class LoadFailure:
    """An image that was skipped, and why."""

    path: Path
    error: str


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def walk_images(
    root: Path, exclude: Path | None = None, on_skip: Callable[[LoadFailure], None] | None = None
) -> list[Path]:
    """Every image file under ``root`` (recursively, sorted), leaving out hidden names and ``exclude``.

    A FIFO, socket or device with an image's name is skipped (``on_skip`` hears of it): reading one
    would block for ever.
    """
    skip = exclude.resolve() if exclude is not None else None
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() != skip)
        for name in sorted(files):
            path = here / name
            if name.startswith(".") or not is_image_name(path):
                continue
            if is_regular(path):
                found.append(path)
            elif on_skip is not None:
                on_skip(LoadFailure(path, NOT_REGULAR))
    return found


def find_images(
    inputs: Sequence[str | Path], on_skip: Callable[[LoadFailure], None] | None = None
) -> list[Path]:
    """Files, folders (walked recursively) and glob patterns → image paths, in order, without repeats.

    Non-regular files (FIFOs, devices) are skipped and reported to ``on_skip``.
    """
    found: dict[Path, None] = {}
    for item in inputs:
        text = str(item)
        path = Path(text).expanduser()
        if path.is_dir():
            matches = walk_images(path, on_skip=on_skip)
        elif path.exists():
            if not is_regular(path):
                if on_skip is None:
                    raise ConfigError(f"'{printable(text)}' is not a regular file (a FIFO, socket or device)")
                on_skip(LoadFailure(path, NOT_REGULAR))
                continue
            matches = [path]
        elif glob.has_magic(text):
            hits = sorted(Path(p) for p in glob.glob(os.path.expanduser(text), recursive=True))
            matches = []
            for hit in hits:
                if hit.is_dir():
                    matches += walk_images(hit, on_skip=on_skip)
                elif is_image_name(hit) and is_regular(hit):
                    matches.append(hit)
                elif is_image_name(hit) and on_skip is not None:
                    on_skip(LoadFailure(hit, NOT_REGULAR))
        else:
            raise ConfigError(f"no such file or folder: '{printable(text)}'")
        if not matches:
            raise ConfigError(f"'{printable(text)}' holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        found.update(dict.fromkeys(matches))
    return list(found)


def to_square_tensor(picture: Image.Image, size: int) -> torch.Tensor:
    """CLIP's preprocessing: shorter side to ``size`` (bicubic), centre crop, ``[3, size, size]`` in 0..1."""
    picture = picture.convert("RGB")
    width, height = picture.size
    scale = size / min(width, height)
    resized = picture.resize(
        (max(size, round(width * scale)), max(size, round(height * scale))), Image.Resampling.BICUBIC
    )
    left = (resized.width - size) // 2
    top = (resized.height - size) // 2
    square = resized.crop((left, top, left + size, top + size))
    array = np.asarray(square, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def load_image(path: Path, size: int) -> torch.Tensor:
    """One image file as ``[3, size, size]`` in 0..1; raises whatever reading or decoding raises (a
    non-regular file or one over ``pixforge.outputs.MAX_PIXELS`` is a ValueError, before any decoding)."""
    return to_square_tensor(open_image(path), size)


def load_batch(
    sources: Sequence[Path | Image.Image], size: int
) -> tuple[torch.Tensor, list[int], list[LoadFailure]]:
    """Load files (or take in-memory PIL images); returns the stacked images, the positions in
    ``sources`` that loaded, and the failures."""
    tensors: list[torch.Tensor] = []
    loaded: list[int] = []
    failures: list[LoadFailure] = []
    for position, source in enumerate(sources):
        try:
            if isinstance(source, Image.Image):
                tensors.append(to_square_tensor(source, size))
            else:
                tensors.append(load_image(source, size))
            loaded.append(position)
        except Exception as exc:  # any decoder error: report the file, keep going
            failures.append(LoadFailure(_name(source, position), describe_error(exc)))
    images = torch.stack(tensors) if tensors else torch.zeros(0, 3, size, size)
    return images, loaded, failures


def _name(source: Path | Image.Image, position: int) -> Path:
    if isinstance(source, Image.Image):
        return Path(getattr(source, "filename", "") or f"<image {position}>")
    return Path(source)


def describe_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most ``size`` items."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
