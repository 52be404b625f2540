"""Train the tiny VQGAN on the zoo's synthetic world: ``python -m pixforge_vqgan.train --minutes 22``.

Reconstruction (L1 + L2) plus the VQ codebook and commitment terms; no LPIPS and no discriminator,
which would need downloads and GPU time. Codes unused for a while restart at random encoder outputs,
so the codebook never collapses to a few entries. Training is time-boxed: the learning rate follows a
cosine over the wall-clock budget, and the weights are written every few minutes and at the end, so a
stopped run still leaves a usable model. Seeds fix the data and the initial weights; how many steps fit
in the budget depends on the CPU, so two runs match in wall time, not bit for bit. It runs on one thread
by default because other work shares the CPU (set ``OMP_WAIT_POLICY=PASSIVE`` before starting Python,
for the same reason). ``bench/vqgan_reconstruction.py`` measures the result on held-out images.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from pixforge.noise import gradient_images
from pixforge_zoo.training import learning_rate, psnr, random_crops, world_batches

from .model import VQAutoencoder
from .quantize import nearest_codes
from .spec import VQSpec
from .saving import save_model

PACKAGE = Path(__file__).parent
NAME = "tiny-vqgan"

#: the tiny model: f8 (64 px → an 8×8 latent), 1024 codes of 16 dims; ~1.1 M parameters
TINY_SPEC = VQSpec(
    kind="vq",
    ddconfig={
        "double_z": False,
        "z_channels": 32,
        "resolution": 64,
        "in_channels": 3,
        "out_ch": 3,
        "ch": 32,
        "ch_mult": [1, 1, 2, 2],
        "num_res_blocks": 1,
        "attn_resolutions": [],
        "dropout": 0.0,
    },
    n_embed=1024,
    embed_dim=16,
)


@dataclass
class TrainOptions:
    """What a training run does; the defaults are the shipped model's."""

    minutes: float = 22.0
    #: stop after this many steps even if time is left (smoke tests)
    steps: int | None = None
    seed: int = 0
    batch: int = 16
    #: most steps train on random crops of this side (4× cheaper at 32 px); None trains on whole images
    crop: int | None = 32
    #: the last part of the budget trains on whole images, so the model also sees image borders
    full_share: float = 0.25
    #: the first part of the budget trains a plain autoencoder; the codebook then starts from its outputs
    warmup_share: float = 0.1
    lr: float = 2e-3
    #: share of each batch replaced by smooth two-colour gradients, so gradient inits encode well
    gradient_share: float = 0.125
    #: a code unused for this many steps restarts at a random encoder output
    restart_every: int = 50
    beta: float = 0.25
    threads: int = 1
    log_every: int = 25
    save_every_minutes: float = 3.0
    out_dir: Path = PACKAGE
    size: int = 64


class CodeRestarter:
    """Counts code use and moves codes unused for a while onto random encoder outputs."""

    def __init__(self, n_codes: int, every: int) -> None:
        self.counts = torch.zeros(n_codes)
        self.every = every
        self.steps = 0

    def update(
        self, codes: torch.Tensor, z: torch.Tensor, codebook: torch.Tensor, optimiser: torch.optim.Optimizer
    ) -> int:
        """Record this step's codes; every ``every`` steps restart the unused ones → how many restarted."""
        self.counts += torch.bincount(codes.flatten(), minlength=len(self.counts)).float()
        self.steps += 1
        if self.steps % self.every:
            return 0
        dead = (self.counts == 0).nonzero().flatten()
        self.counts.zero_()
        restart(dead, z, codebook, optimiser)
        return len(dead)


def restart(indices: torch.Tensor, z: torch.Tensor, codebook: torch.Tensor, optimiser: torch.optim.Optimizer) -> None:
    """Move the codes ``indices`` onto random vectors of ``z`` (slightly jittered) and clear their Adam state."""
    if len(indices) == 0:
        return
    vectors = z.detach().permute(0, 2, 3, 1).reshape(-1, z.shape[1])
    picks = vectors[torch.randint(len(vectors), (len(indices),))]
    with torch.no_grad():
        codebook[indices] = picks + 0.01 * picks.std() * torch.randn_like(picks)
    state = optimiser.state.get(codebook, {})
    for key in ("exp_avg", "exp_avg_sq"):
        if key in state:
            state[key][indices] = 0


def train(options: TrainOptions, log: Callable[[str], None] = print) -> dict[str, float]:
    """Train the tiny VQGAN and write ``weights/tiny-vqgan.safetensors`` + ``configs/tiny-vqgan.yaml``."""
    torch.set_num_threads(options.threads)
    torch.manual_seed(options.seed)
    spec = TINY_SPEC
    model = VQAutoencoder(spec).train()
    codebook = model.quantize.embedding.weight
    optimiser = torch.optim.Adam(model.parameters(), lr=options.lr)
    restarter = CodeRestarter(spec.n_embed, options.restart_every)
    gen = torch.Generator().manual_seed(options.seed + 1)
    n_params = sum(p.numel() for p in model.parameters())
    log(
        f"tiny-vqgan: {n_params / 1e6:.2f} M parameters, f{spec.factor}, {spec.n_embed} codes × {spec.embed_dim}; "
        f"{options.minutes:g} min budget, batch {options.batch}, {torch.get_num_threads()} thread(s)"
    )

    budget = options.minutes * 60.0
    start = last_save = time.monotonic()
    step, seen, used, quantising = 0, 0, set(), False
    stats: dict[str, float] = {}
    window: list[float] = []
    data = world_batches(options.batch, options.seed, options.size)
    while True:
        elapsed = time.monotonic() - start
        if elapsed >= budget or (options.steps is not None and step >= options.steps):
            break
        progress = elapsed / budget if options.steps is None else max(elapsed / budget, step / options.steps)
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(options.lr, progress)

        images = next(data)
        n_grad = int(round(options.gradient_share * len(images)))
        if n_grad:
            images[:n_grad] = gradient_images(n_grad, options.size, options.size, gen)
        if options.crop and progress < 1.0 - options.full_share:
            images = random_crops(images, options.crop, gen)
        z = model.quant_conv(model.encoder(images * 2 - 1))
        if not quantising and progress >= options.warmup_share:
            quantising = True
            restart(torch.arange(spec.n_embed), z, codebook, optimiser)  # the codebook starts from real outputs
            log(f"step {step}: quantising from now on")
        codes = nearest_codes(z, codebook)
        z_q = F.embedding(codes, codebook).permute(0, 3, 1, 2)
        if quantising:
            vq_loss = F.mse_loss(z_q, z.detach()) + options.beta * F.mse_loss(z, z_q.detach())
            recon = model.decode(z + (z_q - z).detach())
        else:
            vq_loss = torch.zeros(())
            recon = model.decode(z)
        rec_loss = F.l1_loss(recon, images) + F.mse_loss(recon, images)
        loss = rec_loss + vq_loss
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        restarted = restarter.update(codes, z, codebook, optimiser) if quantising else 0

        step += 1
        seen += len(images)
        used.update(codes.flatten().tolist())
        window.append(psnr(recon.detach(), images))
        if step % options.log_every == 0 or restarted > 32:
            rate = seen / max(time.monotonic() - start, 1e-9)
            lr = optimiser.param_groups[0]["lr"]
            log(
                f"step {step:6d}  {elapsed / 60:5.1f} min  {rate:5.1f} img/s  lr {lr:.2e}  "
                f"loss {loss.item():.4f}  vq {vq_loss.item():.4f}  psnr {sum(window) / len(window):5.2f} dB  "
                f"codes used {len(used)}  restarted {restarted}"
            )
            stats = {"step": step, "psnr": sum(window) / len(window), "codes_used": len(used), "images": seen}
            window.clear()
            used.clear()
        if time.monotonic() - last_save > options.save_every_minutes * 60:
            write(model, options, stats, log)
            last_save = time.monotonic()
    stats.setdefault("step", step)
    stats["minutes"] = (time.monotonic() - start) / 60
    write(model, options, stats, log)
    return stats


def write(model: VQAutoencoder, options: TrainOptions, stats: dict[str, float], log: Callable[[str], None]) -> None:
    """Save the weights (fp16) and the published-layout config under ``options.out_dir``."""
    metadata = {"seed": str(options.seed), **{key: f"{value:g}" for key, value in stats.items()}}
    weights, config = save_model(model, Path(options.out_dir), NAME, metadata)
    log(f"wrote {weights} ({weights.stat().st_size / 1e6:.2f} MB) and {config}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=TrainOptions.minutes, help="wall-clock budget")
    parser.add_argument("--steps", type=int, default=None, help="stop after this many steps")
    parser.add_argument("--seed", type=int, default=TrainOptions.seed)
    parser.add_argument("--batch", type=int, default=TrainOptions.batch)
    parser.add_argument("--lr", type=float, default=TrainOptions.lr)
    parser.add_argument("--threads", type=int, default=TrainOptions.threads)
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=TrainOptions.out_dir,
        help="writes weights/ and configs/ here (default: the installed package)",
    )
    args = parser.parse_args(argv)
    if os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
        print("note: set OMP_WAIT_POLICY=PASSIVE when the CPU is shared")
    options = TrainOptions(
        minutes=args.minutes,
        steps=args.steps,
        seed=args.seed,
        batch=args.batch,
        lr=args.lr,
        threads=args.threads,
        out_dir=args.out_dir,
    )
    train(options, log=lambda line: print(line, flush=True))


if __name__ == "__main__":
    main()
