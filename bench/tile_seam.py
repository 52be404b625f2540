"""Does ``--tile`` make a seamless tile? The wrap-edge difference of a 2×2 tiling against neighbouring pixels'.

Renders prompts of the synthetic world with each preset (the default's tiny VQGAN, the dvae preset's tiny
dVAE) with and without ``--tile``, and for each final.png prints the mean absolute difference across its
wrap edges (last column to first, last row to first: exactly the pixel pairs that meet at the seams of a
2×2 tiling), the mean absolute difference of neighbouring pixels inside it, and their ratio. Target: a
ratio of at most 1.2 with ``--tile``. The last column compares the wrap edge with the neighbouring pixels
that straddle a latent cell's edge (every 8 px: the wrap edge is one), where a decoder's own seams are.
Writes the 2×2 tilings to ``--out``.

    python bench/tile_seam.py                            # 4 prompts, presets default and dvae, 1 torch thread
    python bench/tile_seam.py --presets default --count 6
    python bench/tile_seam.py --presets dvae --set losses.smoothness.weight=3
    python bench/tile_seam.py --presets dvae --tile-set scale=relative --tile-set weight=0.1

The ``shape`` column is the analytic shape-and-colour check (``pixforge_zoo.shape_judge``) of each render:
what a seam setting costs the picture.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from pixforge import Pipeline  # noqa: E402
from pixforge_filters.tile import seam_difference  # noqa: E402
from pixforge_losses.smoothness import total_variation  # noqa: E402


def cell_edges(image: torch.Tensor, cell: int = 8) -> float:
    """Mean |difference| of the neighbouring pixels inside ``image`` that straddle the edge of a ``cell``-px cell."""
    return torch.cat([(image[..., :, cell::cell] - image[..., :, cell - 1 : -1 : cell]).abs().flatten(),
                      (image[..., cell::cell, :] - image[..., cell - 1 : -1 : cell, :]).abs().flatten()]).mean().item()


def seam_figures(image: torch.Tensor) -> tuple[float, float]:
    """``[1, 3, H, W]`` → (mean |difference| across the wrap edges, mean |difference| of neighbouring pixels):
    the tile filter's own measures."""
    return seam_difference(image).item(), (total_variation(image) / 2).item()


def main() -> None:
    from pixforge.outputs import load_image, pil_to_tensor, save_png
    from pixforge_zoo.prompt_sets import tuning_prompts
    from pixforge_zoo.shape_judge import shape_check

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="default,dvae")
    parser.add_argument("--count", type=int, default=4, help="prompts (one per shape, from the tuning set)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="KEY=VALUE, repeatable")
    parser.add_argument("--tile-set", dest="tile_settings", action="append", default=[],
                        help="KEY=VALUE of the tile filter (weight, or a setting such as scale=relative), repeatable")
    parser.add_argument("--out", type=Path, default=Path("bench-out/tile_seam"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipe = Pipeline()
    prompts = tuning_prompts(1)[: args.count]
    tile_overrides = [f"filters.0.{key}" if key.startswith("weight=") else f"filters.0.settings.{key}"
                      for key in args.tile_settings]
    settings = "".join(f"--set {o}, " for o in args.overrides)
    settings += "".join(f"--tile-set {t}, " for t in args.tile_settings)
    print(f"{len(prompts)} prompts, seed {args.seed}, {settings}{torch.get_num_threads()} torch thread(s), "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'preset':<8} {'prompt':<44} {'mode':<6} {'wrap':>6} {'inside':>6} {'ratio':>6} {'s':>5} "
          f"{'vs cell edges':>13} {'shape':>5}")
    ratios: dict[tuple[str, str], list[float]] = {}
    passed: dict[tuple[str, str], int] = {}
    for preset in args.presets.split(","):
        for prompt in prompts:
            for mode in ("plain", "tile"):
                started = time.perf_counter()
                run = args.out / f"{preset}-{prompt.shape}-{mode}"
                overrides = [*args.overrides, *(tile_overrides if mode == "tile" else [])]
                result = pipe.render(prompt.text, preset, seed=args.seed, out=run, overrides=overrides,
                                     **({"tile": True} if mode == "tile" else {}))
                seconds = time.perf_counter() - started
                image = pil_to_tensor(load_image(result.final_path))
                save_png(run / "tiled-2x2.png", image.repeat(1, 1, 2, 2))
                wrap, inside = seam_figures(image)
                ratios.setdefault((preset, mode), []).append(wrap / inside)
                edges = wrap / cell_edges(image)
                verdict = shape_check(image, prompt.shape, prompt.colour, prompt.background)
                passed[(preset, mode)] = passed.get((preset, mode), 0) + verdict.passed
                print(f"{preset:<8} {prompt.text:<44} {mode:<6} {wrap:6.3f} {inside:6.3f} {wrap / inside:6.2f} "
                      f"{seconds:5.1f} {edges:13.2f} {'pass' if verdict.passed else 'fail':>5}")
    for (preset, mode), values in ratios.items():
        print(f"{preset} {mode}: mean ratio {sum(values) / len(values):.2f} (highest {max(values):.2f}), "
              f"shape check passed {passed[(preset, mode)]} of {len(values)}")
    for preset in args.presets.split(","):
        worst = max(ratios[(preset, "tile")])
        print(f"target: ratio at most 1.2 with --tile, preset {preset}: {'met' if worst <= 1.2 else 'missed'} "
              f"(highest {worst:.2f})")


if __name__ == "__main__":
    main()
