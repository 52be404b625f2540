"""The README's filter pictures, all with the default preset and one seed each:

- ``docs/filters.png``: one prompt plain, with a palette, as a 2×2 tiling of a tile, and with p4m symmetry;
- ``docs/symmetries.png``: another prompt under each ``wallpaper`` symmetry, whole-picture ones and wallpaper
  groups of 2×2 cells (whose layout draws one cell).

    python bench/filters_sheet.py                     # both (about five minutes on one thread)
    python bench/filters_sheet.py --only symmetries
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from pixforge import Pipeline  # noqa: E402

#: sheet → (prompt, seed, pixels a panel, caption → the render's keyword arguments)
SHEETS: dict[str, tuple[str, int, int, dict[str, dict]]] = {
    "filters": ("a red circle on a blue background", 3, 128, {
        "plain": {},
        "--palette 'navy,red,#ffd0a0'": {"palette": "navy,red,#ffd0a0"},
        "--tile (2x2)": {"tile": True},
        "wallpaper p4m": {"filters": [{"name": "wallpaper", "settings": {"symmetry": "p4m", "cells": 2}}]},
    }),
    "symmetries": ("a red ring on a white background", 0, 96, {
        name: {"wallpaper": name} for name in ("mirror_x", "mirror_xy", "rot4", "p2", "pmm", "p4", "p4m")
    }),
}


def tiled_twice(picture: Image.Image) -> Image.Image:
    """``picture`` as a 2×2 tiling, where a seam would show."""
    tiled = Image.new("RGB", (picture.width * 2, picture.height * 2))
    for x in (0, picture.width):
        for y in (0, picture.height):
            tiled.paste(picture, (x, y))
    return tiled


def draw_sheet(pipe: Pipeline, name: str, docs: Path, work: Path) -> None:
    """Render one sheet's panels, each in a fresh folder, and write ``docs/<name>.png``."""
    prompt, seed, side, panels = SHEETS[name]
    caption = 14
    sheet = Image.new("RGB", (side * len(panels), side + caption), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (label, values) in enumerate(panels.items()):
        folder = work / name / f"panel-{index}"
        shutil.rmtree(folder, ignore_errors=True)  # a finished layout left there would be reused, not redrawn
        picture = pipe.render(prompt, seed=seed, out=folder, **values).image.convert("RGB")
        if values.get("tile"):
            picture = tiled_twice(picture)
        sheet.paste(picture.resize((side, side), Image.LANCZOS), (index * side, caption))
        draw.text((index * side + 3, 1), label, fill="black")
    out = docs / f"{name}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, optimize=True)
    print(f"{out}: {prompt!r}, seed {seed}, default preset, {len(panels)} panels of {side} px")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(SHEETS), help="one sheet (default: both)")
    parser.add_argument("--docs", type=Path, default=Path("docs"))
    parser.add_argument("--work", type=Path, default=Path("bench-out/filters_sheet"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    pipe = Pipeline()
    for name in [args.only] if args.only else list(SHEETS):
        draw_sheet(pipe, name, args.docs, args.work)


if __name__ == "__main__":
    main()
