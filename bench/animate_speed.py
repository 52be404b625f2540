"""Seconds per frame of ``pixforge animate`` with the default preset at 64 and 128 px.

The first frame is a whole render (the preset's ``steps``); the figure is the frames after it, each a warp,
a fresh start of the generator from the warped frame and ``--steps-per-frame`` steps, with the frame's
build and its PNG included. Prints a table with the threads and the machine's load; nothing is asserted.
Usage: python bench/animate_speed.py [--frames 6] [--steps-per-frame 10] [--threads 1] [--sizes 64,128]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--steps-per-frame", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sizes", default="64,128")
    parser.add_argument("--preset", default="default")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    import pixforge

    pipe = pixforge.Pipeline()
    print(f"preset {args.preset}, {args.steps_per_frame} steps a frame, {args.frames} frames, "
          f"{torch.get_num_threads()} torch thread(s), load before {os.getloadavg()[0]:.2f}")
    print(f"{'size':>6} {'first frame s':>14} {'s/frame':>9} {'min':>7} {'max':>7}  load")
    for size in (int(s) for s in args.sizes.split(",")):
        stamps: list[float] = []
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            pixforge.animate("a red circle on a blue background", args.preset, frames=args.frames,
                             steps_per_frame=args.steps_per_frame, zoom=1.03, rotate=1, size=size, seed=0,
                             video=False, out=Path(tmp) / "run", pipeline=pipe,
                             on_frame=lambda done, total: stamps.append(time.perf_counter()))
        first = stamps[0] - start
        later = [b - a for a, b in zip(stamps, stamps[1:])]
        print(f"{size:>6} {first:>14.2f} {statistics.median(later):>9.3f} {min(later):>7.3f} {max(later):>7.3f}"
              f"  {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
