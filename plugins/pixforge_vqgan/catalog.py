"""Named VQGAN models for the weight registry: the shipped tiny one, and the published checkpoints Pixray
and VQGAN-CLIP use.

Published files are not shipped (0.4–8 GB each): a render fetches them into ``<cache>/vqgan/<name>/``
(``config.yaml`` and ``checkpoint.ckpt``), or a user places them there by hand (``pixforge models path
NAME``). URLs are those of VQGAN-CLIP's ``download_models.sh`` and Pixray's ``vqgan.py``, first choice
first. No checkpoint's SHA-256 is recorded yet (none was verified from a download here); the published
Lightning checkpoints load through an allow-list without one, and a recorded SHA-256 would also let a
checkpoint that needs a full unpickle load without ``trust_checkpoint``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pixforge.weights import WeightEntry, WeightFile

from .spec import Kind

PACKAGE = Path(__file__).parent
KIND = "vqgan"
TINY = "tiny-vqgan"
#: the name used when settings name no model
DEFAULT_MODEL = TINY


@dataclass(frozen=True)
class Published:
    """A published checkpoint: what it is, and where its config and weights can be fetched."""

    name: str
    description: str
    kind: Kind
    #: downsampling factor: canvas sides are rounded to a multiple of it
    factor: int
    codes: int
    config_urls: tuple[str, ...]
    checkpoint_urls: tuple[str, ...]
    #: SHA-256 of the checkpoint file, once verified from a download; a match allows a full unpickle
    sha256: str | None = None
    #: names the same model has in Pixray / VQGAN-CLIP
    aliases: tuple[str, ...] = field(default=())


def _heibox(share: str, config: str = "configs%2Fmodel.yaml", checkpoint: str = "ckpts%2Flast.ckpt") -> tuple[str, str]:
    base = f"https://heibox.uni-heidelberg.de/d/{share}/files/?p=%2F"
    return f"{base}{config}&dl=1", f"{base}{checkpoint}&dl=1"


_IMAGENET_1024 = _heibox("8088892a516d4e3baf92")
_IMAGENET_16384 = _heibox("a7530b09fed84f80a887")
_OPENIMAGES_GUMBEL = _heibox("2e5662443a6b4307b470")
_SFLCKR = _heibox("73487ab6e5314cb5adba", "configs%2F2020-11-09T13-31-51-project.yaml", "checkpoints%2Flast.ckpt")
_MIRROR = "http://mirror.io.community/blob/vqgan"
_PIXRAY_RELEASE = "https://github.com/pixray/pixray/releases/download/v1.7.1"

PUBLISHED: dict[str, Published] = {
    p.name: p
    for p in (
        Published(
            "imagenet_f16_1024",
            "ImageNet VQGAN, f16, 1024 codes (taming-transformers)",
            "vq",
            16,
            1024,
            (_IMAGENET_1024[0], f"{_MIRROR}/vqgan_imagenet_f16_1024.yaml"),
            (_IMAGENET_1024[1], f"{_MIRROR}/vqgan_imagenet_f16_1024.ckpt"),
            aliases=("vqgan_imagenet_f16_1024",),
        ),
        Published(
            "imagenet_f16_16384",
            "ImageNet VQGAN, f16, 16384 codes (the VQGAN-CLIP default)",
            "vq",
            16,
            16384,
            (_IMAGENET_16384[0], f"{_MIRROR}/vqgan_imagenet_f16_16384.yaml"),
            (_IMAGENET_16384[1], f"{_MIRROR}/vqgan_imagenet_f16_16384.ckpt"),
            aliases=("vqgan_imagenet_f16_16384",),
        ),
        Published(
            "openimages_f8_8192",
            "OpenImages Gumbel VQGAN, f8, 8192 codes",
            "gumbel",
            8,
            8192,
            (_OPENIMAGES_GUMBEL[0],),
            (_OPENIMAGES_GUMBEL[1],),
            aliases=("vqgan_gumbel_f8_8192", "openimages_f16_8192", "gumbel_f8_8192"),
        ),
        Published(
            "wikiart_1024",
            "WikiArt VQGAN, f16, 1024 codes",
            "vq",
            16,
            1024,
            (f"{_PIXRAY_RELEASE}/vqgan_wikiart_1024.yaml", f"{_MIRROR}/wikiart.yaml"),
            (f"{_PIXRAY_RELEASE}/vqgan_wikiart_1024.ckpt", f"{_MIRROR}/wikiart.ckpt"),
        ),
        Published(
            "wikiart_16384",
            "WikiArt VQGAN, f16, 16384 codes",
            "vq",
            16,
            16384,
            (
                f"{_PIXRAY_RELEASE}/vqgan_wikiart_16384.yaml",
                "http://eaidata.bmk.sh/data/Wikiart_16384/wikiart_f16_16384_8145600.yaml",
                f"{_MIRROR}/wikiart_16384.yaml",
            ),
            (
                f"{_PIXRAY_RELEASE}/vqgan_wikiart_16384.ckpt",
                "http://eaidata.bmk.sh/data/Wikiart_16384/wikiart_f16_16384_8145600.ckpt",
                f"{_MIRROR}/wikiart_16384.ckpt",
            ),
        ),
        Published(
            "coco",
            "COCO-Stuff transformer's first stage, f16, 8192 codes",
            "vq",
            16,
            8192,
            ("https://dl.nmkd.de/ai/clip/coco/coco.yaml",),
            ("https://dl.nmkd.de/ai/clip/coco/coco.ckpt",),
        ),
        Published(
            "faceshq",
            "FacesHQ transformer's first stage, f16, 1024 codes",
            "vq",
            16,
            1024,
            ("https://drive.google.com/uc?export=download&id=1fHwGx_hnBtC8nsq7hesJvs-Klv-P0gzT",),
            (
                "https://app.koofr.net/content/links/a04deec9-0c59-4673-8b37-3d696fe63a5d/files/get/last.ckpt"
                "?path=%2F2020-11-13T21-41-45_faceshq_transformer%2Fcheckpoints%2Flast.ckpt",
            ),
        ),
        Published(
            "sflckr",
            "S-FLCKR landscapes transformer's first stage, f16, 1024 codes",
            "vq",
            16,
            1024,
            (_SFLCKR[0],),
            (_SFLCKR[1],),
        ),
    )
}

#: the shipped tiny VQGAN, trained on the zoo's synthetic world (``pixforge zoo train tiny-vqgan``)
TINY_CONFIG = PACKAGE / "configs" / f"{TINY}.yaml"
TINY_WEIGHTS = PACKAGE / "weights" / f"{TINY}.safetensors"
#: the file names of a downloaded model in its cache folder ``<cache>/vqgan/<name>/``
CONFIG_FILE = "config.yaml"
CHECKPOINT_FILE = "checkpoint.ckpt"


def published_entry(model: Published) -> WeightEntry:
    """A published model as a registry entry: its config and checkpoint, each with its mirrors in order."""
    return WeightEntry(
        name=model.name,
        kind=KIND,
        description=model.description,
        files=(
            WeightFile(CONFIG_FILE, urls=model.config_urls),
            WeightFile(CHECKPOINT_FILE, urls=model.checkpoint_urls, sha256=model.sha256),
        ),
        extra={"config": CONFIG_FILE, "checkpoint": CHECKPOINT_FILE, "factor": model.factor,
               "codes": model.codes, "quantizer": model.kind},
        aliases=model.aliases,
    )


def tiny_entry() -> WeightEntry:
    """The shipped tiny VQGAN: used in place from the installed package, never downloaded."""
    return WeightEntry(
        name=TINY,
        kind=KIND,
        description="tiny VQGAN trained on pixforge's synthetic shapes world: f8, 1024 codes, 64 px (shipped)",
        files=(WeightFile(TINY_CONFIG.name, shipped=TINY_CONFIG), WeightFile(TINY_WEIGHTS.name, shipped=TINY_WEIGHTS)),
        extra={"config": TINY_CONFIG.name, "checkpoint": TINY_WEIGHTS.name, "factor": 8, "codes": 1024,
               "quantizer": "vq"},
        aliases=("tiny",),
    )


def weight_entries() -> list[WeightEntry]:
    """The entries the plugin registers with ``register_weights``: the tiny one, then the published ones."""
    return [tiny_entry(), *(published_entry(model) for model in PUBLISHED.values())]


def entries_by_name() -> dict[str, WeightEntry]:
    """The plugin's own entries keyed by name: what a model name resolves against without a registry."""
    return {entry.name: entry for entry in weight_entries()}
