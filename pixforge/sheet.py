"""Contact sheets: a grid of images with captions (one or more lines each) under them, as one image."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)

Font = ImageFont.ImageFont | ImageFont.FreeTypeFont


def _font(size: int) -> Font:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def fit_text(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> str:
    """``text`` shortened with an ellipsis in the middle until it fits ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    keep = len(text)
    while keep > 4:
        keep -= 1
        short = text[: keep // 2] + "…" + text[len(text) - (keep - keep // 2) :]
        if draw.textlength(short, font=font) <= width:
            return short
    return text[:4]


def fit_tile(picture: Image.Image, side: int) -> Image.Image:
    """The picture fitted into a ``side`` square (aspect kept); small pictures grow crisply (nearest)."""
    tile = Image.new("RGB", (side, side), BACKGROUND)
    picture = picture.convert("RGB")
    picture.thumbnail((side, side), Image.Resampling.LANCZOS)
    if picture.width < side and picture.height < side:
        scale = side / max(picture.size)
        picture = picture.resize((round(picture.width * scale), round(picture.height * scale)), Image.Resampling.NEAREST)
    tile.paste(picture, ((side - picture.width) // 2, (side - picture.height) // 2))
    return tile


def contact_sheet(
    images: Sequence[Image.Image],
    captions: Sequence[str],
    *,
    title: str | None = None,
    tile: int = 160,
    columns: int | None = None,
) -> Image.Image:
    """Lay ``images`` out in a grid of ``tile``-pixel squares, each with its caption (lines split on \\n)."""
    if len(images) != len(captions):
        raise ValueError("contact_sheet needs one caption per image")
    font = _font(max(10, tile // 12))
    line = int(font.getbbox("Ag")[3]) + 4
    caption_lines = max((len(c.splitlines()) or 1 for c in captions), default=1)
    columns = max(1, columns or min(max(len(images), 1), 5))
    rows = max(1, math.ceil(len(images) / columns))
    pad = 8
    head = line + pad if title else 0
    cell_w, cell_h = tile + pad, tile + caption_lines * line + pad
    sheet = Image.new("RGB", (pad + columns * cell_w, pad + head + rows * cell_h), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((pad, pad), fit_text(draw, title, font, sheet.width - 2 * pad), fill=INK, font=font)
    for number, (picture, caption) in enumerate(zip(images, captions)):
        x = pad + (number % columns) * cell_w
        y = pad + head + (number // columns) * cell_h
        sheet.paste(fit_tile(picture, tile), (x, y))
        for row, text in enumerate(caption.splitlines()):
            draw.text((x, y + tile + 2 + row * line), fit_text(draw, text, font, tile), fill=INK, font=font)
    return sheet
