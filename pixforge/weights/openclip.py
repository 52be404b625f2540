"""Names served by open_clip's own pretrained mechanism: they land in the Hugging Face hub cache, where
open_clip (and every other tool using the hub) finds them, instead of in pixforge's cache."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .download import DownloadError
from .entries import WeightEntry

_HF_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache (``HF_HUB_CACHE``, ``HF_HOME``/hub, or ``~/.cache/huggingface/hub``)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def pretrained_cfg(entry: WeightEntry) -> dict[str, Any]:
    """open_clip's table row for the entry's (model, tag); a DownloadError if this open_clip lacks it."""
    from open_clip.pretrained import get_pretrained_cfg

    model, tag = entry.open_clip  # type: ignore[misc]
    cfg = get_pretrained_cfg(model, tag)
    if not cfg:
        raise DownloadError(
            f"model '{entry.name}': the installed open_clip has no pretrained '{tag}' for '{model}'; "
            "upgrade open_clip_torch"
        )
    return cfg


def _hub_file(cfg: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """``(repo_id, file names to look for)`` of an ``hf_hub`` entry, as open_clip splits it."""
    repo_id, filename = os.path.split(cfg.get("hf_hub", ""))
    if not filename:
        return repo_id, _HF_WEIGHTS
    return repo_id, (str(Path(filename).with_suffix(".safetensors")), filename)


def _url_cache_file(cfg: dict[str, Any]) -> Path | None:
    """Where open_clip keeps a weights file it fetches by URL (``~/.cache/clip``), when there is no hub copy."""
    url = cfg.get("url", "")
    return Path("~/.cache/clip").expanduser() / os.path.basename(url.split("?")[0]) if url else None


def cached_file(entry: WeightEntry) -> Path | None:
    """The entry's weights in the hub cache, or None when they are not there (never touches the network)."""
    cfg = pretrained_cfg(entry)
    if cfg.get("file"):
        path = Path(cfg["file"]).expanduser()
        return path if path.is_file() else None
    repo_id, names = _hub_file(cfg)
    if not repo_id:
        by_url = _url_cache_file(cfg)
        return by_url if by_url is not None and by_url.is_file() else None
    from huggingface_hub import try_to_load_from_cache

    for name in names:
        found = try_to_load_from_cache(repo_id, name, cache_dir=str(hub_cache_dir()))
        if isinstance(found, str) and Path(found).is_file():
            return Path(found)
    return None


def expected_location(entry: WeightEntry) -> str:
    """Where the hub keeps the entry's weights (a folder: the hub names files by revision)."""
    cfg = pretrained_cfg(entry)
    repo_id, _ = _hub_file(cfg)
    if not repo_id:
        path = _url_cache_file(cfg)
        return str(path) if path is not None else "open_clip's cache"
    return str(hub_cache_dir() / ("models--" + repo_id.replace("/", "--")))


def ensure(entry: WeightEntry, allow_download: bool) -> Path:
    """The entry's weights file, fetched through open_clip into the hub cache when allowed."""
    found = cached_file(entry)
    if found is not None:
        return found
    model, tag = entry.open_clip  # type: ignore[misc]
    where = expected_location(entry)
    if not allow_download:
        raise DownloadError(
            f"model '{entry.name}': open_clip weights {model}/{tag} are not in the hub cache ({where}) and "
            f"downloads are off; run `pixforge models fetch {entry.name}` with network access, or give a "
            "weights file you downloaded yourself as the perceptor's `pretrained`"
        )
    from open_clip.pretrained import download_pretrained

    try:
        return Path(download_pretrained(pretrained_cfg(entry)))
    except Exception as exc:  # the hub and urllib raise many kinds; the user needs one line
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DownloadError(
            f"model '{entry.name}': could not download open_clip weights {model}/{tag} ({reason}); "
            f"check the network (HF_HUB_OFFLINE must be unset) and run `pixforge models fetch {entry.name}`"
        ) from None
