"""How often a preset's render shows a world prompt's colours where they belong, judged without a model.

Renders ten colour/shape/background prompts of the synthetic world at a few seeds with a preset and
applies ``pixforge_zoo.judge.colour_check`` (border band = background colour, most common inner colour =
shape colour) to each final image. Prints one line per render, the pass count and the time per render,
and writes a strip of all renders.

    python bench/render_quality.py                       # default preset, seeds 0-3
    python bench/render_quality.py --preset dvae --seeds 0,1 --set steps=60
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from pixforge import Pipeline
from pixforge_zoo.judge import colour_check
from pixforge_zoo.world import to_pil

PROMPTS: tuple[tuple[str, str, str], ...] = (
    ("red", "circle", "blue"),
    ("yellow", "square", "black"),
    ("green", "triangle", "white"),
    ("white", "star", "purple"),
    ("blue", "ring", "yellow"),
    ("orange", "cross", "cyan"),
    ("pink", "circle", "green"),
    ("black", "square", "orange"),
    ("cyan", "triangle", "red"),
    ("purple", "star", "white"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--seeds", default="0,1,2,3", help="comma-separated seeds")
    parser.add_argument("--prompts", type=int, default=len(PROMPTS), help="use the first N prompts")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="KEY=VALUE, repeatable")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench-out/render_quality"))
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    pipe = Pipeline()
    passed, tiles, started = 0, [], time.perf_counter()
    for colour, shape, background in PROMPTS[: args.prompts]:
        for seed in seeds:
            prompt = f"a {colour} {shape} on a {background} background"
            run = args.out / Path(args.preset).stem / f"{colour}-{shape}-{background}-{seed}"
            result = pipe.render(prompt, args.preset, overrides=args.overrides, seed=seed, out=run)
            verdict = colour_check(result.tensor, colour, background)
            passed += verdict.passed
            tiles.append(result.tensor[0])
            print(f"{prompt:42s} seed {seed}  {'PASS' if verdict.passed else 'fail'}  border={verdict.border} "
                  f"inner={verdict.foreground} share={verdict.shape_share:.2f}", flush=True)
    per_render = (time.perf_counter() - started) / len(tiles)
    print(f"preset {args.preset} {' '.join(args.overrides)}: {passed}/{len(tiles)} passed, "
          f"{per_render:.1f} s per render, {torch.get_num_threads()} thread(s)")
    strip = args.out / f"{Path(args.preset).stem}.png"
    to_pil(torch.cat(tiles, dim=-1)).save(strip)
    print(f"strip: {strip}")


if __name__ == "__main__":
    main()
