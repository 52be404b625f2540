"""The zoo's trainers for ``pixforge zoo train tiny-clip`` and ``tiny-clip-robust``.

Every plugin registers its own trainers through the ``register_trainers`` hook. A trainer takes ``minutes``,
``seed`` and ``out`` (None: the plugin's shipped weights folder) and returns the folder it wrote; it imports
its heavy modules only when it runs, so the CLI stays fast.
"""

from __future__ import annotations

from pathlib import Path


def train_tiny_clip(minutes: float, seed: int, out: Path | None) -> Path:
    """The tiny CLIP (see ``pixforge_zoo.train_clip``), logging to stdout."""
    from .train_clip import train_tiny_clip as run

    return run(minutes=minutes, seed=seed, out=out, log=lambda line: print(line, flush=True))


def train_tiny_clip_robust(minutes: float, seed: int, out: Path | None) -> Path:
    """Adversarial fine-tuning of the shipped tiny CLIP's image tower with the shipped model's recipe
    (``pixforge_zoo.train_robust.SHIPPED_RECIPE``: mining its own renders in the run's second half)."""
    from .train_robust import SHIPPED_RECIPE
    from .train_robust import train_robust_clip as run

    return run(minutes=minutes, seed=seed, out=out, log=lambda line: print(line, flush=True), **SHIPPED_RECIPE)
