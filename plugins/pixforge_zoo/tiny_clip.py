"""The shipped tiny CLIP: an open_clip model with a word-level vocabulary of the synthetic world's captions.

A full BPE vocabulary (49,408 tokens) would be most of a tiny model's size; the world's captions use a
few dozen words, so the tokenizer maps each word to one id and every other word to ``<unk>`` (which the
model saw during training, so unknown words weaken a prompt instead of derailing it). Token ids follow
open_clip's convention: the end token has the highest id, because open_clip's text tower pools the
features at ``argmax(token ids)``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from torch import nn

from . import world

PACKAGE_DIR = Path(__file__).parent
MODEL_NAME = "pixforge-tiny-clip"
CONFIG_PATH = PACKAGE_DIR / "model_configs" / f"{MODEL_NAME}.json"
WEIGHTS_DIR = PACKAGE_DIR / "weights" / "tiny-clip"
#: the same model after adversarial fine-tuning of its image tower (``pixforge_zoo.train_robust``)
ROBUST_WEIGHTS_DIR = PACKAGE_DIR / "weights" / "tiny-clip-robust"
ROBUST_MODEL_NAME = "pixforge-tiny-clip-robust"
#: the robust model fine-tuned further on hard negatives mined from its own guided renders
#: (``train_robust --mine``): it draws the prompt more often, at 83 % clean shape accuracy (opt-in)
MINED_WEIGHTS_DIR = PACKAGE_DIR / "weights" / "tiny-clip-mined"
MINED_MODEL_NAME = "pixforge-tiny-clip-mined"
WEIGHTS_FILE = "open_clip_model.safetensors"
CONFIG_FILE = "open_clip_config.json"
VOCAB_FILE = "vocab.json"
MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)
IMAGE_SIZE = 64
CONTEXT_LENGTH = 16

PAD, UNK, SOT, EOT = "<pad>", "<unk>", "<start_of_text>", "<end_of_text>"
#: spellings users type that mean a word of the vocabulary
ALIASES = {"center": "centre", "middle": "centre", "an": "a", "colour": "color", "big": "large", "little": "small"}


def world_words() -> list[str]:
    """Every word the world's caption templates can produce, sorted (the vocabulary's content)."""
    words: set[str] = set()
    for names, template in world.TEMPLATES:
        words.update(w for w in template.split() if not w.startswith("{"))
    for table in (world.SHAPES, world.COLORS, world.SIZES, world.POSITIONS):
        for name in table:
            words.update(name.split())
    return sorted(words)


class WordTokenizer:
    """open_clip's tokenizer interface over a word vocabulary: ``tokenizer(texts, context_length)``.

    Ids: ``<pad>`` = 0 (open_clip's pad id), ``<unk>`` = 1, the words, then ``<start_of_text>`` and
    ``<end_of_text>`` last, so the end token is the highest id in every row.
    """

    def __init__(self, words: Sequence[str], context_length: int = CONTEXT_LENGTH) -> None:
        self.words = list(words)
        tokens = [PAD, UNK, *self.words, SOT, EOT]
        if len(set(tokens)) != len(tokens):
            raise ValueError("the vocabulary has a repeated word or a special token")
        self.encoder = {token: index for index, token in enumerate(tokens)}
        self.decoder = dict(enumerate(tokens))
        self.context_length = context_length
        self.pad_token_id = 0
        self.unk_token_id = 1
        self.sot_token_id = self.encoder[SOT]
        self.eot_token_id = self.encoder[EOT]
        self.vocab_size = len(tokens)

    @staticmethod
    def split(text: str) -> list[str]:
        """Lower-cased words without punctuation, with common aliases mapped to the vocabulary's spelling."""
        return [ALIASES.get(word, word) for word in re.findall(r"[a-z0-9']+", text.lower())]

    def encode(self, text: str) -> list[int]:
        """Word ids of ``text`` (no start/end tokens); unknown words become ``<unk>``."""
        return [self.encoder.get(word, self.unk_token_id) for word in self.split(text)]

    def unknown_words(self, texts: Iterable[str]) -> list[str]:
        """The words of ``texts`` outside the vocabulary, each once, in order of appearance."""
        words = (word for text in texts for word in self.split(text))
        return list(dict.fromkeys(word for word in words if word not in self.encoder))

    def decode(self, ids: Iterable[int]) -> str:
        """Words of ``ids``, leaving out padding and the start/end tokens."""
        skip = {self.pad_token_id, self.sot_token_id, self.eot_token_id}
        return " ".join(self.decoder[int(i)] for i in ids if int(i) not in skip)

    def __call__(self, texts: str | list[str], context_length: int | None = None) -> torch.LongTensor:
        """Texts → ``[N, context_length]`` ids: start, words (truncated), end, padding."""
        if isinstance(texts, str):
            texts = [texts]
        length = context_length or self.context_length
        result = torch.zeros(len(texts), length, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [self.sot_token_id, *self.encode(text)[: length - 2], self.eot_token_id]
            result[row, : len(ids)] = torch.tensor(ids)
        return result  # type: ignore[return-value]

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps({"words": self.words, "context_length": self.context_length}, indent=1))

    @classmethod
    def load(cls, path: Path) -> WordTokenizer:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(data["words"], int(data["context_length"]))


def default_tokenizer() -> WordTokenizer:
    """The tokenizer of the world's vocabulary, as the shipped model was trained with."""
    return WordTokenizer(world_words())


def read_model_config(path: Path = CONFIG_PATH) -> dict:
    """The open_clip model config (``embed_dim``, ``vision_cfg``, ``text_cfg``), bare or open_clip_config layout."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return data.get("model_cfg", data)


def build_model(config: dict | None = None, seed: int = 0) -> nn.Module:
    """An untrained open_clip ``CLIP`` from ``config`` (default: the shipped one), initialised from ``seed``."""
    from open_clip.model import CLIP

    from pixforge.seeding import seeded

    config = read_model_config() if config is None else config
    with seeded(seed):
        return CLIP(**config)


def save_weights(
    model: nn.Module, tokenizer: WordTokenizer, folder: Path, extra: dict | None = None, name: str = MODEL_NAME
) -> Path:
    """Write ``folder`` with fp16 safetensors weights, the open_clip config (+ preprocessing) and the vocab."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    # BatchNorm's step counters are integers: keep them out of the fp16 file
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": "pt", "model": name})
    payload = {
        "model_cfg": read_model_config(),
        "preprocess_cfg": {"size": IMAGE_SIZE, "mean": list(MEAN), "std": list(STD)},
        "pixforge": {"tokenizer": VOCAB_FILE, **(extra or {})},
    }
    (folder / CONFIG_FILE).write_text(json.dumps(payload, indent=2), encoding="utf-8")
    tokenizer.save(folder / VOCAB_FILE)
    return folder


def load_tiny_clip(
    device: str | torch.device = "cpu", weights_dir: Path | None = None
) -> tuple[nn.Module, WordTokenizer, tuple[float, ...], tuple[float, ...], int]:
    """The shipped tiny CLIP, frozen in eval mode: ``(model, tokenizer, mean, std, image_size)``.

    Weights are stored in fp16 (half the size) and converted to fp32 on load. The model takes images
    normalised with ``mean``/``std`` at ``image_size``×``image_size``.
    """
    from safetensors.torch import load_file

    folder = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    if not (folder / WEIGHTS_FILE).is_file():
        raise FileNotFoundError(
            f"no tiny CLIP weights in {folder}; train them with `pixforge zoo train tiny-clip --out {folder}`"
        )
    payload = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    model = build_model(payload["model_cfg"])
    state = {k: v.float() for k, v in load_file(str(folder / WEIGHTS_FILE)).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise RuntimeError(f"tiny CLIP weights do not fit the config: missing {missing}, unexpected {unexpected}")
    model.to(device).eval().requires_grad_(False)
    tokenizer = WordTokenizer.load(folder / VOCAB_FILE)
    pre = payload.get("preprocess_cfg", {})
    mean = tuple(float(v) for v in pre.get("mean", MEAN))
    std = tuple(float(v) for v in pre.get("std", STD))
    return model, tokenizer, mean, std, int(pre.get("size", IMAGE_SIZE))


def normalise(images: torch.Tensor, mean: Sequence[float] = MEAN, std: Sequence[float] = STD) -> torch.Tensor:
    """``[N, 3, H, W]`` images in 0..1 → the model's input scale."""
    m = torch.tensor(mean, dtype=images.dtype, device=images.device)[:, None, None]
    s = torch.tensor(std, dtype=images.dtype, device=images.device)[:, None, None]
    return (images - m) / s
