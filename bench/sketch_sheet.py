"""The README's pictures for the sketch preset and staged renders.

Top row: the ``sketch`` preset (black Bézier strokes on white, the robust tiny CLIP) on a few of the tiny
world's prompts; bottom row: one staged render of the default preset, each stage's final picture
(64 → 128 → 256 px). Also copies the first sketch's ``final.svg`` to docs/sketch.svg.

    python bench/sketch_sheet.py            # writes docs/sketch-stages.png and docs/sketch.svg
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from pixforge import Pipeline  # noqa: E402
from pixforge.outputs import load_image  # noqa: E402
from pixforge.sheet import contact_sheet  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs"
PROMPTS = ["a black star", "a black circle", "a black cross"]
STAGED_PROMPT = "a red circle on a blue background"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stages", default="64:40,128:24,256:16")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    pipe = Pipeline()
    images, captions = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for index, prompt in enumerate(PROMPTS):
            result = pipe.render(prompt, "sketch", seed=args.seed, out=Path(tmp) / f"sketch-{index}")
            images.append(result.image)
            captions.append(f"sketch: {prompt}")
            if index == 0:
                shutil.copyfile(result.run_dir / "final.svg", DOCS / "sketch.svg")
        staged = pipe.render(STAGED_PROMPT, "default", seed=args.seed, stages=args.stages, out=Path(tmp) / "staged")
        for stage in staged.extras["stages"]:
            images.append(load_image(Path(stage["run_dir"]) / "final.png"))
            captions.append(f"stage {stage['size'][0]} px, {stage['steps']} steps")
        sheet = contact_sheet(images, captions, title=f"sketch preset; staged default '{STAGED_PROMPT}' "
                              f"({args.stages}), seed {args.seed}", tile=160, columns=3)
    sheet.save(DOCS / "sketch-stages.png")
    print(f"wrote {DOCS / 'sketch-stages.png'} and {DOCS / 'sketch.svg'} in {time.perf_counter() - started:.0f} s "
          f"(torch threads {args.threads}, load average {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
