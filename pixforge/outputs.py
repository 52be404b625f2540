"""Files a render writes and reads: atomic writes, PNGs that carry their settings, images decoded within a limit.

Which files a run folder holds is ``pixforge.run_folder``.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from collections.abc import Callable
from typing import Any

import torch
import yaml
from PIL import Image, PngImagePlugin

from .errors import ConfigError
from .files import is_regular, ordinary_mode, printable
from .trust import without_trust
from .version import __version__

SETTINGS_KEY = "pixforge:settings"
SEED_KEY = "pixforge:seed"
VERSION_KEY = "pixforge:version"
PROMPT_KEY = "pixforge:prompt"
#: the largest image pixforge decodes (PIL warns from 89 M and refuses from 179 M pixels)
MAX_PIXELS = 64 * 1024 * 1024


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
        os.chmod(tmp, ordinary_mode())  # mkstemp makes 0600; a finished file gets the mode open() would give
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _naming(exc, path) from None


def atomic_write_with(path: Path, write: Callable[[Path], None]) -> None:
    """Let ``write`` fill a temporary file beside ``path``, then rename it into place (for writers that
    take a path, like safetensors'). The file gets the mode ``open()`` would give it (the umask's)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, ordinary_mode())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _naming(exc, path) from None


def atomic_copy(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` through a temporary file beside it: no half-copied file under its name."""
    atomic_write_with(target, lambda tmp: shutil.copyfile(source, tmp))


def _naming(exc: BaseException, path: Path) -> BaseException:
    """An OSError of a write (a full disk says no file name) as one that names the file it was for."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return OSError(exc.errno, exc.strerror or str(exc), str(path))
    return exc


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """``[1, 3, H, W]`` or ``[3, H, W]`` in 0..1 → an 8-bit RGB image (rounded, so it is reproducible); four
    channels (straight colour, then alpha) → an RGBA image."""
    if image.dim() == 4:
        image = image[0]
    if image.shape[0] not in (3, 4):
        raise ValueError(f"an image to save needs 3 (RGB) or 4 (RGBA) channels, got {image.shape[0]}")
    array = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    return Image.fromarray(array.permute(1, 2, 0).cpu().numpy(), "RGBA" if image.shape[0] == 4 else "RGB")


def pil_to_tensor(image: Image.Image, keep_alpha: bool = False) -> torch.Tensor:
    """An image → ``[1, 3, H, W]`` float in 0..1; with ``keep_alpha``, an image that has an alpha band →
    ``[1, 4, H, W]`` (straight colour, then alpha: what ``tensor_to_pil`` writes for four channels)."""
    import numpy as np

    mode = "RGBA" if keep_alpha and "A" in image.getbands() else "RGB"
    array = np.asarray(image.convert(mode), dtype="float32") / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def open_image(path: Path | str, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode a regular image file of at most ``max_pixels``; raises ValueError (or the decoder's error).

    The size is checked from the header before any pixel is decoded, so a decompression bomb costs nothing;
    PIL's own bomb warning is replaced by that one clear limit.
    """
    if not is_regular(path):
        raise ValueError("not a regular file (a FIFO, socket, device or folder)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            opened = Image.open(path)
        except Image.DecompressionBombError:  # PIL's own refusal, far above ours
            raise ValueError(f"more than {max_pixels:,} pixels, the limit") from None
        with opened as img:
            width, height = img.size
            if width * height > max_pixels:
                raise ValueError(f"{width}x{height} is {width * height:,} pixels, over the limit of {max_pixels:,}")
            img.load()
            return img.copy()


def load_image(path: Path | str, what: str = "image") -> Image.Image:
    """Open an image file fully; a missing, odd or unreadable file is a ConfigError naming it."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ConfigError(f"{what} '{printable(path)}': no such file")
    try:
        return open_image(path)
    except Exception as exc:
        why = str(exc) if isinstance(exc, ValueError) else type(exc).__name__
        raise ConfigError(f"{what} '{printable(path)}': cannot read it as an image ({why})") from None


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
    return {SETTINGS_KEY: settings_yaml, SEED_KEY: str(seed), VERSION_KEY: __version__, PROMPT_KEY: prompt}


def read_render_settings(path: Path | str) -> dict[str, Any]:
    """The resolved settings stored in a pixforge PNG, for replaying its render."""
    image = load_image(path, "--from image")
    text = getattr(image, "text", {}) or image.info
    if SETTINGS_KEY not in text:
        raise ConfigError(f"--from image '{path}': it carries no pixforge settings (was it made by pixforge?)")
    try:
        data = yaml.safe_load(text[SETTINGS_KEY])
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"--from image '{printable(path)}': its pixforge settings are not plain YAML ({problem})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--from image '{printable(path)}': its pixforge settings are damaged")
    return without_trust(data, f"--from image '{printable(path)}'")
