"""Does a preset draw the prompt? The named shape, in the named colour, on the named background, judged without a model.

Renders a fixed prompt set of the synthetic world (``pixforge_zoo.prompt_sets``: the 60-prompt held-out
set, ten per shape, or the 18-prompt tuning set) at a few seeds, applies
``pixforge_zoo.shape_judge.shape_check`` to each final image and prints one line per render, the
per-shape table, the pass rate, seconds per render and the thread count, and writes a contact sheet.
Renders run in ``--workers`` processes of ``--threads`` torch threads each.

    python bench/render_shapes.py                              # default preset, held-out set, seeds 0,1
    python bench/render_shapes.py --preset pixels --set steps=60 --prompts tuning
    python bench/render_shapes.py --candidates 4               # best-of-4 by CLIP: first pick vs a random pick
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402


def _start(threads: int) -> None:
    torch.set_num_threads(threads)


@lru_cache(maxsize=1)
def _pipeline():
    """One Pipeline per worker process: models load once per worker."""
    from pixforge import Pipeline

    return Pipeline()


def _render(job: tuple) -> dict:
    from pixforge_zoo.shape_judge import shape_check

    prompt, seed, preset, overrides, out, candidates = job
    started = time.perf_counter()
    result = _pipeline().render(prompt.text, preset, overrides=overrides, seed=seed, out=out, candidates=candidates)
    seconds = time.perf_counter() - started
    verdict = shape_check(result.tensor, prompt.shape, prompt.colour, prompt.background)
    row = {"prompt": prompt, "seed": seed, "seconds": seconds, "passed": verdict.passed, "reason": verdict.reason,
           "image": result.tensor[0].clone()}
    if candidates > 1:
        # every candidate judged: does the CLIP's first pick pass more often than a random one?
        from pixforge.outputs import load_image, pil_to_tensor

        files = sorted(p for p in Path(out).glob("candidates/*/final.png") if p.parent.name != "batch")
        verdicts = []
        for path in files:
            tensor = pil_to_tensor(load_image(path))
            verdicts.append(shape_check(tensor, prompt.shape, prompt.colour, prompt.background).passed)
        row["candidate_passes"] = verdicts
    return row


def main() -> None:
    from pixforge_zoo.prompt_sets import held_out_prompts, tuning_prompts
    from pixforge_zoo.world import to_pil

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--prompts", choices=("held-out", "tuning"), default="held-out")
    parser.add_argument("--per-shape", type=int, default=None, help="prompts per shape (default: the whole set)")
    parser.add_argument("--seeds", default="0,1", help="comma-separated seeds")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="KEY=VALUE, repeatable")
    parser.add_argument("--candidates", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--out", type=Path, default=Path("bench-out/render_shapes"))
    args = parser.parse_args()

    if args.prompts == "held-out":
        prompts = held_out_prompts(args.per_shape or 10)
    else:
        prompts = tuning_prompts(args.per_shape or 3)
    seeds = [int(s) for s in args.seeds.split(",")]
    name = Path(args.preset).stem
    jobs = [
        (p, seed, args.preset, args.overrides, args.out / name / f"{p.colour}-{p.shape}-{p.background}-{seed}", args.candidates)
        for p in prompts
        for seed in seeds
    ]
    started = time.perf_counter()
    context = get_context("spawn")
    with ProcessPoolExecutor(args.workers, mp_context=context, initializer=_start, initargs=(args.threads,)) as pool:
        rows = []
        for row in pool.map(_render, jobs):
            rows.append(row)
            print(f"{row['prompt'].text:44s} seed {row['seed']}  {'PASS' if row['passed'] else 'fail'}  "
                  f"{row['seconds']:5.1f} s  {row['reason']}", flush=True)
    wall = time.perf_counter() - started

    by_shape: dict[str, list[bool]] = defaultdict(list)
    for row in rows:
        by_shape[row["prompt"].shape].append(row["passed"])
    print(f"\npreset {args.preset} {' '.join(args.overrides)} on the {args.prompts} set, seeds {args.seeds}")
    print(f"{'shape':10s} passed")
    for shape, results in by_shape.items():
        print(f"{shape:10s} {sum(results):3d}/{len(results):<3d} {sum(results) / len(results):6.1%}")
    passed = sum(r["passed"] for r in rows)
    mean_s = sum(r["seconds"] for r in rows) / len(rows)
    print(f"{'all':10s} {passed:3d}/{len(rows):<3d} {passed / len(rows):6.1%}")
    print(f"{mean_s:.1f} s per render ({args.threads} torch thread(s) per worker, {args.workers} workers on "
          f"{os.cpu_count()} cores; {wall:.0f} s wall for {len(rows)} renders)")
    if args.candidates > 1:
        first = sum(r["passed"] for r in rows)
        rnd = random.Random(0)
        random_pick = sum(rnd.choice(r["candidate_passes"]) for r in rows if r["candidate_passes"])
        any_pass = sum(any(r["candidate_passes"]) for r in rows)
        share = sum(sum(r["candidate_passes"]) / len(r["candidate_passes"]) for r in rows if r["candidate_passes"])
        print(f"best-of-{args.candidates}: CLIP's first pick passes {first}/{len(rows)}, a random pick "
              f"{random_pick}/{len(rows)} (expected {share:.1f}), at least one candidate passes {any_pass}/{len(rows)}")
    sheet = args.out / f"{name}-{args.prompts}.png"
    sheet.parent.mkdir(parents=True, exist_ok=True)
    per_row = len(seeds) * 10
    images = [r["image"] for r in rows]
    lines = [torch.cat(images[i : i + per_row], dim=-1) for i in range(0, len(images), per_row)]
    width = max(line.shape[-1] for line in lines)
    lines = [torch.nn.functional.pad(line, (0, width - line.shape[-1])) for line in lines]
    to_pil(torch.cat(lines, dim=-2)).save(sheet)
    print(f"sheet: {sheet}")


if __name__ == "__main__":
    main()
