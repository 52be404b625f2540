"""Palette specs (``--palette``): colour names, hex, ramps and images → an ``[K, 3]`` tensor of colours in 0..1.

A spec is items separated by commas: a CSS colour name (``red``, ``navy``: PIL's table), hex (``#102030``
or ``#123``), a ramp of evenly spaced colours between stops (``black->red\\8``, ``navy->white->gold\\12``),
or a picture and how many colours to take from it by k-means (``photo.png:6``). ``check_spec`` reads the
text without touching images, so a bad spec fails before any model loads; ``parse_palette`` builds it.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from PIL import ImageColor

from pixforge.errors import ConfigError, closest
from pixforge.files import is_regular

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
#: what a palette item may be, for error messages
VALID = "a CSS colour name (red, navy…), hex #rrggbb or #rgb, a ramp a->b\\N or an image file.png:K"
#: most colours a palette may have (a ramp's count, an image's K)
MAX_COLORS = 256
#: longest side an image is shrunk to before k-means (enough pixels for a handful of colours)
KMEANS_SIDE = 96
KMEANS_ITERATIONS = 25

_HEX = re.compile(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_RAMP_COUNT = re.compile(r"(.*)\\(\d+)")
_IMAGE = re.compile(r"(.+?)(?::(\d+))?")


def split_items(spec: str | list[str]) -> list[str]:
    """A spec's items: a string is split at commas; a list (as a preset writes it) is taken as it is."""
    items = spec.split(",") if isinstance(spec, str) else [str(item) for item in spec]
    items = [item.strip() for item in items if item.strip()]
    if not items:
        raise ConfigError(f"palette {spec!r} is empty; give one or more items: {VALID}")
    return items


def _colour(text: str, spec: str) -> tuple[float, float, float]:
    """One colour name or hex code → RGB in 0..1."""
    if text.startswith("#"):
        if not _HEX.fullmatch(text):
            raise ConfigError(f"palette {spec!r}: bad hex colour {text!r}; write #rrggbb or #rgb (e.g. #102030)")
    elif text.lower() not in ImageColor.colormap:
        guess = closest(text.lower(), ImageColor.colormap)
        hint = f"did you mean '{guess}'? " if guess else ""
        raise ConfigError(f"palette {spec!r}: unknown colour name {text!r}; {hint}an item is {VALID}")
    r, g, b = ImageColor.getrgb(text)[:3]
    return (r / 255, g / 255, b / 255)


def _ramp(item: str, spec: str) -> list[tuple[float, float, float]]:
    """``a->b\\N``: N colours evenly spaced from stop to stop (the stops included)."""
    match = _RAMP_COUNT.fullmatch(item)
    if match is None:
        raise ConfigError(f"palette {spec!r}: ramp {item!r} needs a count, as in black->red\\8")
    stops_text, count = match.group(1), int(match.group(2))
    stops = [part.strip() for part in stops_text.split("->")]
    if len(stops) < 2 or not all(stops):
        raise ConfigError(f"palette {spec!r}: ramp {item!r} needs two or more colours between '->', as in black->red\\8")
    if not len(stops) <= count <= MAX_COLORS:
        raise ConfigError(f"palette {spec!r}: ramp {item!r} needs a count from {len(stops)} to {MAX_COLORS}")
    colours = torch.tensor([_colour(stop, spec) for stop in stops])
    where = torch.linspace(0, len(stops) - 1, count)
    low = where.floor().long().clamp(max=len(stops) - 2)
    frac = (where - low).unsqueeze(1)
    ramp = colours[low] * (1 - frac) + colours[low + 1] * frac
    return [tuple(row) for row in ramp.tolist()]


def _image_item(item: str) -> tuple[Path, int] | None:
    """``photo.png:6`` → (path, 6); ``photo.png`` → (path, 8); anything not naming an image file → None."""
    match = _IMAGE.fullmatch(item)
    if match is None or not match.group(1).lower().endswith(IMAGE_SUFFIXES):
        return None
    return Path(match.group(1)).expanduser(), int(match.group(2) or 8)


def check_item(item: str, spec: str) -> None:
    """Raise a one-line ConfigError if ``item`` is not a valid palette item (images: only that the file is there)."""
    if "->" in item:
        _ramp(item, spec)
        return
    image = _image_item(item)
    if image is not None:
        path, count = image
        if not path.exists():
            raise ConfigError(f"palette {spec!r}: image '{path}' does not exist; give an image file as file.png:K")
        if not is_regular(path):
            raise ConfigError(f"palette {spec!r}: '{path}' is not a regular file; give an image file as file.png:K")
        if not 1 <= count <= MAX_COLORS:
            raise ConfigError(f"palette {spec!r}: image {item!r} asks for {count} colours; give 1 to {MAX_COLORS}")
        return
    if ":" in item and not item.startswith("#"):
        raise ConfigError(f"palette {spec!r}: {item!r} is not an image file ({', '.join(IMAGE_SUFFIXES)}); {VALID}")
    _colour(item, spec)


def check_spec(spec: str | list[str]) -> list[str]:
    """The spec's items, each checked (a missing image included), without reading any image."""
    items = split_items(spec)
    for item in items:
        check_item(item, str(spec))
    return items


def parse_palette(spec: str | list[str], seed: int = 0) -> torch.Tensor:
    """The palette as ``[K, 3]`` colours in 0..1, in spec order, duplicates removed; images by seeded k-means."""
    from pixforge.outputs import load_image, pil_to_tensor

    colours: list[tuple[float, ...]] = []
    for item in check_spec(spec):
        image = _image_item(item) if "->" not in item else None
        if "->" in item:
            colours.extend(_ramp(item, str(spec)))
        elif image is not None:
            picture = load_image(str(image[0]), "palette image")
            picture.thumbnail((KMEANS_SIDE, KMEANS_SIDE))
            pixels = pil_to_tensor(picture.convert("RGB"))[0].flatten(1).T
            colours.extend(tuple(row) for row in kmeans(pixels, image[1], seed).tolist())
        else:
            colours.append(_colour(item, str(spec)))
    palette = torch.tensor(colours, dtype=torch.float32)
    keep = [i for i in range(len(palette)) if not any(torch.equal(palette[i], palette[j]) for j in range(i))]
    return palette[keep]


def kmeans(points: torch.Tensor, k: int, seed: int = 0, iterations: int = KMEANS_ITERATIONS) -> torch.Tensor:
    """``k`` cluster centres of ``points`` ``[N, D]`` (k-means++ start from a seeded generator, then Lloyd
    steps), sorted by brightness so a palette reads dark to light; fewer when there are fewer distinct points."""
    distinct = torch.unique(points, dim=0)
    k = min(k, len(distinct))
    generator = torch.Generator().manual_seed(seed)
    centres = distinct[torch.randint(len(distinct), (1,), generator=generator)]
    while len(centres) < k:
        weight = torch.cdist(distinct, centres).min(dim=1).values.pow(2)
        chosen = torch.multinomial(weight / weight.sum(), 1, generator=generator)
        centres = torch.cat([centres, distinct[chosen]])
    for _ in range(iterations):
        label = torch.cdist(points, centres).argmin(dim=1)
        sums = torch.zeros_like(centres).index_add_(0, label, points)
        counts = torch.bincount(label, minlength=k).unsqueeze(1)
        centres = torch.where(counts > 0, sums / counts.clamp(min=1), centres)
    return centres[centres.sum(dim=1).argsort()]
