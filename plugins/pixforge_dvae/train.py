"""Train the tiny dVAE on the zoo's synthetic world: ``python -m pixforge_dvae.train --minutes 25``.

The model is the ``dall-e`` package's own Encoder/Decoder, made small. The objective is DALL-E's:
the encoder's token logits pass through a Gumbel-softmax whose temperature anneals from 1 to 1/16,
the decoder reconstructs the image (L1 + L2 on the mean channels, in the package's mapped pixel range),
and small KL terms (per cell, and of the batch's average token distribution) to the uniform prior keep
the vocabulary in use (without the second, a few dozen tokens take over). The last part of the budget
decodes hard one-hot tokens (straight-through), which is what an argmax round trip decodes.

Training is time-boxed (the learning rate follows a cosine over the wall-clock budget), seeded, and
writes fp16 safetensors + a json of hyper-parameters every few minutes and at the end, so a stopped
run still leaves a usable model. One thread by default: other work shares the CPU (set
``OMP_WAIT_POLICY=PASSIVE`` before starting Python, for the same reason).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pixforge.noise import gradient_images
from pixforge.outputs import atomic_write_with
from pixforge_zoo.training import learning_rate, psnr, random_crops, world_batches

from .catalog import TINY, WEIGHTS, tiny_files
from .model import decoded_pixels, make_decoder, make_encoder, map_image
from .relax import hard_one_hot, temperature_at

#: the shipped model: 0.80 M parameters, 512 tokens, f8 (64 px → 8×8 tokens)
TINY_CONFIG: dict[str, int] = {"n_hid": 32, "n_blk_per_group": 1, "vocab_size": 512, "n_init": 64}


@dataclass
class TrainOptions:
    """What a training run does; the defaults are the shipped model's."""

    minutes: float = 25.0
    #: stop after this many steps even if time is left (smoke tests)
    steps: int | None = None
    seed: int = 0
    #: 16 beat 32 in a 25-minute budget (more steps; same held-out PSNR, better guided renders)
    batch: int = 16
    #: most steps train on random crops of this side (4× cheaper at 32 px); None trains on whole images
    crop: int | None = 32
    #: the last part of the budget trains on whole images, so the model also sees image borders
    full_share: float = 0.3
    lr: float = 2e-3
    temperature_start: float = 1.0
    temperature_end: float = 1.0 / 16
    #: the temperature reaches its end value at this share of the budget
    anneal_share: float = 0.6
    #: the last part of the budget decodes hard one-hot tokens (straight-through); 0: soft to the end
    hard_share: float = 0.15
    #: weight of the KL to the uniform token prior (nats per token, against pixel errors in 0..1)
    kl_weight: float = 1e-3
    #: weight of the KL from the batch's average token distribution to uniform: keeps the whole
    #: vocabulary in use (without it a few dozen tokens take over)
    usage_weight: float = 0.02
    #: share of each batch replaced by smooth two-colour gradients, so gradient init images encode well
    gradient_share: float = 0.125
    threads: int = 1
    log_every: int = 25
    save_every_minutes: float = 3.0
    out_dir: Path = WEIGHTS
    size: int = 64
    config: dict[str, int] = field(default_factory=lambda: dict(TINY_CONFIG))


def kl_to_uniform(logits: torch.Tensor) -> torch.Tensor:
    """Mean KL(q ‖ uniform) of the token distributions ``softmax(logits)`` over cells, in nats."""
    log_q = F.log_softmax(logits, dim=1)
    return (log_q.exp() * log_q).sum(dim=1).mean() + math.log(logits.shape[1])


def usage_kl(logits: torch.Tensor) -> torch.Tensor:
    """KL(mean q ‖ uniform) of the token distribution averaged over every cell of the batch, in nats."""
    mean_q = F.softmax(logits, dim=1).mean(dim=(0, 2, 3))
    return (mean_q * mean_q.clamp_min(1e-12).log()).sum() + math.log(logits.shape[1])


def gumbel_tokens(logits: torch.Tensor, temperature: float, hard: bool, gen: torch.Generator) -> torch.Tensor:
    """A Gumbel-softmax sample of the tokens (one-hot with a straight-through gradient if ``hard``)."""
    uniform = torch.rand(logits.shape, generator=gen).clamp(1e-10, 1 - 1e-10)
    soft = F.softmax((logits - torch.log(-torch.log(uniform))) / temperature, dim=1)
    return soft + (hard_one_hot(soft) - soft).detach() if hard else soft


def annealed(options: TrainOptions, progress: float) -> float:
    """The Gumbel temperature at ``progress`` (0 → 1 of the budget): exponential, then held at the end value."""
    share = max(options.anneal_share, 1e-9)
    return temperature_at(min(progress / share, 1.0), 1, options.temperature_start, options.temperature_end,
                          "exponential")


def reconstruction_loss(stats: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """L1 + L2 between the decoded means and the images, both in the package's mapped pixel range."""
    predicted = torch.sigmoid(stats[:, :3])
    target = map_image(images)
    return F.l1_loss(predicted, target) + F.mse_loss(predicted, target)


def train(options: TrainOptions, log: Callable[[str], None] = print) -> dict[str, float]:
    """Train the tiny dVAE and write its encoder, decoder and hyper-parameters under ``options.out_dir``."""
    torch.set_num_threads(options.threads)
    torch.manual_seed(options.seed)
    config = options.config
    encoder = make_encoder(n_hid=config["n_hid"], n_blk_per_group=config["n_blk_per_group"],
                           vocab_size=config["vocab_size"]).train()
    decoder = make_decoder(n_init=config["n_init"], n_hid=config["n_hid"], n_blk_per_group=config["n_blk_per_group"],
                           vocab_size=config["vocab_size"]).train()
    params = [*encoder.parameters(), *decoder.parameters()]
    optimiser = torch.optim.Adam(params, lr=options.lr)
    gen = torch.Generator().manual_seed(options.seed + 1)
    log(f"{TINY}: {sum(p.numel() for p in params) / 1e6:.2f} M parameters ({config}); {options.minutes:g} min "
        f"budget, batch {options.batch}, {torch.get_num_threads()} thread(s)")

    budget = options.minutes * 60.0
    start = last_save = time.monotonic()
    step, seen = 0, 0
    stats: dict[str, float] = {}
    window: list[float] = []
    used: set[int] = set()
    data = world_batches(options.batch, options.seed, options.size)
    while True:
        elapsed = time.monotonic() - start
        if elapsed >= budget or (options.steps is not None and step >= options.steps):
            break
        progress = elapsed / budget if options.steps is None else max(elapsed / budget, step / options.steps)
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(options.lr, progress)
        temperature = annealed(options, progress)
        hard = options.hard_share > 0 and progress >= 1.0 - options.hard_share

        images = next(data)
        n_grad = int(round(options.gradient_share * len(images)))
        if n_grad:
            images[:n_grad] = gradient_images(n_grad, options.size, options.size, gen)
        if options.crop and progress < 1.0 - options.full_share:
            images = random_crops(images, options.crop, gen)
        logits = encoder(map_image(images))
        stats_out = decoder(gumbel_tokens(logits, temperature, hard, gen))
        rec_loss = reconstruction_loss(stats_out, images)
        kl = kl_to_uniform(logits)
        usage = usage_kl(logits)
        loss = rec_loss + options.kl_weight * kl + options.usage_weight * usage
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

        step += 1
        seen += len(images)
        used.update(logits.detach().argmax(dim=1).flatten().tolist())
        window.append(psnr(decoded_pixels(stats_out.detach()), images))
        if step % options.log_every == 0:
            rate = seen / max(time.monotonic() - start, 1e-9)
            log(f"step {step:6d}  {elapsed / 60:5.1f} min  {rate:5.1f} img/s  lr {optimiser.param_groups[0]['lr']:.2e}  "
                f"tau {temperature:.3f}{' hard' if hard else ''}  loss {loss.item():.4f}  kl {kl.item():.2f}  "
                f"usage kl {usage.item():.2f}  "
                f"psnr {sum(window) / len(window):5.2f} dB  tokens used {len(used)}")
            stats = {"step": step, "train_psnr": sum(window) / len(window), "tokens_used": len(used), "images": seen}
            window.clear()
            used.clear()
        if time.monotonic() - last_save > options.save_every_minutes * 60:
            write(encoder, decoder, options, stats, log)
            last_save = time.monotonic()
    stats.setdefault("step", step)
    stats["minutes"] = (time.monotonic() - start) / 60
    write(encoder, decoder, options, stats, log)
    return stats


def save_fp16(module: nn.Module, path: Path, metadata: dict[str, str]) -> None:
    """``module``'s state dict as fp16 safetensors at ``path``."""
    from safetensors.torch import save_file

    tensors = {key: value.detach().to(torch.float16).contiguous() for key, value in module.state_dict().items()}
    atomic_write_with(path, lambda p: save_file(tensors, str(p), metadata=metadata))


def write(encoder: nn.Module, decoder: nn.Module, options: TrainOptions, stats: dict[str, float],
          log: Callable[[str], None]) -> None:
    """Save encoder and decoder (fp16) and a json of the architecture, options and last statistics."""
    enc_path, dec_path, json_path = tiny_files(Path(options.out_dir))
    metadata = {"seed": str(options.seed), "model": TINY}
    save_fp16(encoder, enc_path, metadata)
    save_fp16(decoder, dec_path, metadata)
    record = {
        "name": TINY,
        "architecture": {"package": "dall-e", **options.config, "factor": 8, "resolution": options.size},
        "training": {key: (str(value) if isinstance(value, Path) else value)
                     for key, value in asdict(options).items() if key not in ("out_dir", "config", "log_every")},
        "stats": stats,
    }
    atomic_write_with(json_path, lambda p: p.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8"))
    size = (enc_path.stat().st_size + dec_path.stat().st_size) / 1e6
    log(f"wrote {enc_path.name} + {dec_path.name} ({size:.2f} MB) and {json_path.name} in {enc_path.parent}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=TrainOptions.minutes, help="wall-clock budget")
    parser.add_argument("--steps", type=int, default=None, help="stop after this many steps")
    parser.add_argument("--seed", type=int, default=TrainOptions.seed)
    parser.add_argument("--batch", type=int, default=TrainOptions.batch)
    parser.add_argument("--lr", type=float, default=TrainOptions.lr)
    parser.add_argument("--kl-weight", type=float, default=TrainOptions.kl_weight)
    parser.add_argument("--usage-weight", type=float, default=TrainOptions.usage_weight)
    parser.add_argument("--threads", type=int, default=TrainOptions.threads)
    parser.add_argument("--out-dir", type=Path, default=TrainOptions.out_dir,
                        help="where the weights go (default: the installed package's weights/)")
    args = parser.parse_args(argv)
    if os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
        print("note: set OMP_WAIT_POLICY=PASSIVE when the CPU is shared")
    options = TrainOptions(minutes=args.minutes, steps=args.steps, seed=args.seed, batch=args.batch, lr=args.lr,
                           kl_weight=args.kl_weight, usage_weight=args.usage_weight, threads=args.threads, out_dir=args.out_dir)
    train(options, log=lambda line: print(line, flush=True))


if __name__ == "__main__":
    main()
