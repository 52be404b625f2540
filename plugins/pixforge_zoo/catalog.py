"""The shipped tiny CLIP as a weight-registry entry, so ``pixforge models list`` shows it beside the others.

The files are used in place from the installed package (nothing is downloaded); the clip perceptor loads
them through the ``register_models`` loader (``pixforge_zoo.tiny_clip.load_tiny_clip``).
"""

from __future__ import annotations

from pathlib import Path

from pixforge.weights import WeightEntry, WeightFile

KIND = "clip"


def _vocabulary(folder: Path) -> tuple[str, ...]:
    """The words the shipped weights were trained with (``pixforge models show`` lists them)."""
    from .tiny_clip import VOCAB_FILE, WordTokenizer

    path = folder / VOCAB_FILE
    return tuple(WordTokenizer.load(path).words) if path.is_file() else ()


def _entry(name: str, folder: Path, description: str) -> WeightEntry:
    from . import tiny_clip

    names = (tiny_clip.WEIGHTS_FILE, tiny_clip.CONFIG_FILE, tiny_clip.VOCAB_FILE)
    return WeightEntry(
        name=name,
        kind=KIND,
        description=description,
        files=tuple(WeightFile(file, shipped=folder / file) for file in names),
        preprocess={"image_size": tiny_clip.IMAGE_SIZE, "mean": tiny_clip.MEAN, "std": tiny_clip.STD},
        extra={"weights": tiny_clip.WEIGHTS_FILE, "config": tiny_clip.CONFIG_FILE, "tokenizer": tiny_clip.VOCAB_FILE,
               "vocabulary": _vocabulary(folder)},
    )


def tiny_clip_entry() -> WeightEntry:
    """``pixforge-tiny-clip``: its weights, open_clip config and word vocabulary, with its preprocessing."""
    from . import tiny_clip

    return _entry(tiny_clip.MODEL_NAME, tiny_clip.WEIGHTS_DIR,
                  "tiny CLIP trained on pixforge's synthetic shapes world: word vocabulary, 64 px (shipped)")


def robust_clip_entry() -> WeightEntry:
    """``pixforge-tiny-clip-robust``: the tiny CLIP with an adversarially fine-tuned image tower."""
    from . import tiny_clip

    return _entry(tiny_clip.ROBUST_MODEL_NAME, tiny_clip.ROBUST_WEIGHTS_DIR,
                  "the tiny CLIP with its image tower adversarially fine-tuned: gradients that paint the prompt (shipped)")


def mined_clip_entry() -> WeightEntry:
    """``pixforge-tiny-clip-mined``: the robust tiny CLIP fine-tuned on hard negatives from its own renders."""
    from . import tiny_clip

    return _entry(tiny_clip.MINED_MODEL_NAME, tiny_clip.MINED_WEIGHTS_DIR,
                  "the robust tiny CLIP fine-tuned on its own judged renders: draws the prompt more often, "
                  "83 % clean shape accuracy (shipped, opt-in)")
