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
           "image": result.tensor[0].clone(), "layout": _judge_layout(Path(out), prompt)}
    if candidates > 1:  # every candidate judged: does the CLIP's first pick pass more often than a random one?
        row["candidate_passes"] = [_judge(path, prompt) for path in _candidate_finals(Path(out))]
    return row


def _candidate_finals(folder: Path) -> list[Path]:
    """Each candidate's final.png under ``folder/candidates`` (a batched render's own batch/ run left out)."""
    return sorted(p for p in (folder / "candidates").glob("*/final.png") if p.parent.name != "batch")


def _judge(path: Path, prompt) -> bool:
    from pixforge.outputs import load_image, pil_to_tensor
    from pixforge_zoo.shape_judge import shape_check

    return shape_check(pil_to_tensor(load_image(path)), prompt.shape, prompt.colour, prompt.background).passed


def _judge_layout(out: Path, prompt) -> tuple[bool, int, int] | None:
    """Where a failure starts: (the layout the render started from passes, how many of its candidates
    pass, how many there were), or None for a render without a layout."""
    final = out / "layout" / "final.png"
    if not final.is_file():
        return None
    samples = _candidate_finals(out / "layout")
    return _judge(final, prompt), sum(_judge(p, prompt) for p in samples), len(samples)


def main() -> None:
    from pixforge_zoo.prompt_sets import held_out_prompts, tuning_prompts
    from pixforge_zoo.world import to_pil

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--prompts", choices=("held-out", "tuning"), default="held-out")
    parser.add_argument("--per-shape", type=int, default=None, help="prompts per shape (default: the whole set)")
    parser.add_argument("--shapes", default=None, help="comma-separated shapes to keep (default: all six)")
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
    if args.shapes:
        keep = set(args.shapes.split(","))
        prompts = [p for p in prompts if p.shape in keep]
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
            layout = row["layout"]
            where = "" if layout is None else (
                f"  layout {'PASS' if layout[0] else 'fail'} ({layout[1]}/{layout[2]} candidates pass)")
            print(f"{row['prompt'].text:44s} seed {row['seed']}  {'PASS' if row['passed'] else 'fail'}  "
                  f"{row['seconds']:5.1f} s  {row['reason']}{where}", flush=True)
    wall = time.perf_counter() - started

    by_shape: dict[str, list[bool]] = defaultdict(list)
    for row in rows:
        by_shape[row["prompt"].shape].append(row["passed"])
    print(f"\npreset {args.preset} {' '.join(args.overrides)} on the {args.prompts} set, seeds {args.seeds}")
    print(f"{'shape':10s} passed")
    for shape, results in by_shape.items():
        print(f"{shape:10s} {sum(results):3d}/{len(results):<3d} {sum(results) / len(results):6.1%}")
    passed = sum(r["passed"] for r in rows)
    laid = [r for r in rows if r["layout"] is not None]
    if laid:  # where the failures start: no good candidate, the CLIP picked a wrong one, or the refinement lost it
        failed = [r for r in laid if not r["passed"]]
        none_good = sum(r["layout"][1] == 0 for r in failed)
        wrong_pick = sum(r["layout"][1] > 0 and not r["layout"][0] for r in failed)
        lost = sum(r["layout"][0] for r in failed)
        print(f"layouts: the picked one passes {sum(r['layout'][0] for r in laid)}/{len(laid)}; of the {len(failed)} "
              f"failed renders, "
              f"no candidate passed {none_good}, the CLIP picked a failing one {wrong_pick}, "
              f"the refinement lost a passing layout {lost}")
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
