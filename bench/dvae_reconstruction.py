"""Held-out reconstruction quality of the shipped tiny dVAE: PSNR and token use on unseen world images.

    python bench/dvae_reconstruction.py [--n 500] [--seed 12345] [--threads 1] [--grid out.png]

The images come from the zoo's synthetic world with a seed the training never used (it trains on seed 0);
each goes image → argmax tokens → image.
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default="tiny-dvae")
    parser.add_argument("--grid", default=None, help="also write originals above reconstructions to this PNG")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from pixforge_dvae.evaluate import reconstruction, reconstruction_grid
    from pixforge_dvae.loading import load_dvae, resolve

    model = load_dvae(resolve(args.model, None, None))
    params = sum(p.numel() for p in model.parameters())
    start = time.perf_counter()
    result = reconstruction(model, n=args.n, seed=args.seed)
    seconds = time.perf_counter() - start
    print(f"model {args.model}: dall-e Encoder/Decoder, f8, {model.vocab_size} tokens, {params / 1e6:.2f} M params")
    print(f"{result.images} held-out world images (seed {args.seed}), {args.threads} thread(s), {seconds:.1f} s")
    print(f"PSNR: {result.psnr:.2f} dB (of the mean MSE); per image mean {result.psnr_per_image:.2f} dB")
    print(f"tokens: {result.tokens_used}/{result.vocab_size} used, perplexity {result.perplexity:.0f}")
    if args.grid:
        from pixforge_zoo.world import to_pil

        to_pil(reconstruction_grid(model, seed=args.seed)).save(args.grid)
        print(f"wrote {args.grid}")


if __name__ == "__main__":
    main()
