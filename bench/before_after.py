"""The before/after contact sheet in the README: the old embedded default against the new one, same prompts and seeds.

"Before" is the default preset as it was before the robust tiny CLIP (the clean tiny CLIP steering the tiny
VQGAN at 64 px, kept here as data); "after" is today's ``default`` preset. Each tile is captioned with
the analytic shape check's verdict.

    python bench/before_after.py                 # writes docs/before-after.png
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from pixforge import Pipeline  # noqa: E402
from pixforge.sheet import contact_sheet  # noqa: E402
from pixforge_zoo.shape_judge import shape_check  # noqa: E402
from pixforge_zoo.world import to_pil  # noqa: E402

#: the embedded default before the robust CLIP (presets/default.yaml at that time)
BEFORE = {
    "description": "The embedded default before the robust tiny CLIP",
    "size": [64, 64], "steps": 80, "save_every": 0,
    "generator": {"name": "vqgan", "settings": {"model": "tiny", "init": "random_codes"}},
    "perceptors": [{"name": "clip", "weight": 1.0, "settings": {"model": "pixforge-tiny-clip"}}],
    "losses": [{"name": "clip_prompt", "weight": 1.0}, {"name": "smoothness", "weight": 1.0}],
    "augmentations": [{"name": "affine"}],
    "cutouts": {"count": 16, "cut_pow": 1.0, "min_size": 0.8, "mode": "mixed"},
    "optimizer": {"name": "adam", "lr": 0.1, "drops": [0.75]},
    "observers": [{"name": "loss_log"}],
}
PROMPTS = (
    ("red", "circle", "blue"), ("yellow", "square", "black"), ("green", "triangle", "white"),
    ("blue", "ring", "yellow"), ("orange", "cross", "cyan"), ("white", "star", "purple"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("docs/before-after.png"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipe = Pipeline()
    images, captions = [], []
    for label, preset in (("before", BEFORE), ("after", "default")):
        for colour, shape, background in PROMPTS:
            prompt = f"a {colour} {shape} on a {background} background"
            started = time.perf_counter()
            result = pipe.render(prompt, preset, seed=args.seed, out=Path("bench-out/before_after") / label / shape)
            verdict = shape_check(result.tensor, shape, colour, background)
            print(f"{label:6s} {prompt:44s} {'PASS' if verdict.passed else 'fail'}  {time.perf_counter() - started:5.1f} s"
                  f"  {verdict.reason}", flush=True)
            images.append(to_pil(result.tensor))
            captions.append(f"{label}: {'pass' if verdict.passed else 'fail'}\n{colour} {shape} / {background}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet = contact_sheet(images, captions, tile=128, columns=len(PROMPTS),
                          title=f"embedded default before / after the robust tiny CLIP (seed {args.seed})")
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB), {args.threads} thread(s)")


if __name__ == "__main__":
    main()
