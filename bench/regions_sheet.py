"""The README's region-prompt and transparency sheet: a few region renders and a --transparent one.

Region tiles are renders with the ``regions`` preset and no global prompt; the transparent tiles show the
RGBA final.png over a checkerboard and its alpha channel alone.

    python bench/regions_sheet.py                # writes docs/regions-transparency.png
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from pixforge import Pipeline  # noqa: E402
from pixforge.sheet import contact_sheet  # noqa: E402

REGIONS = (
    ("left=a red background", "right=a blue background"),
    ("top=a yellow background", "bottom=a green background"),
    ("centre=a white background", "border=a black background"),
)


def checkerboard(size: tuple[int, int], cell: int = 8) -> Image.Image:
    """The usual grey checkerboard that shows where a picture is transparent."""
    width, height = size
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    light = ((ys // cell + xs // cell) % 2 == 0).numpy()
    board = Image.new("RGB", size, (200, 200, 200))
    board.paste((245, 245, 245), mask=Image.fromarray((light * 255).astype("uint8"), "L"))
    return board


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("docs/regions-transparency.png"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipe = Pipeline()
    images, captions = [], []
    for regions in REGIONS:
        started = time.perf_counter()
        result = pipe.render("", "regions", seed=args.seed, prompts={"regions": list(regions)},
                             out=Path("bench-out/regions_sheet") / regions[0].split("=")[0])
        print(f"{' + '.join(regions):60s} {time.perf_counter() - started:5.1f} s", flush=True)
        images.append(result.image)
        captions.append("\n".join(r.replace("=a ", ": ").replace(" background", "") for r in regions))
    started = time.perf_counter()
    result = pipe.render("a red circle", "default", seed=args.seed, transparency={"enabled": True},
                         out=Path("bench-out/regions_sheet/transparent"))
    print(f"{'transparent: a red circle':60s} {time.perf_counter() - started:5.1f} s", flush=True)
    rgba = result.image
    over = checkerboard(rgba.size)
    over.paste(rgba, mask=rgba.getchannel("A"))
    images += [over, rgba.getchannel("A").convert("RGB")]
    alpha = float(result.tensor[0, 3].mean())
    captions += ["--transparent\na red circle", f"its alpha\nmean {alpha:.0%}"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet = contact_sheet(images, captions, tile=128, columns=len(images),
                          title=f"region prompts (preset regions) and --transparent (seed {args.seed})")
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB), {args.threads} thread(s)")


if __name__ == "__main__":
    main()
