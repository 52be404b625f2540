"""Named VQGAN models: the shipped tiny one, and the published checkpoints Pixray and VQGAN-CLIP use.

Published files are not shipped (0.4–8 GB each) and are not downloaded yet: a user places them under
the cache folder by hand (``pixforge_vqgan.catalog.cache_dir()``), named ``NAME.yaml`` and ``NAME.ckpt``.
URLs are those of VQGAN-CLIP's ``download_models.sh`` and Pixray's ``vqgan.py``, first choice first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .spec import Kind

PACKAGE = Path(__file__).parent
#: the name used when settings name no model
DEFAULT_MODEL = "tiny"


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

#: the models shipped inside the package: name → (config, weights)
SHIPPED: dict[str, tuple[Path, Path]] = {
    "tiny": (PACKAGE / "configs" / "tiny-vqgan.yaml", PACKAGE / "weights" / "tiny-vqgan.safetensors"),
}
SHIPPED_FACTORS = {"tiny": 8}

ALIASES: dict[str, str] = {alias: p.name for p in PUBLISHED.values() for alias in p.aliases}


def model_names() -> list[str]:
    """Every name ``model`` accepts (aliases aside)."""
    return sorted([*SHIPPED, *PUBLISHED])


def canonical(name: str) -> str:
    """A model name with Pixray / VQGAN-CLIP aliases mapped to ours."""
    return ALIASES.get(name, name)


def known_sha256() -> set[str]:
    """SHA-256s of verified published checkpoints: such files may be fully unpickled."""
    return {p.sha256 for p in PUBLISHED.values() if p.sha256}


def cache_dir() -> Path:
    """Where published VQGAN files go: ``$PIXFORGE_CACHE/vqgan``, else the user cache dir's ``pixforge/vqgan``."""
    from pixforge.weights import cache_root

    return cache_root() / "vqgan"


def published_paths(name: str) -> tuple[Path, Path]:
    """``(NAME.yaml, checkpoint)`` in the cache folder; the checkpoint may be ``.ckpt`` or ``.safetensors``."""
    folder = cache_dir()
    checkpoint = folder / f"{name}.ckpt"
    safetensors = folder / f"{name}.safetensors"
    if not checkpoint.exists() and safetensors.exists():
        checkpoint = safetensors
    return folder / f"{name}.yaml", checkpoint
