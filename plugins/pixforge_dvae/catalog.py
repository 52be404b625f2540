"""Named dVAE models for the weight registry: OpenAI's published one, and the tiny one shipped in the wheel.

An entry's ``extra`` says which of its files is the encoder and which the decoder, and its vocabulary.
OpenAI's checksums are not recorded (we never verified a download of them), so its ``.pkl`` files, which
are whole pickled modules, load only with ``trust_checkpoint: true``; record the SHA-256 here once known
and they load without it.
"""

from __future__ import annotations

from pathlib import Path

from pixforge.weights import WeightEntry, WeightFile

PACKAGE = Path(__file__).parent
WEIGHTS = PACKAGE / "weights"
KIND = "dvae"
TINY = "tiny-dvae"
OPENAI = "openai-dvae"
DEFAULT_MODEL = TINY
_OPENAI_CDN = "https://cdn.openai.com/dall-e"


def tiny_files(folder: Path = WEIGHTS) -> tuple[Path, Path, Path]:
    """``(encoder, decoder, hyper-parameters json)`` of the tiny dVAE in ``folder``."""
    return (folder / f"{TINY}-encoder.safetensors", folder / f"{TINY}-decoder.safetensors", folder / f"{TINY}.json")


def weight_entries() -> list[WeightEntry]:
    """The entries the plugin registers with ``register_weights``."""
    encoder, decoder, _ = tiny_files()
    return [
        WeightEntry(
            name=OPENAI,
            kind=KIND,
            description="OpenAI's DALL-E dVAE: 8192 tokens, f8 (pickled modules; trust_checkpoint until checksums are recorded)",
            files=(
                WeightFile("encoder.pkl", urls=(f"{_OPENAI_CDN}/encoder.pkl",), format="pickle"),
                WeightFile("decoder.pkl", urls=(f"{_OPENAI_CDN}/decoder.pkl",), format="pickle"),
            ),
            extra={"encoder": "encoder.pkl", "decoder": "decoder.pkl", "vocab_size": 8192, "factor": 8},
            aliases=("dall-e",),
        ),
        WeightEntry(
            name=TINY,
            kind=KIND,
            description="tiny dVAE trained on pixforge's synthetic shapes world: 512 tokens, f8, 64 px (shipped)",
            files=(
                WeightFile(encoder.name, shipped=encoder),
                WeightFile(decoder.name, shipped=decoder),
            ),
            extra={"encoder": encoder.name, "decoder": decoder.name, "vocab_size": 512, "factor": 8},
        ),
    ]


def entries_by_name() -> dict[str, WeightEntry]:
    """The plugin's entries keyed by name, as ``pixforge.weights.lookup`` takes them."""
    return {entry.name: entry for entry in weight_entries()}
