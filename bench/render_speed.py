"""Steps per second and peak memory of a render at a few canvas sizes and cutout counts.

Each case runs in its own process so its peak RSS is its own. Prints a table; nothing is asserted.
Usage: python bench/render_speed.py [--preset default] [--steps 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CASE = r"""
import json, resource, sys, time, torch
torch.set_num_threads({threads})
import pixforge
from pixforge.components import Observer
class Clock(Observer):
    def __init__(self): self.times = []
    def on_step(self, state): self.times.append(time.perf_counter())
clock = Clock()
pipe = pixforge.Pipeline()
result = pipe.render("a red circle on a blue background", {preset!r}, out={out!r}, steps={steps}, seed=0,
                     size={size}, observers=[clock], overrides=["cutouts.count={cuts}"])
t = clock.times
rate = (len(t) - 1) / (t[-1] - t[0])  # the first step (model warm-up) is left out
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
dev = "cuda" if torch.cuda.is_available() else "cpu"
print(json.dumps({{"rate": rate, "peak_mb": peak, "device": dev}}))
"""


def run_case(preset: str, size: int, cuts: int, steps: int, threads: int, out: str) -> dict:
    code = CASE.format(preset=preset, size=size, cuts=cuts, steps=steps, threads=threads, out=out)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", default="64,128,256")
    parser.add_argument("--cuts", default="8,16,32")
    args = parser.parse_args()
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in [int(s) for s in args.sizes.split(",")]:
            for cuts in [int(c) for c in args.cuts.split(",")]:
                start = time.perf_counter()
                row = run_case(args.preset, size, cuts, args.steps, args.threads, f"{tmp}/{size}-{cuts}")
                row.update(size=size, cuts=cuts, wall=time.perf_counter() - start)
                rows.append(row)
    print(f"preset {args.preset}, {args.steps} steps, torch threads {args.threads}, device {rows[0]['device']}")
    print(f"{'size':>6} {'cutouts':>8} {'steps/s':>9} {'peak RSS MB':>12}")
    for row in rows:
        print(f"{row['size']:>6} {row['cuts']:>8} {row['rate']:>9.2f} {row['peak_mb']:>12.0f}")


if __name__ == "__main__":
    main()
