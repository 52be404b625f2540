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
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from pixforge import Pipeline  # noqa: E402


def cell_edges(image: torch.Tensor, cell: int = 8) -> float:
    """Mean |difference| of the neighbouring pixels inside ``image`` that straddle the edge of a ``cell``-px cell."""
    return torch.cat([(image[..., :, cell::cell] - image[..., :, cell - 1 : -1 : cell]).abs().flatten(),
                      (image[..., cell::cell, :] - image[..., cell - 1 : -1 : cell, :]).abs().flatten()]).mean().item()


def seam_figures(image: torch.Tensor) -> tuple[float, float]:
    """``[1, 3, H, W]`` → (mean |difference| across the wrap edges, mean |difference| of neighbouring pixels)."""
    wrap = torch.cat([(image[..., :, 0] - image[..., :, -1]).abs().flatten(),
                      (image[..., 0, :] - image[..., -1, :]).abs().flatten()]).mean()
    inside = torch.cat([(image[..., :, 1:] - image[..., :, :-1]).abs().flatten(),
                        (image[..., 1:, :] - image[..., :-1, :]).abs().flatten()]).mean()
    return wrap.item(), inside.item()


def main() -> None:
    from pixforge.outputs import load_image, pil_to_tensor, save_png
    from pixforge_zoo.prompt_sets import tuning_prompts

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="default,dvae")
    parser.add_argument("--count", type=int, default=4, help="prompts (one per shape, from the tuning set)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="KEY=VALUE, repeatable")
    parser.add_argument("--out", type=Path, default=Path("bench-out/tile_seam"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipe = Pipeline()
    prompts = tuning_prompts(1)[: args.count]
    settings = "".join(f"--set {o}, " for o in args.overrides)
    print(f"{len(prompts)} prompts, seed {args.seed}, {settings}{torch.get_num_threads()} torch thread(s), "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'preset':<8} {'prompt':<44} {'mode':<6} {'wrap':>6} {'inside':>6} {'ratio':>6} {'s':>5} {'vs cell edges':>13}")
    ratios: dict[tuple[str, str], list[float]] = {}
    for preset in args.presets.split(","):
        for prompt in prompts:
            for mode in ("plain", "tile"):
                started = time.perf_counter()
                run = args.out / f"{preset}-{prompt.shape}-{mode}"
                result = pipe.render(prompt.text, preset, seed=args.seed, out=run, overrides=args.overrides,
                                     **({"tile": True} if mode == "tile" else {}))
                seconds = time.perf_counter() - started
                image = pil_to_tensor(load_image(result.final_path))
                save_png(run / "tiled-2x2.png", image.repeat(1, 1, 2, 2))
                wrap, inside = seam_figures(image)
                ratios.setdefault((preset, mode), []).append(wrap / inside)
                edges = wrap / cell_edges(image)
                print(f"{preset:<8} {prompt.text:<44} {mode:<6} {wrap:6.3f} {inside:6.3f} {wrap / inside:6.2f} {seconds:5.1f} "
                      f"{edges:13.2f}")
    for (preset, mode), values in ratios.items():
        print(f"{preset} {mode}: mean ratio {sum(values) / len(values):.2f} (highest {max(values):.2f})")
    for preset in args.presets.split(","):
        worst = max(ratios[(preset, "tile")])
        print(f"target: ratio at most 1.2 with --tile, preset {preset}: {'met' if worst <= 1.2 else 'missed'} "
              f"(highest {worst:.2f})")


if __name__ == "__main__":
    main()
