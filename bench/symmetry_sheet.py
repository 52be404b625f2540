"""The README's symmetry picture (``docs/symmetries.png``): one prompt under each `wallpaper` symmetry, default
preset, one seed: whole-picture symmetries and wallpaper groups of 2×2 cells (whose layout draws one cell).

    python bench/symmetry_sheet.py              # writes docs/symmetries.png (about three minutes on one thread)
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

PROMPT = "a red ring on a white background"
SYMMETRIES = ("mirror_x", "mirror_xy", "rot4", "p2", "pmm", "p4", "p4m")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--side", type=int, default=96, help="pixels a panel")
    parser.add_argument("--out", type=Path, default=Path("docs/symmetries.png"))
    parser.add_argument("--work", type=Path, default=Path("bench-out/symmetry_sheet"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    pipe = Pipeline()
    side, caption = args.side, 14
    sheet = Image.new("RGB", (side * len(SYMMETRIES), side + caption), "white")
    draw = ImageDraw.Draw(sheet)
    for index, symmetry in enumerate(SYMMETRIES):
        folder = args.work / symmetry
        shutil.rmtree(folder, ignore_errors=True)  # a finished layout left there would be reused, not redrawn
        result = pipe.render(PROMPT, seed=args.seed, out=folder, wallpaper=symmetry)
        sheet.paste(result.image.convert("RGB").resize((side, side), Image.LANCZOS), (index * side, caption))
        draw.text((index * side + 3, 1), symmetry, fill="black")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(f"{args.out}: {PROMPT!r}, seed {args.seed}, default preset, {len(SYMMETRIES)} panels of {side} px")


if __name__ == "__main__":
    main()
