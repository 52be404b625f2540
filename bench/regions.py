"""Do region prompts and --transparent do what they say? Prints measured figures, no pass/fail.

Regions: a render with two region prompts (``left=a red background``, ``right=a blue background`` by default:
the tiny world's words for a field of one colour) and no global prompt;
each pixel is labelled with its nearest colour of the tiny world's palette (``pixforge_zoo.judge``) and the
bench prints, per render, the share of the left half's pixels nearest the left colour and of the right
half's nearest the right colour (chance is about 1 / 10), and the same shares for the swapped colours
(how much of each half went the other region's way).

Transparency: a ``--transparent`` render of one prompt; prints the mean alpha and the share of pixels more
than half opaque, beside the coverage asked for, and the share of the opaque and of the clear pixels whose
colour is the prompt's colour (the subject should be what stays opaque).

    python bench/regions.py                      # regions and pixels presets (transparent: default and
                                                 # pixels), seeds 0-3, 128 px, 1 torch thread
    python bench/regions.py --presets pixels --seeds 0 1 --size 64
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

import pixforge
from pixforge_zoo.judge import colour_labels


def half_shares(image: torch.Tensor, left: str, right: str) -> dict[str, float]:
    """Shares of each half's pixels whose nearest palette colour is ``left`` / ``right``."""
    names, labels = colour_labels(image[0, :3].float())
    width = labels.shape[1]
    halves = {"left": labels[:, : width // 2], "right": labels[:, width - width // 2 :]}
    return {
        f"{half}:{colour}": float((pixels == names.index(colour)).float().mean())
        for half, pixels in halves.items()
        for colour in (left, right)
    }


def run_regions(pipe: pixforge.Pipeline, preset: str, seeds: list[int], size: int, left: str, right: str,
                template: str, min_size: float, out: Path) -> None:
    texts = template.format(left), template.format(right)
    print(f"\nregions  preset={preset}  left={texts[0]!r}  right={texts[1]!r}  {size}x{size}  "
          f"cutouts: random, min_size {min_size}")
    print(f"{'seed':>4}  {'left→' + left:>12}  {'right→' + right:>13}  {'left→' + right:>13}  {'right→' + left:>12}  "
          f"{'s':>5}")
    totals = {"left": 0.0, "right": 0.0}
    for seed in seeds:
        start = time.perf_counter()
        result = pipe.render("", preset=preset, seed=seed, size=size, out=out / f"regions-{preset}-{seed}",
                             overrides=["cutouts.mode=random", f"cutouts.min_size={min_size}"],
                             prompts={"regions": [f"left={texts[0]}", f"right={texts[1]}"]})
        seconds = time.perf_counter() - start
        s = half_shares(result.tensor, left, right)
        totals["left"] += s[f"left:{left}"]
        totals["right"] += s[f"right:{right}"]
        print(f"{seed:>4}  {s[f'left:{left}']:>12.1%}  {s[f'right:{right}']:>13.1%}  {s[f'left:{right}']:>13.1%}  "
              f"{s[f'right:{left}']:>12.1%}  {seconds:>5.1f}")
    n = len(seeds)
    print(f"mean  {totals['left'] / n:>12.1%}  {totals['right'] / n:>13.1%}")


def run_transparent(pipe: pixforge.Pipeline, preset: str, seeds: list[int], size: int, prompt: str,
                    coverage: float, out: Path) -> None:
    print(f"\ntransparent  preset={preset}  prompt={prompt!r}  {size}x{size}  coverage asked={coverage}")
    names = colour_labels(torch.zeros(3, 1, 1))[0]
    colour = next((word for word in prompt.split() if word in names), None)
    print(f"{'seed':>4}  {'mean alpha':>10}  {'alpha>0.5':>9}  {'opaque→' + str(colour):>12}  "
          f"{'clear→' + str(colour):>11}  {'mode':>5}  {'s':>5}")
    for seed in seeds:
        start = time.perf_counter()
        result = pipe.render(prompt, preset=preset, seed=seed, size=size, out=out / f"alpha-{preset}-{seed}",
                             transparency={"enabled": True, "coverage": coverage})
        seconds = time.perf_counter() - start
        alpha = result.tensor[0, 3]
        opaque = alpha > 0.5
        _, labels = colour_labels(result.tensor[0, :3].float())
        named = labels == names.index(colour) if colour else torch.zeros_like(opaque)
        inside = float(named[opaque].float().mean()) if opaque.any() else float("nan")
        outside = float(named[~opaque].float().mean()) if (~opaque).any() else float("nan")
        print(f"{seed:>4}  {float(alpha.mean()):>10.1%}  {float(opaque.float().mean()):>9.1%}  {inside:>12.1%}  "
              f"{outside:>11.1%}  {result.image.mode:>5}  {seconds:>5.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["regions", "pixels"],
                        help="region renders (with random cutouts of --min-size); transparent renders use "
                             "--alpha-presets")
    parser.add_argument("--alpha-presets", nargs="+", default=["default", "pixels"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--left", default="red")
    parser.add_argument("--right", default="blue")
    parser.add_argument("--template", default="a {} background",
                        help="each region's text, its colour filled in (the tiny world's own words for a colour field)")
    parser.add_argument("--min-size", type=float, default=0.2, help="cutouts.min_size for the region renders")
    parser.add_argument("--prompt", default="a red circle", help="the --transparent render's prompt")
    parser.add_argument("--coverage", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", choices=["regions", "transparent"], default=None, help="run one half of the bench")
    parser.add_argument("--out", type=Path, default=None, help="keep the renders here (default: a temporary folder)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch threads {args.threads}, load average {load:.2f} on {os.cpu_count()} cores")
    pipe = pixforge.Pipeline()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        for preset in args.presets if args.only != "transparent" else []:
            run_regions(pipe, preset, args.seeds, args.size, args.left, args.right, args.template, args.min_size, out)
        for preset in args.alpha_presets if args.only != "regions" else []:
            run_transparent(pipe, preset, args.seeds, args.size, args.prompt, args.coverage, out)


if __name__ == "__main__":
    main()
