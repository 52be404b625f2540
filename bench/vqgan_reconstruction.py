"""Held-out reconstruction quality of the shipped tiny VQGAN: PSNR and codebook use on unseen world images.

    python bench/vqgan_reconstruction.py [--n 500] [--seed 12345] [--threads 1]

The images come from the zoo's synthetic world with a seed the training never used (it trains on seed 0).
"""

from __future__ import annotations

import argparse
import math
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default="tiny")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from pixforge_vqgan.loading import load_model, resolve
    from pixforge_zoo.world import batches

    model = load_model(resolve(args.model, None, None), trust=False, device=torch.device("cpu"))
    spec = model.spec
    counts = torch.zeros(spec.n_embed)
    errors: list[float] = []
    start = time.perf_counter()
    with torch.no_grad():
        for images, _ in batches(args.n, args.seed, spec.ddconfig["resolution"], 100):
            recon, codes = model(images)
            counts += torch.bincount(codes.flatten(), minlength=spec.n_embed).float()
            errors += ((recon.clamp(0, 1) - images) ** 2).mean(dim=(1, 2, 3)).tolist()
    seconds = time.perf_counter() - start
    per_image = [10 * math.log10(1 / max(e, 1e-12)) for e in errors]
    overall = 10 * math.log10(1 / max(sum(errors) / len(errors), 1e-12))
    probs = counts / counts.sum()
    perplexity = math.exp(-(probs[probs > 0] * probs[probs > 0].log()).sum().item())
    worst = sorted(per_image)[: max(1, len(per_image) // 20)]
    params = sum(p.numel() for p in model.parameters())
    print(f"model {args.model}: f{spec.factor}, {spec.n_embed} codes, {params / 1e6:.2f} M params")
    print(f"{len(errors)} held-out world images (seed {args.seed}), {args.threads} thread(s), {seconds:.1f} s")
    print(
        f"PSNR: {overall:.2f} dB (of the mean MSE); per image mean {sum(per_image) / len(per_image):.2f} dB, "
        f"worst 5% mean {sum(worst) / len(worst):.2f} dB"
    )
    print(f"codebook: {int((counts > 0).sum())}/{spec.n_embed} codes used, perplexity {perplexity:.0f}")


if __name__ == "__main__":
    main()
