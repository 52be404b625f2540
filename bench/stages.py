"""A staged render (64 → 128 → 256 px) against a single-stage render at 256 px: wall time, peak memory, CLIP score.

Both spend the same number of steps (the staged one spreads them over its stages, most at 64 px), with the
same preset (default: the default preset), prompt and seed. Each case runs in a fresh process, so its peak
RSS (``getrusage`` ru_maxrss: torch's allocations included, which tracemalloc does not see) is its own; a
``load only`` case gives the floor every case pays for Python, torch and the models. The score is the
preset's CLIP similarity to the prompt (``pixforge.candidates.clip_score``) of the final picture.
Prints a table; nothing is asserted.

Usage: python bench/stages.py [--steps 80] [--split 0.5,0.3,0.2] [--threads 1] [--checkpointing]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CASE = r"""
import json, resource, sys, time, torch
torch.set_num_threads({threads})
import pixforge
from pixforge.candidates import clip_score
pipe = pixforge.Pipeline()
values = {values}
config = pipe.resolve({prompt!r}, {preset!r}, overrides={overrides!r}, seed=0, **values)
context = pipe.context(config, torch.device("cpu"))
perceptors = pipe.perceptors_for(config, context)
generator = pipe.build_component("generator", config.generator, context)  # models loaded before the clock starts
del generator
start = time.perf_counter()
score = None
if {render!r}:
    result = pipe.render({prompt!r}, {preset!r}, out={out!r}, overrides={overrides!r}, seed=0, **values)
    wall = time.perf_counter() - start
    score = clip_score(result.tensor, config, perceptors)
else:
    wall = 0.0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"wall": wall, "peak_mb": peak, "score": score}}))
"""


def run_case(values: dict, overrides: list[str], args: argparse.Namespace, out: str, render: bool = True) -> dict:
    code = CASE.format(threads=args.threads, values=values, prompt=args.prompt, preset=args.preset,
                       overrides=overrides, out=out, render=render)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"bench/stages.py: a case failed:\n{done.stderr.strip().splitlines()[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def stage_steps(total: int, split: list[float]) -> list[int]:
    """``total`` steps shared by the stages in the proportions of ``split`` (each at least 1, summing to total)."""
    steps = [max(1, round(total * part / sum(split))) for part in split]
    steps[0] += total - sum(steps)
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--prompt", default="a red circle on a blue background")
    parser.add_argument("--steps", type=int, default=80, help="total steps of every case (the default preset's)")
    parser.add_argument("--sizes", default="64,128,256", help="the staged render's sizes; the last is the single's")
    parser.add_argument("--split", default="0.5,0.3,0.2", help="share of the steps each stage takes")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cutouts", type=int, default=0, help="override cutouts.count (0: the preset's)")
    parser.add_argument("--checkpointing", action="store_true", help="also run both with decoder checkpointing")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    steps = stage_steps(args.steps, [float(s) for s in args.split.split(",")])
    if len(steps) != len(sizes):
        sys.exit("bench/stages.py: --split needs one share per size in --sizes")
    stages = ",".join(f"{size}:{n}" for size, n in zip(sizes, steps))
    base = ["checkpoint_every=0"] + ([f"cutouts.count={args.cutouts}"] if args.cutouts else [])
    cases = [("load only", {"size": sizes[-1], "steps": 1}, base, False),
             (f"staged {stages}", {"stages": stages}, base, True),
             (f"single {sizes[-1]}:{args.steps}", {"size": sizes[-1], "steps": args.steps}, base, True)]
    if args.checkpointing:
        checked = base + ["generator.settings.checkpointing=true"]
        cases += [(f"staged, checkpointing", {"stages": stages}, checked, True),
                  (f"single, checkpointing", {"size": sizes[-1], "steps": args.steps}, checked, True)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, (name, values, overrides, render) in enumerate(cases):
            rows.append((name, run_case(values, overrides, args, f"{tmp}/{index}", render)))
    load = os.getloadavg()
    print(f"preset {args.preset}, prompt {args.prompt!r}, seed 0, {args.steps} steps a case, torch threads "
          f"{args.threads}, CPU, load average {load[0]:.2f} (cores {os.cpu_count()})")
    print(f"{'case':<34} {'wall s':>8} {'peak RSS MB':>12} {'CLIP score':>11}")
    for name, row in rows:
        score = f"{row['score']:.4f}" if row["score"] is not None else "-"
        wall = f"{row['wall']:.1f}" if row["score"] is not None else "-"
        print(f"{name:<34} {wall:>8} {row['peak_mb']:>12.0f} {score:>11}")
    single = next(row for name, row in rows if name.startswith("single"))
    staged = next(row for name, row in rows if name.startswith("staged"))
    floor = rows[0][1]["peak_mb"]
    print(f"staged / single: wall {staged['wall'] / single['wall']:.2f}x, peak RSS above the load-only floor "
          f"{(staged['peak_mb'] - floor) / max(1e-9, single['peak_mb'] - floor):.2f}x")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"(bench took {time.perf_counter() - started:.0f} s)")
