"""The shipped tiny CLIP as a weight-registry entry, so ``pixforge models list`` shows it beside the others.

The files are used in place from the installed package (nothing is downloaded); the clip perceptor loads
them through the ``register_models`` loader (``pixforge_zoo.tiny_clip.load_tiny_clip``).
"""

from __future__ import annotations

from pixforge.weights import WeightEntry, WeightFile

KIND = "clip"


def tiny_clip_entry() -> WeightEntry:
    """``pixforge-tiny-clip``: its weights, open_clip config and word vocabulary, with its preprocessing."""
    from . import tiny_clip

    folder = tiny_clip.WEIGHTS_DIR
    names = (tiny_clip.WEIGHTS_FILE, tiny_clip.CONFIG_FILE, tiny_clip.VOCAB_FILE)
    return WeightEntry(
        name=tiny_clip.MODEL_NAME,
        kind=KIND,
        description="tiny CLIP trained on pixforge's synthetic shapes world: word vocabulary, 64 px (shipped)",
        files=tuple(WeightFile(name, shipped=folder / name) for name in names),
        preprocess={"image_size": tiny_clip.IMAGE_SIZE, "mean": tiny_clip.MEAN, "std": tiny_clip.STD},
        extra={"weights": tiny_clip.WEIGHTS_FILE, "config": tiny_clip.CONFIG_FILE, "tokenizer": tiny_clip.VOCAB_FILE},
    )
