"""The README's filters picture (``docs/filters.png``): one prompt plain, with a palette, as a 2×2 tiling of a tile,
and with p4m wallpaper symmetry, all with the default preset and one seed.

    python bench/filters_sheet.py                 # writes docs/filters.png (about a minute on one thread)
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

PROMPT = "a red circle on a blue background"
#: caption → the render's keyword arguments
PANELS: dict[str, dict] = {
    "plain": {},
    "--palette 'navy,red,#ffd0a0'": {"palette": "navy,red,#ffd0a0"},
    "--tile (2x2)": {"tile": True},
    "wallpaper p4m": {"filters": [{"name": "wallpaper", "settings": {"symmetry": "p4m", "cells": 2}}]},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--side", type=int, default=128, help="pixels a panel")
    parser.add_argument("--out", type=Path, default=Path("docs/filters.png"))
    parser.add_argument("--work", type=Path, default=Path("bench-out/filters_sheet"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    pipe = Pipeline()
    side, caption = args.side, 14
    sheet = Image.new("RGB", (side * len(PANELS), side + caption), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (label, values) in enumerate(PANELS.items()):
        folder = args.work / f"panel-{index}"
        shutil.rmtree(folder, ignore_errors=True)  # a finished layout left there would be reused, not redrawn
        result = pipe.render(PROMPT, seed=args.seed, out=folder, **values)
        picture = result.image.convert("RGB")
        if values.get("tile"):
            tiled = Image.new("RGB", (picture.width * 2, picture.height * 2))
            for x in (0, picture.width):
                for y in (0, picture.height):
                    tiled.paste(picture, (x, y))
            picture = tiled
        sheet.paste(picture.resize((side, side), Image.LANCZOS), (index * side, caption))
        draw.text((index * side + 3, 1), label, fill="black")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(f"{args.out}: {PROMPT!r}, seed {args.seed}, default preset, {len(PANELS)} panels of {side} px")


if __name__ == "__main__":
    main()
