"""Held-out zero-shot accuracy of the shipped tiny CLIP on the synthetic world.

Usage: python bench/zoo_accuracy.py [--n 1000] [--seed 20261127] [--weights DIR]
Targets: colour >= 95 %, background >= 95 %, shape >= 85 %. Held-out images come from a seed the
trainer never uses (it trains on seed 0's stream and evaluates on seed + 1000003).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from pixforge_zoo.augment import augment, nonsense_images  # noqa: E402
from pixforge_zoo.evaluate import METHOD, full_captions, held_out, image_features, text_features, zero_shot_accuracy  # noqa: E402
from pixforge_zoo.world import render_batch_with_alpha  # noqa: E402
from pixforge_zoo.tiny_clip import WEIGHTS_DIR, WEIGHTS_FILE, load_tiny_clip  # noqa: E402

TARGETS = {"color": 0.95, "background": 0.95, "shape": 0.85}
NAMES = {"color": "shape colour", "background": "background colour", "shape": "shape", "all": "all named"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--weights", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model, tokenizer, mean, std, size = load_tiny_clip(weights_dir=args.weights)
    params = sum(p.numel() for p in model.parameters())
    file_mb = (args.weights / WEIGHTS_FILE).stat().st_size / 1e6
    images, scenes = held_out(args.n, args.seed, size)
    start = time.perf_counter()
    accuracy = zero_shot_accuracy(model, tokenizer, images, scenes, mean, std)
    seconds = time.perf_counter() - start

    print(f"tiny CLIP {args.weights}: {params / 1e6:.2f} M parameters, {file_mb:.2f} MB fp16 safetensors")
    print(f"{args.n} held-out images (seed {args.seed}), {args.threads} thread(s), {seconds:.1f} s")
    print(f"method: {METHOD}")
    for key, name in NAMES.items():
        target = TARGETS.get(key)
        verdict = "" if target is None else f"  (target >= {target:.0%}: {'ok' if accuracy[key] >= target else 'MISSED'})"
        print(f"  {name:<18} {accuracy[key]:6.1%}{verdict}")

    # the same images as a guided render's cutouts show them: crops keeping the shape, warps, jitter, blur, noise
    gen = torch.Generator().manual_seed(args.seed)
    clean, alpha = render_batch_with_alpha(scenes, size, gen)
    views, _ = augment(clean, alpha, gen, crop_p=1.0)
    cut = zero_shot_accuracy(model, tokenizer, views, scenes, mean, std)
    print("cutout views (crop 25-100 % keeping the shape, warp, colour jitter, blur, noise), same method:")
    print("  " + "  ".join(f"{NAMES[k]} {v:.1%}" for k, v in cut.items()))
    short = zero_shot_accuracy(model, tokenizer, images, scenes, mean, std, family="short")
    print("prompts without the background (argmax over 60 'a {colour} {shape}'):")
    print("  " + "  ".join(f"{NAMES[k]} {v:.1%}" for k, v in short.items()))

    # how much better a true image matches its caption than pictures no caption describes
    texts, _ = full_captions()
    text = text_features(model, tokenizer, texts)
    own = (image_features(model, images, mean, std) @ text.T).max(1).values
    junk = (image_features(model, nonsense_images(len(images), size, gen), mean, std) @ text.T).max(1).values
    print(f"best-caption cosine: world images {own.mean():.3f} (5th pct {own.quantile(0.05):.3f}), "
          f"nonsense images (stripes, colour fields, blocks) {junk.mean():.3f} (95th pct {junk.quantile(0.95):.3f})")


if __name__ == "__main__":
    main()
