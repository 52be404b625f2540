"""Frames in and out: MP4 and GIF through imageio (its bundled ffmpeg, no system one), or a folder of images.

A stylised clip keeps its input's frame count and timing, so reading a clip returns its frame rate too
(a GIF's frame duration as frames per second; a folder has none and takes the settings' ``fps``).
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..files import ordinary_mode, printable
from ..outputs import load_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".gif")


@dataclass
class Clip:
    """Frames ``[H, W, 3]`` uint8, their rate (None for a folder) and what they came from."""

    frames: list[np.ndarray]
    fps: float | None
    kind: str  # "mp4", "gif" or "frames"


def read_clip(source: str | Path) -> Clip:
    """An MP4, a GIF or a folder of images (sorted by name) → its frames; anything else is one clear line."""
    path = Path(source).expanduser()
    if not path.exists():
        raise ConfigError(f"stylize input '{printable(path)}': no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise ConfigError(f"stylize input '{printable(path)}': no images in it ({', '.join(IMAGE_SUFFIXES)})")
        frames = [np.asarray(load_image(p, "stylize frame").convert("RGB")) for p in files]
        if len({f.shape for f in frames}) > 1:
            raise ConfigError(f"stylize input '{printable(path)}': its images are not all the same size")
        return Clip(frames, None, "frames")
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ConfigError(f"stylize input '{printable(path)}': give an .mp4, a .gif or a folder of images")
    import imageio.v3 as iio

    try:
        meta = iio.immeta(path)
        stack = iio.imread(path, index=None)
    except Exception as exc:  # noqa: BLE001 - imageio raises many kinds for a damaged file
        raise ConfigError(f"stylize input '{printable(path)}': cannot read it as a video ({type(exc).__name__})") from None
    if stack.ndim == 3:  # one frame
        stack = stack[None]
    frames = [np.ascontiguousarray(frame[..., :3]) if frame.ndim == 3 else np.stack([frame] * 3, -1) for frame in stack]
    if not frames:
        raise ConfigError(f"stylize input '{printable(path)}': it has no frames")
    if suffix == ".gif":
        duration = float(meta.get("duration") or 100)
        return Clip(frames, 1000.0 / duration, "gif")
    return Clip(frames, float(meta.get("fps") or 0) or None, "mp4")


def gif_duration(fps: float) -> int:
    """A GIF's frame duration in ms for ``fps``: GIFs count in hundredths of a second, so 12 fps is 80 ms."""
    return 10 * max(1, round(100 / fps))


def write_video(frames: Sequence[np.ndarray | Path], path: Path, fps: float) -> Path:
    """``frames`` (arrays or image files) → ``path`` (.mp4 or .gif), written atomically."""
    import imageio.v3 as iio

    arrays = np.stack([np.asarray(load_image(f, "frame").convert("RGB")) if isinstance(f, Path) else f for f in frames])
    path.parent.mkdir(parents=True, exist_ok=True)
    # a temporary name with the right suffix: ffmpeg picks its container by it
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        if path.suffix == ".gif":
            iio.imwrite(tmp, arrays, duration=gif_duration(fps), loop=0)
        else:
            # H.264 in yuv420p needs even sides: an odd one gets its last row or column repeated
            height, width = arrays.shape[1:3]
            even = np.pad(arrays, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge")
            iio.imwrite(tmp, even, fps=fps, codec="libx264", macro_block_size=1)
        if tmp.stat().st_size == 0:
            raise OSError(errno.EIO, "the video encoder wrote nothing", str(path))
        os.chmod(tmp, ordinary_mode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
