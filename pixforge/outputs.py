"""The run folder: atomic file writes, PNGs that carry their settings, and reading them back."""

from __future__ import annotations

import datetime as dt
import io
import os
import tempfile
from pathlib import Path
from collections.abc import Callable
from typing import Any

import torch
import yaml
from PIL import Image, PngImagePlugin

from .errors import ConfigError

SETTINGS_KEY = "pixforge:settings"
SEED_KEY = "pixforge:seed"
VERSION_KEY = "pixforge:version"
PROMPT_KEY = "pixforge:prompt"


def new_run_dir(root: Path | str = "pixforge-out", stem: str = "") -> Path:
    """A fresh dated folder under ``root``, never one that exists already."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    label = "".join(c if c.isalnum() else "-" for c in stem.lower())[:40].strip("-")
    base = f"{stamp}-{label}" if label else stamp
    for n in range(1000):
        candidate = root / (base if n == 0 else f"{base}-{n}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise ConfigError(f"{root}: cannot find a free run folder name")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it into place: no half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_with(path: Path, write: Callable[[Path], None]) -> None:
    """Let ``write`` fill a temporary file beside ``path``, then rename it into place (for writers that
    take a path, like safetensors'). The file is readable by all, as an installed weights file must be."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """``[1, 3, H, W]`` or ``[3, H, W]`` in 0..1 → an 8-bit RGB image (rounded, so it is reproducible)."""
    if image.dim() == 4:
        image = image[0]
    array = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    return Image.fromarray(array.permute(1, 2, 0).cpu().numpy(), "RGB")


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """An image → ``[1, 3, H, W]`` float in 0..1."""
    import numpy as np

    array = np.asarray(image.convert("RGB"), dtype="float32") / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def load_image(path: Path | str, what: str = "image") -> Image.Image:
    """Open an image file fully; a missing or unreadable file is a ConfigError naming it."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"{what} '{path}': no such file")
    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except Exception as exc:
        raise ConfigError(f"{what} '{path}': cannot read it as an image ({type(exc).__name__})") from None


def png_bytes(image: Image.Image, text: dict[str, str] | None = None) -> bytes:
    """Encode a PNG with text chunks; the same pixels and text always give the same bytes."""
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_itxt(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def save_png(path: Path, image: torch.Tensor | Image.Image, text: dict[str, str] | None = None) -> None:
    pil = tensor_to_pil(image) if isinstance(image, torch.Tensor) else image
    atomic_write_bytes(path, png_bytes(pil, text))


def render_metadata(settings_yaml: str, seed: int, prompt: str) -> dict[str, str]:
    from . import __version__

    return {SETTINGS_KEY: settings_yaml, SEED_KEY: str(seed), VERSION_KEY: __version__, PROMPT_KEY: prompt}


def read_render_settings(path: Path | str) -> dict[str, Any]:
    """The resolved settings stored in a pixforge PNG, for replaying its render."""
    image = load_image(path, "--from image")
    text = getattr(image, "text", {}) or image.info
    if SETTINGS_KEY not in text:
        raise ConfigError(f"--from image '{path}': it carries no pixforge settings (was it made by pixforge?)")
    data = yaml.safe_load(text[SETTINGS_KEY])
    if not isinstance(data, dict):
        raise ConfigError(f"--from image '{path}': its pixforge settings are damaged")
    return data
