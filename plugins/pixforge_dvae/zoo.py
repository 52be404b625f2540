"""The ``pixforge zoo train tiny-dvae`` entry: a thin wrapper that imports the training code only when run."""

from __future__ import annotations

from pathlib import Path


def train_tiny_dvae(minutes: float, seed: int, out: Path | None) -> Path:
    """Train the tiny dVAE (see ``pixforge_dvae.train``) into ``out`` (None: the package's weights/) → that folder."""
    from .train import TrainOptions, train
    from .catalog import WEIGHTS

    folder = Path(out) if out is not None else WEIGHTS
    train(TrainOptions(minutes=minutes, seed=seed, out_dir=folder), log=lambda line: print(line, flush=True))
    return folder
