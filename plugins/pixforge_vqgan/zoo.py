"""The ``pixforge zoo train tiny-vqgan`` entry: a thin wrapper that imports the training code only when run."""

from __future__ import annotations

from pathlib import Path


def train_tiny_vqgan(minutes: float, seed: int, out: Path | None) -> Path:
    """Train the tiny VQGAN (see ``pixforge_vqgan.train``) into ``out`` (None: the package) → that folder."""
    from .train import PACKAGE, TrainOptions, train

    folder = Path(out) if out is not None else PACKAGE
    train(TrainOptions(minutes=minutes, seed=seed, out_dir=folder), log=lambda line: print(line, flush=True))
    return folder
