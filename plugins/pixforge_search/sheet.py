"""Contact sheets of search results: thumbnails read from disk, captioned with rank, score and name."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from pixforge.errors import ConfigError
from pixforge.outputs import open_image, save_png
from pixforge.sheet import contact_sheet as layout

MISSING = (200, 200, 200)


def _picture(path: Path) -> Image.Image:
    """The image at ``path``, or a grey placeholder if it changed or vanished since indexing."""
    try:
        return open_image(path).convert("RGB")
    except Exception:
        return Image.new("RGB", (16, 16), MISSING)


def contact_sheet(
    items: Sequence[tuple[Path, str]],
    out: Path,
    *,
    title: str | None = None,
    thumb: int = 160,
    columns: int | None = None,
) -> Path:
    """Write a grid of ``(image path, caption)`` thumbnails (captions may have several lines) to ``out``."""
    if not items:
        raise ConfigError("no results to put on a contact sheet")
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ConfigError(f"contact sheet '{out}' must be a .png file")
    sheet = layout(
        [_picture(Path(path)) for path, _ in items], [caption for _, caption in items],
        title=title, tile=thumb, columns=columns,
    )
    save_png(out, sheet)
    return out
