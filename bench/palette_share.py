"""Does ``--palette`` keep a render inside its palette? The share of pixels within a small distance of a palette colour.

Renders prompts of the synthetic world with a preset (the default: the tiny VQGAN and the robust tiny CLIP at
128 px) three ways: without a palette, with the palette filter and its ``palette`` loss (``--palette``), and
for each prints the share of final.png's pixels whose RGB distance to the nearest palette colour is at most
``--tolerance`` (0..1 units), the same share for the generator's own picture before the filter (how close
the loss pulls the generator itself), the final CLIP prompt loss and the world's shape check. Target: at
least 95 % of final.png's pixels in the palette.

    python bench/palette_share.py                          # 6 prompts, one per shape, 1 torch thread
    python bench/palette_share.py --palette "black->red\\4,white" --per-shape 2
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from pixforge import Observer, Pipeline, StepState  # noqa: E402


class RawPicture(Observer):
    """Keeps the generator's own picture (before the filters) after the last step."""

    raw: torch.Tensor | None = None

    def on_step(self, state: StepState) -> None:
        if state.step + 1 == state.total_steps:
            with torch.no_grad():
                self.raw = state.generator()[:1].float().cpu()


def share_within(image: torch.Tensor, palette: torch.Tensor, tolerance: float) -> float:
    """Share of the pixels of ``image`` ``[1, 3, H, W]`` within ``tolerance`` (RGB distance) of a palette colour."""
    pixels = image[0].flatten(1).T
    return (torch.cdist(pixels, palette).min(dim=1).values <= tolerance).float().mean().item()


def main() -> None:
    from pixforge.outputs import load_image, pil_to_tensor
    from pixforge_filters.palettes import parse_palette
    from pixforge_zoo.prompt_sets import tuning_prompts
    from pixforge_zoo.shape_judge import shape_check

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--palette", default=None,
                        help="one palette for every prompt (default: the prompt's two colours, black and white)")
    parser.add_argument("--per-shape", type=int, default=1, help="prompts per shape (6 shapes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=0.04, help="RGB distance, 0..1 units (0.04 ≈ 10/255)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench-out/palette_share"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="KEY=VALUE, repeatable")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipe = Pipeline()
    prompts = tuning_prompts(args.per_shape)
    print(f"preset {args.preset}, {len(prompts)} prompts, seed {args.seed}, tolerance {args.tolerance}, "
          f"{torch.get_num_threads()} torch thread(s), load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'prompt':<44} {'palette':<26} {'mode':<8} {'final %':>7} {'raw %':>6} {'clip':>6} {'shape':>5} {'s':>5}")
    totals: dict[str, list[float]] = {"plain": [], "palette": []}
    for prompt in prompts:
        spec = args.palette or f"{prompt.colour},{prompt.background},black,white"
        palette = parse_palette(spec)
        for mode in ("plain", "palette"):
            raw = RawPicture()
            extra = {"palette": spec} if mode == "palette" else {}
            started = time.perf_counter()
            result = pipe.render(prompt.text, args.preset, overrides=args.overrides, seed=args.seed,
                                 out=args.out / f"{prompt.shape}-{prompt.colour}-{mode}", observers=[raw], **extra)
            seconds = time.perf_counter() - started
            final = pil_to_tensor(load_image(result.final_path))
            share = share_within(final, palette, args.tolerance)
            raw_share = share_within(raw.raw, palette, args.tolerance) if raw.raw is not None else float("nan")
            verdict = shape_check(final, prompt.shape, prompt.colour, prompt.background)
            totals[mode].append(share)
            print(f"{prompt.text:<44} {spec:<26} {mode:<8} {100 * share:7.1f} {100 * raw_share:6.1f} "
                  f"{result.losses[-1]['clip_prompt']:6.3f} {'pass' if verdict.passed else 'fail':>5} {seconds:5.1f}")
    for mode, shares in totals.items():
        print(f"{mode}: mean share of final.png pixels in the palette {100 * sum(shares) / len(shares):.1f} % "
              f"(lowest {100 * min(shares):.1f} %)")
    lowest = min(totals["palette"])
    print(f"target: at least 95 % with --palette: {'met' if lowest >= 0.95 else 'missed'} (lowest {100 * lowest:.1f} %)")


if __name__ == "__main__":
    main()
