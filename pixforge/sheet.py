"""Contact sheets: a grid of images with a caption under each, as one PNG."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont


def contact_sheet(
    images: Sequence[Image.Image], captions: Sequence[str], tile: int = 128, columns: int | None = None
) -> Image.Image:
    """Lay ``images`` out in a grid of ``tile``-pixel squares with a caption line under each."""
    if len(images) != len(captions):
        raise ValueError("contact_sheet needs one caption per image")
    count = max(1, len(images))
    columns = columns or min(count, max(1, math.ceil(math.sqrt(count))))
    rows = math.ceil(count / columns)
    font = ImageFont.load_default()
    line = 14
    pad = 4
    sheet = Image.new("RGB", (columns * (tile + pad) + pad, rows * (tile + line + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (image, caption) in enumerate(zip(images, captions)):
        x = pad + (index % columns) * (tile + pad)
        y = pad + (index // columns) * (tile + line + pad)
        thumb = image.convert("RGB").copy()
        thumb.thumbnail((tile, tile))
        sheet.paste(thumb, (x + (tile - thumb.width) // 2, y + (tile - thumb.height) // 2))
        text = caption
        while text and draw.textlength(text, font=font) > tile:
            text = text[:-2] + "…" if len(text) > 2 else ""
        draw.text((x, y + tile + 1), text, fill="black", font=font)
    return sheet
