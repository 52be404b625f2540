"""Clean and attacked zero-shot accuracy of the tiny CLIP and its adversarially fine-tuned twin.

Usage: python bench/zoo_robustness.py [--n 500] [--steps 10] [--threads 2]
For each model: clean accuracy on held-out world images (targets for the robust one: colour >= 95 %,
background >= 95 %, shape >= 85 %), then accuracy under an untargeted PGD attack at the robust model's
training epsilon and at twice it (its norm, 10 steps, step 2.5·ε/steps, random start).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from pixforge_zoo.evaluate import held_out, zero_shot_accuracy  # noqa: E402
from pixforge_zoo.robustness import attacked_accuracy  # noqa: E402
from pixforge_zoo.tiny_clip import CONFIG_FILE, ROBUST_WEIGHTS_DIR, WEIGHTS_DIR, load_tiny_clip  # noqa: E402

TARGETS = {"color": 0.95, "background": 0.95, "shape": 0.85}
KEYS = ("color", "background", "shape", "all")


def _row(name: str, accuracy: dict[str, float], targets: bool = False) -> str:
    cells = []
    for key in KEYS:
        mark = ""
        if targets and key in TARGETS:
            mark = " ok" if accuracy[key] >= TARGETS[key] else " MISSED"
        cells.append(f"{accuracy[key]:6.1%}{mark:7s}")
    return f"  {name:26s}" + "".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--clean", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--robust", type=Path, default=ROBUST_WEIGHTS_DIR)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    meta = json.loads((args.robust / CONFIG_FILE).read_text(encoding="utf-8"))["pixforge"].get("robust", {})
    norm, epsilon = meta.get("norm", "l2"), float(meta.get("epsilon", 2.0))
    images, scenes = held_out(args.n, args.seed)
    print(f"{args.n} held-out images (seed {args.seed}), {args.threads} thread(s); attack: untargeted PGD, {norm}, "
          f"{args.steps} steps, against the true full caption among all 540")
    print(f"robust model trained with: {meta}")
    print(f"  {'':26s}" + "".join(f"{k:13s}" for k in KEYS))
    for label, folder in (("clean tiny CLIP", args.clean), ("robust tiny CLIP", args.robust)):
        model, tokenizer, mean, std, _ = load_tiny_clip(weights_dir=folder)
        started = time.perf_counter()
        print(f"{label} ({folder})")
        print(_row("clean images", zero_shot_accuracy(model, tokenizer, images, scenes, mean, std), label.startswith("robust")))
        for factor in (1, 2):
            eps = factor * epsilon
            attacked = attacked_accuracy(model, tokenizer, images, scenes, norm, eps, args.steps, mean, std)
            print(_row(f"PGD {norm} eps {eps:g}", attacked))
        print(f"  ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
