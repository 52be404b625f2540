"""Flicker of ``pixforge stylize``: mean absolute change between consecutive output frames, against the input's.

The input is a red circle gliding over a blue background (one pixel a frame), the prompt names it, and the
clip is stylised with the moving average of the parameters and the temporal loss on (the defaults) and off.
A figure near the input's means the output moves only as much as the input does. Prints a table with the
threads and the machine's load; nothing is asserted.
Usage: python bench/flicker.py [--frames 8] [--size 64] [--steps-per-frame 10] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np


def gliding_circle(frames: int, size: int) -> list[np.ndarray]:
    """A red disc moving right one pixel a frame over blue, ``[H, W, 3]`` uint8 frames."""
    ys, xs = np.mgrid[:size, :size]
    clip = []
    for i in range(frames):
        disc = (xs - (size * 0.35 + i)) ** 2 + (ys - size / 2) ** 2 < (size * 0.22) ** 2
        frame = np.zeros((size, size, 3), np.uint8)
        frame[..., 2] = 200
        frame[disc] = (220, 30, 30)
        clip.append(frame)
    return clip


def flicker(frames: list[np.ndarray]) -> float:
    """Mean absolute change between consecutive frames, in 0..1."""
    stack = np.stack(frames).astype(np.float64) / 255
    return float(np.abs(np.diff(stack, axis=0)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps-per-frame", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    import pixforge
    from pixforge.animation.video import read_clip

    pipe = pixforge.Pipeline()
    source = gliding_circle(args.frames, args.size)
    print(f"{args.frames} frames at {args.size} px, {args.steps_per_frame} steps a frame, default preset, seed "
          f"{args.seed}, {torch.get_num_threads()} torch thread(s), load before {os.getloadavg()[0]:.2f}")
    print(f"input flicker {flicker(source):.4f}")
    cases = {
        "ema 0.7 + temporal 10 (defaults)": {},
        "ema 0.5 + temporal 1": {"ema": 0.5, "temporal": 1.0},
        "ema 0.7 only (temporal 0)": {"temporal": 0.0},
        "temporal 10 only (ema 0)": {"ema": 0.0},
        "neither (ema 0, temporal 0)": {"ema": 0.0, "temporal": 0.0},
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        from PIL import Image

        for i, frame in enumerate(source):
            Image.fromarray(frame).save(folder / f"{i:03d}.png")
        for name, values in cases.items():
            result = pixforge.stylize(folder, "a red circle on a blue background", out=Path(tmp) / name,
                                      steps_per_frame=args.steps_per_frame, seed=args.seed, video=False,
                                      pipeline=pipe, **values)
            out = read_clip(result.run_dir / "frames").frames
            figure = flicker(out)
            print(f"{name:<36} output flicker {figure:.4f}  ({figure / flicker(source):.2f}x the input's)"
                  f"  load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
