"""The gallery: every run folder under the runs folder, what it holds, and small thumbnails of its image.

Run folders made by ``pixforge render --out``, by sweeps or by the studio all count; the queue adds the
preset and state of the ones the studio made. What a folder's files say is read as data only
(``yaml.safe_load``, JSON, images decoded within a pixel limit).
"""

from __future__ import annotations

import io
import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from pixforge.files import is_regular, printable

from .queue import Job
from .security import NotFound, Roots

#: folders the gallery never shows as runs of their own
SKIPPED = frozenset({"candidates", "frames"})
#: how deep under the runs folder run folders are looked for (sweeps nest one level)
DEPTH = 2
THUMB_SIDE = 160


def is_run_folder(path: Path) -> bool:
    return (path / "settings.yaml").is_file() or (path / "final.png").is_file()


def find_runs(runs: Path, depth: int = DEPTH) -> list[Path]:
    """Run folders under ``runs``, newest first."""
    found: list[Path] = []

    def walk(folder: Path, level: int) -> None:
        try:
            children = [c for c in folder.iterdir() if c.is_dir() and not c.is_symlink()]
        except OSError:
            return
        for child in children:
            if child.name.startswith(".") or child.name in SKIPPED:
                continue
            if is_run_folder(child):
                found.append(child)
            elif level < depth:
                walk(child, level + 1)

    walk(runs, 1)
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def run_name(roots: Roots, path: Path) -> str:
    return path.resolve().relative_to(roots.runs).as_posix()


def run_folder(roots: Roots, name: str) -> Path:
    """The run folder ``name`` (relative to the runs folder) names; NotFound when there is none."""
    path = roots.runs / name
    if ".." in Path(name).parts or not roots.inside(path) or not path.is_dir():
        raise NotFound(f"no run '{printable(name)}' in the runs folder")
    return path.resolve()


def _settings(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load((path / "settings.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _status(path: Path) -> dict[str, Any]:
    try:
        data = json.loads((path / "run.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def describe_run(roots: Roots, path: Path, job: Job | None, detail: bool = False) -> dict[str, Any]:
    """One gallery entry: prompt, seed, preset, status, size, steps, image/thumbnail/video URLs."""
    name = run_name(roots, path)
    url = "/api/runs/" + quote(name)
    settings = _settings(path)
    status = _status(path)
    final = path / "final.png"
    video = next((path / f"video.{ext}" for ext in ("mp4", "gif") if (path / f"video.{ext}").is_file()), None)
    entry: dict[str, Any] = {
        "name": name,
        "prompt": settings.get("prompt", job.prompt if job else None),
        "seed": settings.get("seed"),
        "preset": job.spec.get("preset") if job and isinstance(job.spec.get("preset"), str) else None,
        "status": job.state if job else status.get("status", "unknown"),
        "job": job.id if job else None,
        "size": settings.get("size"),
        "steps": settings.get("steps"),
        "steps_done": status.get("steps_done"),
        "image": f"{url}/final.png" if final.is_file() else None,
        "thumbnail": f"{url}/thumbnail.png" if final.is_file() else None,
        "video": f"{url}/{video.name}" if video else None,
        "modified": path.stat().st_mtime,
    }
    if detail:
        entry["settings"] = settings
        entry["settings_yaml"] = yaml.safe_dump(settings, sort_keys=False) if settings else ""
        entry["run"] = status
    return entry


def list_runs(roots: Roots, jobs: dict[str, Job]) -> list[dict[str, Any]]:
    """Every run folder with its gallery entry (``jobs`` keyed by run folder, as ``JobQueue.by_run_dir``)."""
    return [describe_run(roots, path, jobs.get(str(path))) for path in find_runs(roots.runs)]


class Thumbnails:
    """Small PNGs of images, made once per file version and kept in memory (a bounded cache)."""

    def __init__(self, side: int = THUMB_SIDE, keep: int = 512) -> None:
        self.side = side
        self.keep = keep
        self._cache: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path) -> bytes:
        from pixforge.outputs import open_image

        if not is_regular(path):
            raise NotFound(f"no image '{printable(path.name)}'")
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        try:
            image = open_image(path).convert("RGB")
        except Exception as exc:  # noqa: BLE001  an unreadable image has no thumbnail
            raise NotFound(f"'{printable(path.name)}' cannot be read as an image ({type(exc).__name__})") from None
        image.thumbnail((self.side, self.side), resample=3)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        data = buffer.getvalue()
        with self._lock:
            self._cache[key] = data
            while len(self._cache) > self.keep:
                self._cache.popitem(last=False)
        return data
